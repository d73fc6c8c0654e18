//! `portfwd gen debian`: the files a Debian host needs to bring the config's state up at
//! boot without portfwd, with Debian's own ipvsadm init script, procps, systemd's
//! modules-load and ifupdown with bridge-utils.
//!
//! Every value written comes from a validated type (addresses, interface names checked for
//! white space and control characters, sysctl keys and values restricted to one line), and
//! the one free text, the config's name, is quoted with escapes: nothing in a config can add
//! a line to these files.

use super::File;
use crate::config::diagnostic::quote;
use crate::config::model::{Config, SyncDaemons};
use crate::state::desired;
use crate::state::host;
use crate::state::render::ipvsadm_restore_rules;
use std::fmt::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub const RULES: &str = "etc/ipvsadm.rules";
pub const DEFAULTS: &str = "etc/default/ipvsadm";
pub const SYSCTL: &str = "etc/sysctl.d/60-portfwd.conf";
pub const MODULES: &str = "etc/modules-load.d/portfwd.conf";
pub const INTERFACES_DIR: &str = "etc/network/interfaces.d";
/// Bridge files are `portfwd-BRIDGE`; others in that folder are never touched.
pub const INTERFACE_PREFIX: &str = "portfwd-";

fn header(source: &str, purpose: &str) -> String {
    // No version here: upgrading portfwd alone must not show as drift.
    format!(
        "{}{}: {purpose}.\n# Do not edit: change the config and run `portfwd gen debian` again.\n",
        super::HEADER_START,
        quote(source)
    )
}

/// Every file for `config`, named `source` in the headers. `existing_defaults` is the
/// current `etc/default/ipvsadm`, whose settings other than `AUTO` are kept.
pub fn files(config: &Config, source: &str, existing_defaults: Option<&str>) -> Vec<File> {
    let desired = desired::from_config(config);
    let want = host::from_config(config);
    let mut out = Vec::new();

    let mut rules = header(source, "the IPVS table, loaded by ipvsadm -R at boot");
    rules.push_str(&ipvsadm_restore_rules(&desired.to_table()));
    out.push(File {
        path: RULES.into(),
        content: rules,
    });

    out.push(File {
        path: DEFAULTS.into(),
        content: defaults(existing_defaults, config.sync.as_ref()),
    });

    let mut sysctl = header(source, "kernel settings, applied at boot by systemd-sysctl");
    for s in &want.sysctls {
        let _ = writeln!(sysctl, "{} = {}", s.key, s.value);
    }
    out.push(File {
        path: SYSCTL.into(),
        content: sysctl,
    });

    let mut modules = header(
        source,
        "kernel modules, loaded at boot by systemd-modules-load",
    );
    for m in &want.modules {
        let _ = writeln!(modules, "{m}");
    }
    out.push(File {
        path: MODULES.into(),
        content: modules,
    });

    for b in &want.bridges {
        let mut text = header(
            source,
            &format!("bridge {} for ifupdown with bridge-utils", b.name),
        );
        let family = match b.address.addr {
            IpAddr::V4(_) => "inet",
            IpAddr::V6(_) => "inet6",
        };
        let ports = if b.ports.is_empty() {
            "none".to_string()
        } else {
            b.ports.join(" ")
        };
        let _ = write!(
            text,
            "auto {name}\niface {name} {family} static\n    address {addr}/{len}\n    bridge_ports {ports}\n    bridge_stp off\n    bridge_fd 0\n",
            name = b.name,
            addr = b.address.addr,
            len = b.address.prefix_len,
        );
        out.push(File {
            path: Path::new(INTERFACES_DIR).join(format!("{INTERFACE_PREFIX}{}", b.name)),
            content: text,
        });
    }
    out.extend(super::keepalived::file(config, source));
    out
}

/// Marks a `DAEMON` line portfwd set for `sync`, so that it can be undone when `sync` goes.
const SYNC_MARK: &str =
    "# DAEMON, IFACE and SYNCID: set by portfwd gen debian for the config's sync.";

/// `etc/default/ipvsadm` with `AUTO="true"` (load /etc/ipvsadm.rules at boot) and, with
/// `sync`, `DAEMON="both"`, `IFACE` and `SYNCID` (the init script starts a master and a
/// backup sync daemon) under a mark; once `sync` is gone, a marked `DAEMON` becomes `"none"`.
/// It is the ipvsadm package's conffile: every other line stays as it was.
pub fn defaults(existing: Option<&str>, sync: Option<&SyncDaemons>) -> String {
    let mut set = vec![("AUTO", "true".to_string())];
    let marked = existing.is_some_and(|text| text.lines().any(|l| l == SYNC_MARK));
    match sync {
        Some(s) => {
            set.push(("DAEMON", "both".to_string()));
            set.push(("IFACE", s.interface.clone()));
            set.push(("SYNCID", s.sync_id.to_string()));
        }
        None if marked => set.push(("DAEMON", "none".to_string())),
        None => {}
    }
    let mut out = match existing {
        Some(_) => String::new(),
        None => "# Debian's ipvsadm init script: portfwd gen debian sets AUTO (load /etc/ipvsadm.rules at boot).\n".to_string(),
    };
    let mut found = vec![false; set.len()];
    let put = |out: &mut String, key: &str, value: &str| {
        if key == "DAEMON" && sync.is_some() {
            out.push_str(SYNC_MARK);
            out.push('\n');
        }
        out.push_str(&format!("{key}=\"{value}\"\n"));
    };
    for line in existing.unwrap_or("").lines() {
        if line == SYNC_MARK {
            continue;
        }
        let key = line.trim_start().split_once('=').map(|(k, _)| k.trim_end());
        match set.iter().position(|(k, _)| Some(*k) == key) {
            Some(i) => {
                if !found[i] {
                    put(&mut out, set[i].0, &set[i].1);
                }
                found[i] = true;
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (i, (key, value)) in set.iter().enumerate() {
        if !found[i] {
            put(&mut out, key, value);
        }
    }
    out
}

/// Files under `root` from an earlier run that the config no longer asks for: bridge files
/// of removed bridges, and keepalived.conf once `vrrp` is gone.
pub fn stale(root: &Path, files: &[File]) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(root.join(INTERFACES_DIR));
    let mut stale: Vec<PathBuf> = entries
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|name| name.starts_with(INTERFACE_PREFIX))
        .map(|name| Path::new(INTERFACES_DIR).join(name))
        .filter(|path| !files.iter().any(|f| f.path == *path))
        .collect();
    stale.sort();
    // keepalived.conf from a config that had `vrrp` and has it no more.
    let conf = Path::new(super::keepalived::CONF);
    let generated = std::fs::read_to_string(root.join(conf))
        .is_ok_and(|text| text.starts_with(super::HEADER_START));
    if generated && !files.iter().any(|f| f.path == conf) {
        stale.push(conf.to_path_buf());
    }
    stale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        let loaded = crate::config::check("t".into(), text.as_bytes());
        loaded.config.expect("valid")
    }

    #[test]
    fn generates_every_file_for_the_xen_example() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/xen-dom0.json"),
        )
        .expect("example");
        let files = files(&config(&text), "examples/xen-dom0.json", None);
        let by_path = |p: &str| {
            files
                .iter()
                .find(|f| f.path == Path::new(p))
                .map(|f| f.content.clone())
                .expect(p)
        };
        let rules = by_path(RULES);
        assert!(rules.starts_with("# Generated by portfwd "));
        assert!(rules.ends_with(
            "\n-A -t 203.0.113.10:2222 -s rr\n-a -t 203.0.113.10:2222 -r 10.0.0.2:22 -m -w 1\n"
        ));
        assert!(by_path(DEFAULTS).contains("\nAUTO=\"true\"\n"));
        assert!(by_path(SYSCTL).ends_with("\nnet.ipv4.ip_forward = 1\n"));
        assert!(by_path(MODULES).ends_with("\nip_vs\nip_vs_rr\n"));
        assert!(by_path("etc/network/interfaces.d/portfwd-br1").ends_with(
            "auto br1\niface br1 inet static\n    address 10.0.0.1/24\n    bridge_ports eth1\n    bridge_stp off\n    bridge_fd 0\n"
        ));
    }

    #[test]
    fn the_defaults_file_keeps_every_setting_but_auto() {
        let debian = "# ipvsadm\n\n# if you want to start ipvsadm on boot set this to true\nAUTO=\"false\"\n\n# daemon method (none|master|backup)\nDAEMON=\"master\"\n\n# use interface (eth0,eth1...)\nIFACE=\"eth1\"\n\n# syncid to use\nSYNCID=\"7\"\n";
        let merged = defaults(Some(debian), None);
        assert_eq!(merged, debian.replace("AUTO=\"false\"", "AUTO=\"true\""));
        assert_eq!(
            defaults(Some(&merged), None),
            merged,
            "a second run changes nothing"
        );
        assert_eq!(
            defaults(Some("DAEMON=\"backup\""), None),
            "DAEMON=\"backup\"\nAUTO=\"true\"\n"
        );
        assert!(defaults(None, None).ends_with("\nAUTO=\"true\"\n"));
    }

    #[test]
    fn with_sync_the_defaults_file_starts_both_sync_daemons() {
        let debian = "# ipvsadm\nAUTO=\"false\"\n# daemon method (none|master|backup)\nDAEMON=\"none\"\nIFACE=\"eth0\"\t\n# SYNCID=\"0\"\n";
        let sync = SyncDaemons {
            interface: "br1".into(),
            sync_id: 51,
            max_len: None,
            group: None,
            port: None,
            ttl: None,
        };
        let merged = defaults(Some(debian), Some(&sync));
        assert_eq!(
            merged,
            format!(
                "# ipvsadm\nAUTO=\"true\"\n# daemon method (none|master|backup)\n{SYNC_MARK}\nDAEMON=\"both\"\nIFACE=\"br1\"\n# SYNCID=\"0\"\nSYNCID=\"51\"\n"
            )
        );
        assert_eq!(defaults(Some(&merged), Some(&sync)), merged);
        // Without sync, the DAEMON portfwd set stops the daemons at boot again; one the
        // admin set (no mark) stays.
        assert_eq!(
            defaults(Some(&merged), None),
            "# ipvsadm\nAUTO=\"true\"\n# daemon method (none|master|backup)\nDAEMON=\"none\"\nIFACE=\"br1\"\n# SYNCID=\"0\"\nSYNCID=\"51\"\n"
        );
        assert_eq!(
            defaults(Some("DAEMON=\"both\"\n"), None),
            "DAEMON=\"both\"\nAUTO=\"true\"\n"
        );
    }

    #[test]
    fn files_portfwd_did_not_write_are_foreign() {
        let root = tempfile::tempdir().expect("tempdir");
        let files = files(&config(r#"{"forwards":[]}"#), "portfwd.json", None);
        assert!(super::super::foreign(root.path(), &files).is_empty());
        let etc = root.path().join("etc/default");
        std::fs::create_dir_all(&etc).expect("mkdir");
        std::fs::write(root.path().join(RULES), "-A -t 192.0.2.1:80 -s rr\n").expect("write");
        std::fs::write(root.path().join(DEFAULTS), "AUTO=\"false\"\n").expect("write");
        std::fs::create_dir_all(root.path().join("etc/sysctl.d")).expect("mkdir");
        std::fs::write(root.path().join(SYSCTL), "\n").expect("an empty file is no one's");
        assert_eq!(
            super::super::foreign(root.path(), &files),
            [root.path().join(RULES)]
        );
        std::fs::write(root.path().join(RULES), &files[0].content).expect("write");
        assert!(super::super::foreign(root.path(), &files).is_empty());
        // What Debian's ipvsadm package leaves behind: comments only.
        std::fs::write(
            root.path().join(RULES),
            "# ipvsadm.rules\n#\n# -A -t 192.0.2.1:80 -s rr\n\n",
        )
        .expect("write");
        assert!(super::super::foreign(root.path(), &files).is_empty());
    }

    #[test]
    fn a_hostile_config_name_cannot_add_a_line() {
        let files = files(
            &config(r#"{"forwards":[]}"#),
            "evil\nAUTO=\"false\"\r\n# x",
            None,
        );
        for f in &files {
            assert!(
                f.content.lines().all(|l| !l.starts_with("AUTO=\"false\"")),
                "{}: {}",
                f.path.display(),
                f.content
            );
            assert!(!f.content.contains('\r'));
        }
    }
}
