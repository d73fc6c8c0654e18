//! examples/gitops: the GitHub Actions workflow and the GitLab pipeline parse as YAML with the
//! jobs they document, every ci/ script they call exists and is valid shell, and the scripts
//! that run without the hosts (validate-all, plan-all) do their job on the example hosts.

use std::path::{Path, PathBuf};
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

fn gitops() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitops")
}

fn load(path: &str) -> Yaml {
    let text = std::fs::read_to_string(gitops().join(path)).expect(path);
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(docs.len(), 1, "{path}: one document");
    docs.remove(0)
}

/// Every string in `y` (the shell lines of `run:` and `script:` among them).
fn strings(y: &Yaml, out: &mut Vec<String>) {
    match y {
        Yaml::String(s) => out.push(s.clone()),
        Yaml::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Yaml::Hash(h) => h.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

/// The `ci/NAME` scripts a pipeline file calls, and all its strings.
fn calls(y: &Yaml) -> (Vec<String>, Vec<String>) {
    let mut texts = Vec::new();
    strings(y, &mut texts);
    (scripts_called(&texts), texts)
}

const SCRIPTS: [&str; 4] = [
    "ci/apply-host",
    "ci/drift-check",
    "ci/plan-all",
    "ci/validate-all",
];

fn scripts_called(texts: &[String]) -> Vec<String> {
    let mut found: Vec<String> = texts
        .iter()
        .flat_map(|t| t.split(|c: char| c.is_whitespace() || c == ';' || c == '"'))
        .filter(|w| w.starts_with("ci/"))
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[test]
fn the_github_workflow_plans_on_pull_requests_applies_on_merge_and_checks_drift() {
    let wf = load(".github/workflows/portfwd.yml");
    let jobs = &wf["jobs"];
    for job in ["plan", "apply", "drift"] {
        assert!(!jobs[job]["steps"].is_badvalue(), "job {job} missing");
    }
    let on = &wf["on"];
    assert!(
        !on["pull_request"].is_badvalue()
            && !on["push"].is_badvalue()
            && !on["schedule"].is_badvalue()
    );
    let (called, texts) = calls(&wf);
    assert_eq!(called, SCRIPTS);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("--body-file plans/comment.md"))
    );
}

#[test]
fn the_gitlab_pipeline_has_the_same_four_jobs() {
    let ci = load(".gitlab-ci.yml");
    for job in ["validate", "plan", "apply", "drift"] {
        assert!(!ci[job]["script"].is_badvalue(), "job {job} missing");
        assert_eq!(ci[job]["stage"].as_str(), Some(job));
    }
    let (called, texts) = calls(&ci);
    assert_eq!(called, SCRIPTS);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("merge_requests/$CI_MERGE_REQUEST_IID/notes"))
    );
}

#[test]
fn every_script_is_executable_valid_shell() {
    for entry in std::fs::read_dir(gitops().join("ci")).expect("ci/") {
        let path = entry.expect("entry").path();
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&path.metadata().expect("meta").permissions());
        assert!(mode & 0o111 != 0, "{} is not executable", path.display());
        let ok = Command::new("sh")
            .arg("-n")
            .arg(&path)
            .status()
            .expect("sh");
        assert!(ok.success(), "{} is not valid shell", path.display());
    }
    // The hosts' forced command allows three words and nothing else.
    let out = Command::new(gitops().join("ci/forced-command"))
        .env("SSH_ORIGINAL_COMMAND", "rm -rf /")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
}

/// A copy of examples/gitops to run the scripts in (they write plans/).
fn copy(dir: &Path) {
    let status = Command::new("cp")
        .arg("-r")
        .arg(gitops())
        .arg(dir)
        .status()
        .expect("cp");
    assert!(status.success());
}

#[test]
fn validate_all_and_plan_all_work_on_the_example_hosts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy(tmp.path());
    let root = tmp.path().join("gitops");
    let run = |script: &str, args: &[&str]| {
        Command::new(root.join(script))
            .args(args)
            .env("PORTFWD", env!("CARGO_BIN_EXE_portfwd"))
            .env("NO_COLOR", "1")
            .output()
            .expect(script)
    };
    let out = run("ci/validate-all", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run("ci/plan-all", &["plans"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "dom0 has changes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let comment = std::fs::read_to_string(root.join("plans/comment.md")).expect("comment");
    assert!(
        comment.starts_with("## dom0\n\n### portfwd plan: 0 to add, 1 to change, 3 to remove"),
        "{comment}"
    );
    assert!(
        comment.contains("## web1\n\n### portfwd plan: no changes"),
        "{comment}"
    );
    assert!(!comment.contains("Saved the plan"), "{comment}");
    assert!(!comment.contains('\x1b'));
    for host in ["dom0", "web1"] {
        let plan = std::fs::read_to_string(root.join(format!("plans/{host}.plan"))).expect("plan");
        let doc: serde_json::Value = serde_json::from_str(&plan).expect("a plan file");
        assert_eq!(doc["format"], "portfwd-plan/1");
    }

    // A config made invalid fails validate-all and plan-all.
    std::fs::write(root.join("hosts/web1/portfwd.json"), "{\"forwards\": [{}]}").expect("write");
    assert_eq!(run("ci/validate-all", &[]).status.code(), Some(1));
    assert_eq!(run("ci/plan-all", &["plans"]).status.code(), Some(1));
}
