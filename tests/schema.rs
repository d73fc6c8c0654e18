//! The committed JSON Schema is current, describes every field, agrees with the decoder,
//! and an independent validator (the `jsonschema` crate) accepts every example.

use portfwd::config::decode::{
    BACKEND_FIELDS, BRIDGE_FIELDS, CONFIG_FIELDS, FORWARD_FIELDS, PUBLIC_FIELDS, SAFETY_FIELDS,
    SYNC_FIELDS, VRRP_FIELDS,
};
use portfwd::config::schema::{SCHEMA_PATH, schema_json};
use serde_json::Value;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema() -> Value {
    serde_json::from_str(&schema_json()).expect("the schema is JSON")
}

#[test]
fn committed_schema_is_current() {
    let committed = std::fs::read_to_string(root().join(SCHEMA_PATH)).unwrap_or_default();
    assert!(
        committed == schema_json(),
        "{SCHEMA_PATH} is stale; regenerate it with: cargo run -q -- schema > {SCHEMA_PATH}"
    );
}

fn property_names(object: &Value) -> Vec<String> {
    let mut names: Vec<String> = object["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

fn sorted(fields: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn decoder_accepts_exactly_the_schema_fields() {
    let s = schema();
    let defs = &s["$defs"];
    assert_eq!(property_names(&s), sorted(CONFIG_FIELDS));
    assert_eq!(property_names(&defs["Public"]), sorted(PUBLIC_FIELDS));
    assert_eq!(property_names(&defs["Bridge"]), sorted(BRIDGE_FIELDS));
    assert_eq!(property_names(&defs["Forward"]), sorted(FORWARD_FIELDS));
    assert_eq!(property_names(&defs["Safety"]), sorted(SAFETY_FIELDS));
    assert_eq!(property_names(&defs["Vrrp"]), sorted(VRRP_FIELDS));
    assert_eq!(property_names(&defs["SyncDaemons"]), sorted(SYNC_FIELDS));
    assert_eq!(
        property_names(&defs["Backend"]["anyOf"][1]),
        sorted(BACKEND_FIELDS)
    );
}

fn assert_described(value: &Value, path: &str, missing: &mut Vec<String>) {
    if let Some(props) = value.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let has = prop.get("description").is_some();
            if !has {
                missing.push(format!("{path}.{name}"));
            }
            assert_described(prop, &format!("{path}.{name}"), missing);
        }
    }
    for key in ["anyOf", "allOf"] {
        if let Some(items) = value.get(key).and_then(Value::as_array) {
            for item in items {
                assert_described(item, path, missing);
            }
        }
    }
}

#[test]
fn every_field_has_a_description() {
    let s = schema();
    let mut missing = Vec::new();
    assert_described(&s, "", &mut missing);
    for (name, def) in s["$defs"].as_object().expect("$defs") {
        assert_described(def, name, &mut missing);
    }
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:?}"
    );
}

fn examples() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("examples"))
        .expect("examples/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| !p.to_string_lossy().ends_with(".snapshot.json"))
        .collect();
    files.sort();
    files
}

#[test]
fn an_independent_validator_accepts_every_example() {
    let validator = jsonschema::validator_for(&schema()).expect("the schema compiles");
    let files = examples();
    assert!(files.len() >= 4, "expected the four documented examples");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let instance: Value = serde_json::from_str(&text).expect("JSON");
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
}

#[test]
fn the_independent_validator_refuses_structural_mistakes() {
    let validator = jsonschema::validator_for(&schema()).expect("the schema compiles");
    let bad = [
        r#"{"forward": []}"#,
        r#"{"forwards": [{"name": "x"}]}"#,
        r#"{"forwards": [{"name": "x", "listen": "203.0.113.10:22", "protocol": "icmp"}]}"#,
        r#"{"forwards": [{"name": "x", "listen": "203.0.113.10:22", "backends": [{"address": "10.0.0.2", "weight": 70000}]}]}"#,
        r#"{"public": [{"address": "203.0.113.10", "interface": null}]}"#,
        r#"{"vrrp": {"interface": "br1", "router_id": 0, "priority": 100}}"#,
        r#"{"vrrp": {"interface": "br1", "router_id": 51, "priority": 255}}"#,
        r#"{"sync": {"interface": "br1"}}"#,
    ];
    for text in bad {
        let instance: Value = serde_json::from_str(text).expect("JSON");
        assert!(!validator.is_valid(&instance), "the schema accepted {text}");
    }
}
