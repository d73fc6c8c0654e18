//! Saved plans (`plan --out FILE`, `apply FILE`). A plan file carries the config text it was
//! made from and the fingerprint of the kernel state it was computed against; apply
//! recomputes the plan from both and runs it only when the live state still has that
//! fingerprint and the plan comes out the same, so what runs is exactly what was reviewed.

use serde::{Deserialize, Serialize};
use std::path::Path;

pub const FORMAT: &str = "portfwd-plan/1";

/// The largest plan file apply reads.
const MAX_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    pub format: String,
    pub portfwd_version: String,
    /// The config's name when the plan was made.
    pub config_source: String,
    /// The config's text, byte for byte.
    pub config_text: String,
    pub state_fingerprint: String,
    /// Whether the plan covers the host (modules, sysctls, links); a plan made against a
    /// snapshot covers IPVS only, and so does its apply.
    pub host_planned: bool,
    /// The `plan --json` document, for review; apply checks that it would do the same.
    pub plan: serde_json::Value,
    /// FNV-1a over everything above: a file edited by hand is refused (this detects
    /// accidents, it is no signature).
    #[serde(default)]
    pub checksum: String,
}

/// A JSON object with a config's top-level keys (and none of a plan file's).
fn looks_like_a_config(text: &[u8]) -> bool {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(text) else {
        return false;
    };
    !map.contains_key("format")
        && ["forwards", "public", "bridges"]
            .iter()
            .any(|k| map.contains_key(*k))
}

impl PlanFile {
    /// The checksum of the file's content.
    fn compute_checksum(&self) -> String {
        let text = format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.format,
            self.portfwd_version,
            self.config_source,
            self.config_text,
            self.state_fingerprint,
            self.host_planned,
            self.plan
        );
        super::fingerprint::checksum(text.as_bytes())
    }

    pub fn save(&mut self, path: &Path) -> Result<(), String> {
        self.checksum = self.compute_checksum();
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| format!("cannot encode the plan: {e}"))?;
        crate::config::write_atomic(path, text + "\n")
            .map_err(|e| format!("cannot write the plan to {}: {e}", path.display()))
    }

    pub fn load(path: &Path) -> Result<PlanFile, String> {
        if path.as_os_str() == "-" {
            let mut text = Vec::new();
            std::io::Read::read_to_end(
                &mut std::io::Read::take(std::io::stdin().lock(), MAX_BYTES + 1),
                &mut text,
            )
            .map_err(|e| format!("cannot read the plan from standard input: {e}"))?;
            if text.len() as u64 > MAX_BYTES {
                return Err(format!("<stdin> is larger than {MAX_BYTES} bytes"));
            }
            return Self::from_slice(&text, "<stdin>");
        }
        let name = path.display();
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        if meta.len() > MAX_BYTES {
            return Err(format!("{name} is larger than {MAX_BYTES} bytes"));
        }
        let text = std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        Self::from_slice(&text, &name.to_string())
    }

    /// Reads and checks a plan file's bytes; `name` names it in errors.
    pub fn from_slice(text: &[u8], name: &str) -> Result<PlanFile, String> {
        let file: PlanFile = serde_json::from_slice(text).map_err(|e| {
            if looks_like_a_config(text) {
                format!(
                    "{name} is a portfwd config, not a saved plan: apply it with `portfwd apply -c {name}`"
                )
            } else {
                format!("{name} is not a portfwd plan file: {e}")
            }
        })?;
        if file.format != FORMAT {
            return Err(format!(
                "{name} has format {:?}; this portfwd reads {FORMAT:?}",
                file.format
            ));
        }
        if file.checksum != file.compute_checksum() {
            return Err(format!(
                "{name} was changed after `portfwd plan --out` wrote it (its checksum does not match): make a new plan"
            ));
        }
        if file.portfwd_version != env!("CARGO_PKG_VERSION") {
            return Err(format!(
                "{name} was made by portfwd {}; this is portfwd {}: make the plan again",
                file.portfwd_version,
                env!("CARGO_PKG_VERSION")
            ));
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_given_as_a_plan_is_named_as_such() {
        let e = PlanFile::from_slice(br#"{"public":[],"forwards":[]}"#, "portfwd.json")
            .expect_err("a config");
        assert_eq!(
            e,
            "portfwd.json is a portfwd config, not a saved plan: apply it with `portfwd apply -c portfwd.json`"
        );
        let e = PlanFile::from_slice(b"[1]", "x.json").expect_err("neither");
        assert!(e.starts_with("x.json is not a portfwd plan file: "), "{e}");
    }
}
