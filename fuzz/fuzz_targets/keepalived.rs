//! The keepalived.conf importer on arbitrary text: it never panics, and what it writes
//! validates (the promise `portfwd import` makes). Inputs with `include` are passed over:
//! they would read this host's files.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if text.contains("include") {
        return;
    }
    let Ok(imported) = portfwd::import::keepalived::import_text(&text, "fuzz.conf") else {
        return;
    };
    let imported = portfwd::import::finish(imported);
    let json = serde_json::to_string(&imported.config).expect("a config serializes");
    let loaded = portfwd::config::check("imported".into(), json.as_bytes());
    let errors: Vec<String> = loaded.errors().map(|d| d.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{json}");
});
