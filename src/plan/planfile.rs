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
}

impl PlanFile {
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| format!("cannot encode the plan: {e}"))?;
        // Write beside the target and rename, so a reader never sees half a plan.
        let tmp = path.with_extension("tmp-portfwd");
        std::fs::write(&tmp, text + "\n")
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write the plan to {}: {e}", path.display()))
    }

    pub fn load(path: &Path) -> Result<PlanFile, String> {
        let name = path.display();
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        if meta.len() > MAX_BYTES {
            return Err(format!("{name} is larger than {MAX_BYTES} bytes"));
        }
        let text = std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        let file: PlanFile = serde_json::from_slice(&text)
            .map_err(|e| format!("{name} is not a portfwd plan file: {e}"))?;
        if file.format != FORMAT {
            return Err(format!(
                "{name} has format {:?}; this portfwd reads {FORMAT:?}",
                file.format
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
