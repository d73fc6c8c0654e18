//! Whether a file portfwd is about to act on could have been changed by someone else, in the
//! spirit of ssh's StrictModes: writable by every user, writable by a group other than
//! root's, owned by another user, or in a folder every user can change. `apply` (run as
//! root) refuses such a config or plan file; `plan` and `validate` only warn.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The problems with `path`, each a sentence; a symlink is named but not a problem in itself
/// (its target's permissions are what is checked).
pub fn problems(path: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let name = path.display();
    let Ok(meta) = std::fs::metadata(path) else {
        return out; // Reading it will report the error.
    };
    let me = current_uid();
    let mode = meta.mode();
    if mode & 0o002 != 0 {
        out.push(format!(
            "{name} is writable by every user (mode {:o})",
            mode & 0o7777
        ));
    } else if mode & 0o020 != 0 && meta.gid() != 0 {
        out.push(format!(
            "{name} is writable by group {} (mode {:o})",
            meta.gid(),
            mode & 0o7777
        ));
    }
    if meta.uid() != 0 && meta.uid() != me {
        out.push(format!(
            "{name} is owned by another user (uid {})",
            meta.uid()
        ));
    }
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if let Some(dir) = real.parent()
        && let Ok(d) = std::fs::metadata(dir)
    {
        let sticky = d.mode() & 0o1000 != 0;
        if d.mode() & 0o002 != 0 && !sticky {
            out.push(format!(
                "its folder {} can be changed by every user",
                dir.display()
            ));
        }
    }
    out
}

/// `Some(target)` when `path` is a symlink, for a note.
pub fn symlink_target(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    meta.file_type().is_symlink().then(|| {
        std::fs::canonicalize(path).map_or_else(|_| "?".into(), |p| p.display().to_string())
    })
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn world_writable_files_and_folders_are_problems() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("c.json");
        std::fs::write(&file, "{}").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        assert_eq!(problems(&file), Vec::<String>::new());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        assert_eq!(
            problems(&file),
            [format!(
                "{} is writable by every user (mode 666)",
                file.display()
            )]
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        assert_eq!(
            problems(&file),
            [format!(
                "its folder {} can be changed by every user",
                dir.path().canonicalize().expect("dir").display()
            )]
        );
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert!(symlink_target(&link).is_some() && symlink_target(&file).is_none());
    }
}
