//! Every `tests/invalid/NAME.json` must be refused with exactly the messages in
//! `tests/invalid/NAME.expected` (what `portfwd validate` prints on standard error), and
//! exit 1 without printing a verdict on standard output.
//!
//! After an intended change of wording, regenerate with `UPDATE_EXPECTED=1 cargo test
//! --test invalid_corpus` and review the diff.

use std::path::Path;
use std::process::Command;

#[test]
fn every_invalid_config_is_refused_with_its_expected_messages() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cases: Vec<_> = std::fs::read_dir(root.join("tests/invalid"))
        .expect("tests/invalid exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 25,
        "the corpus should hold at least 25 cases, has {}",
        cases.len()
    );
    let update = std::env::var_os("UPDATE_EXPECTED").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let relative = case.strip_prefix(root).expect("inside the crate");
        let output = Command::new(env!("CARGO_BIN_EXE_portfwd"))
            .current_dir(root)
            .env_remove("NO_COLOR")
            .args(["--color", "never", "validate", "-c"])
            .arg(relative)
            .output()
            .expect("portfwd runs");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let expected_path = case.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &stderr).expect("write expected");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if output.status.code() != Some(1) || !output.stdout.is_empty() || stderr != expected {
            failures.push(format!(
                "{}: exit {:?}\n--- expected\n{expected}--- actual stderr\n{stderr}--- actual stdout\n{}",
                relative.display(),
                output.status.code(),
                String::from_utf8_lossy(&output.stdout)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
