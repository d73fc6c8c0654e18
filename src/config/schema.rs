//! The published JSON Schema, generated from the model types.

use super::model::Config;
use schemars::transform::Transform;

/// Where the schema is published in the repository.
pub const SCHEMA_PATH: &str = "schema/portfwd.schema.json";

/// The JSON Schema of config format v1, pretty-printed with a final newline.
pub fn schema_json() -> String {
    let mut schema = schemars::schema_for!(Config);
    // Optional fields may be absent but not null: the decoder refuses null.
    schemars::transform::RecursiveTransform(remove_null_type).transform(&mut schema);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Also joins doc-comment line breaks inside a paragraph, which are only source wrapping.
fn remove_null_type(schema: &mut schemars::Schema) {
    if let Some(serde_json::Value::String(text)) = schema.get_mut("description") {
        *text = text
            .split("\n\n")
            .map(|para| para.replace('\n', " "))
            .collect::<Vec<_>>()
            .join("\n\n");
    }
    if let Some(serde_json::Value::Array(options)) = schema.get_mut("anyOf") {
        options.retain(|o| o.get("type").and_then(|t| t.as_str()) != Some("null"));
        if let [only] = options.as_slice() {
            let only = only.clone();
            schema.remove("anyOf");
            schema.insert("allOf".to_string(), serde_json::Value::Array(vec![only]));
        }
    }
    if let Some(serde_json::Value::Array(types)) = schema.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            schema.insert("type".to_string(), only);
        }
    }
}
