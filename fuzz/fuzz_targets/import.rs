//! The importers on arbitrary text, read both as keepalived.conf and as ipvsadm rules: they
//! never panic, and what they write validates (the promise `portfwd import` makes). Inputs
//! with `include` are passed over: they would read this host's files.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portfwd::import::{self, Imported};

fn validates(imported: Imported) {
    let imported = import::finish(imported);
    let json = serde_json::to_string(&imported.config).expect("a config serializes");
    let loaded = portfwd::config::check("imported".into(), json.as_bytes());
    let errors: Vec<String> = loaded.errors().map(|d| d.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{json}");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok((table, _)) = import::ipvsadm::parse(&text, "fuzz.rules") {
        validates(import::from_table(&table, None));
    }
    if !text.contains("include")
        && let Ok(imported) = import::keepalived::import_text(&text, "fuzz.conf")
    {
        validates(imported);
    }
});
