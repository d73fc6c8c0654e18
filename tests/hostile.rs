//! Hostile and broken input, as a user (or an attacker with write access to an input file)
//! would hand it to portfwd: every case ends in a clear error or a warning, quickly, and
//! changes nothing. The kernel-facing refusals run in the VM (scenario `reliability`).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

fn portfwd(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portfwd"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env_remove("PORTFWD_CONFIG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("portfwd starts");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.unwrap_or(b"").to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("portfwd ends");
    let _ = writer.join();
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_100_mb_config_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("huge.json");
    let f = std::fs::File::create(&path).expect("create");
    f.set_len(100 << 20).expect("sparse 100 MB");
    let out = portfwd(&["validate", "-c", path.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot read the config: it is larger than 32 MiB"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn deep_nesting_is_a_syntax_error_not_a_stack_overflow() {
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let out = portfwd(&["validate", "-c", "-"], Some(deep.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("recursion limit exceeded"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_hundred_thousand_forwards_validate_and_plan() {
    let forwards: Vec<String> = (0..100_000)
        .map(|i| {
            format!(
                r#"{{"name":"f{i}","listen":"203.0.113.{}:{}","backends":["10.{}.{}.2"]}}"#,
                10 + i / 50_000,
                1024 + i % 50_000,
                i / 256 % 256,
                i % 256
            )
        })
        .collect();
    let config = format!(
        r#"{{"public":[{{"address":"203.0.113.10"}},{{"address":"203.0.113.11"}}],"forwards":[{}]}}"#,
        forwards.join(",")
    );
    let out = portfwd(&["validate", "-c", "-"], Some(config.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "ok: 100000 forwards, 100000 backends, 0 bridges\n"
    );

    let dir = tempfile::tempdir().expect("tmp");
    let empty = dir.path().join("empty.snapshot.json");
    std::fs::write(&empty, r#"{"format_version":"1","services":[]}"#).expect("write");
    let cfg = dir.path().join("big.json");
    std::fs::write(&cfg, &config).expect("write");
    let out = portfwd(
        &[
            "plan",
            "-c",
            cfg.to_str().expect("path"),
            "--from",
            empty.to_str().expect("path"),
            "--detailed-exitcode",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\nPlan: 200000 to add, 0 to change, 0 to remove.\n"));
}

#[test]
fn control_characters_in_names_are_escaped_in_messages() {
    let config =
        "{\"forwards\":[{\"name\":\"evil\\u001b[31m\\nline\",\"listen\":\"203.0.113.10:80\"}]}";
    let out = portfwd(&["validate", "-c", "-"], Some(config.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(r#""evil\u001b[31m\nline""#), "{err}");
    assert!(!err.contains('\u{1b}'), "raw escape in: {err:?}");
    assert_eq!(err.lines().filter(|l| l.starts_with("line")).count(), 0);
}

fn saved_plan(dir: &std::path::Path) -> std::path::PathBuf {
    let planfile = dir.join("p.plan");
    let out = portfwd(
        &[
            "plan",
            "-c",
            "examples/xen-dom0.json",
            "--from",
            "examples/xen-dom0.snapshot.json",
            "--out",
            planfile.to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::set_permissions(&planfile, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    planfile
}

#[test]
fn a_plan_file_edited_by_hand_is_refused_before_anything_else() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let planfile = saved_plan(dir.path());
    let edited = std::fs::read_to_string(&planfile)
        .expect("read")
        .replace("10.0.0.2:22", "10.0.0.66:22");
    std::fs::write(&planfile, edited).expect("write");
    let out = portfwd(&["apply", planfile.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("was changed after `portfwd plan --out` wrote it"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_world_writable_plan_file_is_refused_by_apply() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let planfile = saved_plan(dir.path());
    std::fs::set_permissions(&planfile, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let out = portfwd(&["apply", planfile.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is writable by every user (mode 666)"),
        "{}",
        text(&out.stderr)
    );
}
