//! Whether a file portfwd is about to act on could have been changed by someone else, in the
//! spirit of ssh's StrictModes: writable by every user, writable by a group other than
//! root's, owned by another user, or in a folder every user can change. `apply` (run as
//! root) refuses such a config or plan file; `plan` and `validate` only warn.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The problems with `path`, each a sentence; a symlink is named but not a problem in itself
/// (its target's permissions are what is checked, and both its folder and its target's).
pub fn problems(path: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let name = path.display();
    // A symlink's target is what is checked.
    let Ok(meta) = std::fs::metadata(path) else {
        return out; // Reading it will report the error.
    };
    let symlink = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
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
    // The folder that holds the file, as named (the kernel resolves it as it resolved the
    // file, through symlinked folders too); for a symlink also its target's, since whoever
    // can change either folder can change what is read.
    let named = path.parent().map(|p| match p.as_os_str().is_empty() {
        true => PathBuf::from("."),
        false => p.to_path_buf(),
    });
    let target = symlink
        .then(|| std::fs::canonicalize(path).ok())
        .flatten()
        .and_then(|real| real.parent().map(Path::to_path_buf));
    let mut open_folders: Vec<PathBuf> = Vec::new();
    for dir in named.into_iter().chain(target) {
        let Ok(d) = std::fs::metadata(&dir) else {
            continue;
        };
        let sticky = d.mode() & 0o1000 != 0;
        if d.mode() & 0o002 != 0 && !sticky {
            let shown = std::fs::canonicalize(&dir).unwrap_or(dir);
            if !open_folders.contains(&shown) {
                out.push(format!(
                    "its folder {} can be changed by every user",
                    shown.display()
                ));
                open_folders.push(shown);
            }
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

    #[test]
    fn the_folder_checked_is_the_one_that_holds_the_file() {
        let safe = tempfile::tempdir().expect("tmp");
        let open = tempfile::tempdir().expect("tmp");
        for d in [safe.path(), open.path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        let file = open.path().join("c.json");
        std::fs::write(&file, "{}").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let expected = [format!(
            "its folder {} can be changed by every user",
            open.path().canonicalize().expect("dir").display()
        )];
        // A symlink in a safe folder to a file in an open one: the target's folder.
        let link = safe.path().join("link.json");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert_eq!(problems(&link), expected);
        // A file named through a symlinked folder: the folder it resolves to.
        let folder_link = safe.path().join("conf");
        std::os::unix::fs::symlink(open.path(), &folder_link).expect("symlink");
        assert_eq!(problems(&folder_link.join("c.json")), expected);
        // And a symlink in an open folder to a file in a safe one: anyone could point the
        // link elsewhere.
        let safe_file = safe.path().join("s.json");
        std::fs::write(&safe_file, "{}").expect("write");
        std::fs::set_permissions(&safe_file, std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let open_link = open.path().join("to-safe.json");
        std::os::unix::fs::symlink(&safe_file, &open_link).expect("symlink");
        assert_eq!(problems(&open_link), expected);
        assert_eq!(problems(&safe_file), Vec::<String>::new());
    }
}
