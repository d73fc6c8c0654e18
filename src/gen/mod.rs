//! Generated files: what `portfwd gen` writes, and the drift check that compares them
//! with what is on disk.

pub mod debian;

use similar::TextDiff;
use std::path::{Path, PathBuf};

/// One generated file, its path relative to the output root (e.g. `etc/ipvsadm.rules`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: PathBuf,
    pub content: String,
}

/// A file on disk that differs from what would be generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub path: PathBuf,
    /// A unified diff from the disk (`a/...`, `/dev/null` when missing) to the generated
    /// file (`b/...`, `/dev/null` when the file should not exist).
    pub diff: String,
}

/// Writes `files` under `root`, creating directories, replacing each file atomically
/// (write beside, then rename), and removes `stale` files.
pub fn write(root: &Path, files: &[File], stale: &[PathBuf]) -> Result<(), String> {
    for f in files {
        let target = root.join(&f.path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let tmp = target.with_extension("portfwd-tmp");
        std::fs::write(&tmp, &f.content)
            .and_then(|()| std::fs::rename(&tmp, &target))
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    for path in stale {
        let target = root.join(path);
        std::fs::remove_file(&target)
            .map_err(|e| format!("cannot remove {}: {e}", target.display()))?;
    }
    Ok(())
}

/// The files under `root` that differ from `files`, and the `stale` ones that should not
/// exist, each with a unified diff.
pub fn check(root: &Path, files: &[File], stale: &[PathBuf]) -> Result<Vec<Drift>, String> {
    let mut drift = Vec::new();
    for f in files {
        let target = root.join(&f.path);
        let current = match std::fs::read_to_string(&target) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", target.display())),
        };
        if current.as_deref() == Some(f.content.as_str()) {
            continue;
        }
        let old_name = match current {
            Some(_) => format!("a/{}", f.path.display()),
            None => "/dev/null".to_string(),
        };
        let diff = unified(
            current.as_deref().unwrap_or(""),
            &f.content,
            &old_name,
            &format!("b/{}", f.path.display()),
        );
        drift.push(Drift {
            path: f.path.clone(),
            diff,
        });
    }
    for path in stale {
        let current = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        drift.push(Drift {
            path: path.clone(),
            diff: unified(&current, "", &format!("a/{}", path.display()), "/dev/null"),
        });
    }
    Ok(drift)
}

fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}
