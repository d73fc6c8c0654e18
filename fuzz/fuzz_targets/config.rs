//! The config reader and validator on arbitrary bytes; a config that passes is also
//! normalized, planned against an empty kernel and rendered for Debian.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let loaded = portfwd::config::check("fuzz.json".into(), data);
    if let Some(config) = &loaded.config {
        let desired = portfwd::state::desired::from_config(config);
        let plan = portfwd::plan::diff::diff(&desired, &Default::default());
        assert_eq!(plan.steps.len(), plan.changes.len());
        let files = portfwd::generate::debian::files(config, "fuzz.json", None);
        // Nothing in a config can add a line starting like a setting of the init script.
        for f in &files {
            assert!(!f.content.contains('\r'));
        }
    }
});
