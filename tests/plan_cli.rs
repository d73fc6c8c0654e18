//! `portfwd plan --from SNAPSHOT` as a config repository's CI runs it: no root, no IPVS.
//! Golden files live in tests/golden/ (regenerate with UPDATE_EXPECTED=1).

mod common;

use common::text;
use std::path::Path;
use std::process::Output;

fn portfwd(args: &[&str]) -> Output {
    run(args, None)
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    common::run(args, stdin, &[])
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_EXPECTED").is_some() {
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{name} differs\n--- expected\n{expected}\n--- actual\n{actual}\n---"
    );
}

const README: [&str; 5] = [
    "plan",
    "-c",
    "examples/xen-dom0.json",
    "--from",
    "examples/xen-dom0.snapshot.json",
];

#[test]
fn the_readme_plan_shows_changes_removals_and_unmanaged_services() {
    let out = portfwd(&README);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    golden("xen-dom0.plan.txt", &text(&out.stdout));
}

#[test]
fn the_markdown_plan_is_a_review_comment_without_ansi_codes() {
    let mut args = README.to_vec();
    args.extend(["--format", "markdown", "--color", "always"]);
    let out = portfwd(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = text(&out.stdout);
    assert!(
        !md.contains('\x1b'),
        "no ANSI codes even with --color always"
    );
    golden("xen-dom0.plan.md", &md);

    // Nothing to change: one line says so.
    let matching =
        "-A -t 203.0.113.10:2222 -s rr\n-a -t 203.0.113.10:2222 -r 10.0.0.2:22 -m -w 1\n";
    let out = run(
        &[
            "plan",
            "-c",
            "examples/xen-dom0.json",
            "--from",
            "-",
            "--format",
            "markdown",
        ],
        Some(matching),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(
            "### portfwd plan: no changes\n\nSnapshot <stdin> matches `examples/xen-dom0.json`.\n"
        ),
        "{}",
        text(&out.stdout)
    );
    let json = portfwd(&[
        "plan",
        "-c",
        "examples/xen-dom0.json",
        "--from",
        "examples/xen-dom0.snapshot.json",
        "--format",
        "json",
    ]);
    let alias = portfwd(&[
        "plan",
        "-c",
        "examples/xen-dom0.json",
        "--from",
        "examples/xen-dom0.snapshot.json",
        "--json",
    ]);
    assert_eq!(
        text(&json.stdout),
        text(&alias.stdout),
        "--json is --format json"
    );
}

#[test]
fn the_json_plan_is_one_documented_document() {
    let mut args = README.to_vec();
    args.push("--json");
    let out = portfwd(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["format_version"], "1");
    assert_eq!(
        doc["summary"],
        serde_json::json!({"add": 0, "change": 1, "remove": 3})
    );
    assert_eq!(doc["unmanaged_services"], 1);
    let actions: Vec<String> = doc["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap_or("?").to_string();
            format!(
                "{} {} {}",
                c["actions"][0].as_str().unwrap_or("?"),
                field("kind"),
                field("id")
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            "update ipvs_service tcp 203.0.113.10:2222",
            "delete ipvs_destination 10.0.0.3:22",
            "delete ipvs_destination 10.0.0.4:80",
            "delete ipvs_service tcp 203.0.113.10:8080",
        ]
    );
    assert_eq!(doc["changes"][0]["before"]["scheduler"], "wlc");
    assert_eq!(doc["changes"][0]["after"]["scheduler"], "rr");
    assert_eq!(doc["changes"][3]["reason"], "not_in_config");
    golden("xen-dom0.plan.json", &text(&out.stdout));
}

#[test]
fn detailed_exitcode_is_0_without_changes_2_with_1_on_errors() {
    let mut args = README.to_vec();
    args.push("--detailed-exitcode");
    assert_eq!(portfwd(&args).status.code(), Some(2));

    let dir = tempfile::tempdir().expect("tmp");
    let snapshot = dir.path().join("matching.json");
    std::fs::write(
        &snapshot,
        r#"{"format_version":"1","services":[{"protocol":"tcp","address":"203.0.113.10","port":2222,
            "family":"ipv4","scheduler":"rr","netmask":"255.255.255.255",
            "destinations":[{"address":"10.0.0.2","port":22,"method":"masq","weight":1}]}]}"#,
    )
    .expect("write");
    let s = snapshot.to_str().expect("utf-8 path");
    let out = portfwd(&[
        "plan",
        "-c",
        "examples/xen-dom0.json",
        "--from",
        s,
        "--detailed-exitcode",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(&format!(
            "No changes. Snapshot {s} matches examples/xen-dom0.json.\n"
        )),
        "{}",
        text(&out.stdout)
    );

    let out = portfwd(&[
        "plan",
        "-c",
        "tests/invalid/unknown-field.json",
        "--from",
        s,
        "--detailed-exitcode",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("1 error in the config"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_snapshots_are_errors_that_name_the_problem() {
    let dir = tempfile::tempdir().expect("tmp");
    let cases = [
        ("missing.json", None, "cannot read"),
        (
            "garbage.json",
            Some("{"),
            "garbage.json: EOF while parsing an object at line 1 column 1 (a snapshot is what `portfwd show --json` prints",
        ),
        (
            "field.json",
            Some(
                r#"{"format_version":"1","services":[{"protocol":"tcp","address":"203.0.113.10","port":80,"scheduler":"rr","destinations":[{"address":"10.0.0.2","port":22,"method":"nat","weight":1}]}]}"#,
            ),
            "field.json: services[0].destinations[0].method: unknown variant `nat`, expected one of `masq`",
        ),
        (
            "rules.txt",
            Some(
                "-A -t 203.0.113.10:2222 -s rr\n-a -t 203.0.113.10:2222 -r 10.0.0.2:22 -m -w 1\n-x\n",
            ),
            "rules.txt is neither a snapshot (`portfwd show --json`) nor `ipvsadm -S -n` rules: line 3",
        ),
        (
            "family.json",
            Some(
                r#"{"format_version":"1","services":[{"protocol":"tcp","address":"203.0.113.10","port":80,"family":"ipv6","scheduler":"rr","netmask":128,"destinations":[]}]}"#,
            ),
            "services[0].address: 203.0.113.10 is not ipv6",
        ),
    ];
    for (name, content, message) in cases {
        let path = dir.path().join(name);
        if let Some(c) = content {
            std::fs::write(&path, c).expect("write");
        }
        let out = portfwd(&[
            "plan",
            "-c",
            "examples/xen-dom0.json",
            "--from",
            path.to_str().expect("path"),
        ]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(
            text(&out.stderr).contains(message),
            "{name}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "", "{name}");
    }
}

#[test]
fn a_saved_plan_carries_the_config_and_the_state_fingerprint() {
    let dir = tempfile::tempdir().expect("tmp");
    let planfile = dir.path().join("web.plan");
    let mut args = README.to_vec();
    args.extend(["--out", planfile.to_str().expect("path")]);
    let out = portfwd(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Saved the plan to"));
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&planfile).expect("saved")).expect("JSON");
    assert_eq!(saved["format"], "portfwd-plan/1");
    assert_eq!(
        saved["config_text"],
        std::fs::read_to_string("examples/xen-dom0.json").expect("example")
    );
    assert_eq!(
        saved["state_fingerprint"],
        saved["plan"]["state_fingerprint"]
    );
    assert!(
        saved["state_fingerprint"]
            .as_str()
            .expect("fp")
            .starts_with("fnv1a64:")
    );
}

#[test]
fn apply_refuses_a_damaged_plan_file_before_touching_anything() {
    let dir = tempfile::tempdir().expect("tmp");
    let planfile = dir.path().join("bad.plan");
    std::fs::write(&planfile, r#"{"format":"portfwd-plan/9"}"#).expect("write");
    let out = portfwd(&["apply", planfile.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not a portfwd plan file"),
        "{}",
        text(&out.stderr)
    );

    let out = portfwd(&[
        "apply",
        "-c",
        "examples/xen-dom0.json",
        planfile.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot be used with"),
        "{}",
        text(&out.stderr)
    );
}

/// `ipvsadm -S -n` output is a snapshot too, from a file or standard input.
#[test]
fn ipvsadm_rules_are_read_as_a_snapshot_from_stdin() {
    let rules = "-A -t 203.0.113.10:2222 -s rr\n-a -t 203.0.113.10:2222 -r 10.0.0.2:22 -m -w 1\n";
    let out = run(
        &[
            "plan",
            "-c",
            "examples/xen-dom0.json",
            "--from",
            "-",
            "--detailed-exitcode",
        ],
        Some(rules),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .starts_with("No changes. Snapshot <stdin> matches examples/xen-dom0.json."),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["plan", "-c", "-", "--from", "-"], Some(rules));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("-c - and --from - both read standard input"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "plan",
            "-c",
            "examples/xen-dom0.json",
            "--from",
            "-",
            "--out",
            "-",
        ],
        Some(rules),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--out - is refused"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("-")
            .exists()
    );
}

/// CI parses standard output: an invalid config gives the `validate --json` document there.
#[test]
fn plan_json_with_an_invalid_config_prints_the_diagnostics_as_json() {
    let out = portfwd(&[
        "plan",
        "--json",
        "-c",
        "tests/invalid/listen-not-public.json",
        "--from",
        "examples/xen-dom0.snapshot.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["diagnostics"][0]["rule"], "listen-not-public");
    assert_eq!(text(&out.stderr), "", "not repeated on standard error");
}

/// Removing a destination with connections says how many and suggests --drain.
#[test]
fn removing_a_busy_destination_shows_its_connections() {
    let snapshot = r#"{"format_version":"1","services":[{"protocol":"tcp","address":"203.0.113.10","port":2222,"scheduler":"rr","destinations":[
        {"address":"10.0.0.2","port":22,"method":"masq","weight":1},
        {"address":"10.0.0.3","port":22,"method":"masq","weight":1,"active_connections":5,"inactive_connections":2},
        {"address":"10.0.0.4","port":22,"method":"masq","weight":1}]}]}"#;
    let out = run(
        &[
            "--color",
            "never",
            "plan",
            "-c",
            "examples/xen-dom0.json",
            "--from",
            "-",
        ],
        Some(snapshot),
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "- destination 10.0.0.3:22 (masq, weight 1); 5 active, 2 inactive connections\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("- destination 10.0.0.4:22 (masq, weight 1)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("note: 1 destination to remove has open connections, which removing cuts; `portfwd apply --drain SECONDS` lets them finish first"), "{stdout}");
}

#[test]
fn an_empty_snapshot_file_is_an_error_not_an_empty_table() {
    let out = run(
        &["plan", "-c", "examples/xen-dom0.json", "--from", "-"],
        Some(""),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("<stdin> is empty"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
}

#[test]
fn an_invalid_config_is_a_document_in_the_format_asked_for() {
    let config = r#"{"public":[{"address":"203.0.113.10"}],"forwards":[
        {"name":"a","listen":"203.0.113.10:-1","backends":["10.0.0.2:22"]}]}"#;
    let from = "examples/xen-dom0.snapshot.json";
    let out = run(
        &["plan", "-c", "-", "--from", from, "--format", "markdown"],
        Some(config),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "### portfwd plan: the config is invalid\n\n`<stdin>` has 1 error; nothing was planned.\n\n**Errors**\n\n\
         - `forwards[0].listen`: \"203.0.113.10:-1\" is not an address:port: port \"-1\" is not a number from 1 to 65535\n"
    );
    let out = run(
        &["plan", "-c", "-", "--from", from, "--format", "json"],
        Some(config),
    );
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["diagnostics"][0]["rule"], "address-port");
    assert_eq!(text(&out.stderr), "", "the document says it all");
}

#[test]
fn a_forward_mixing_methods_plans_clean_against_the_table_that_mixes_them() {
    let config = r#"{"public":[{"address":"203.0.113.10"}],"forwards":[{"name":"web","listen":"203.0.113.10:80",
        "method":"route","backends":["10.0.0.9",{"address":"10.0.0.2:8080","method":"masq"}]}]}"#;
    let dir = tempfile::tempdir().expect("tmp");
    let rules = dir.path().join("rules");
    std::fs::write(
        &rules,
        "-A -t 203.0.113.10:80 -s wlc\n-a -t 203.0.113.10:80 -r 10.0.0.2:8080 -m -w 1\n-a -t 203.0.113.10:80 -r 10.0.0.9:80 -g -w 1\n",
    )
    .expect("rules");
    let out = run(
        &[
            "plan",
            "-c",
            "-",
            "--from",
            rules.to_str().expect("utf-8"),
            "--detailed-exitcode",
        ],
        Some(config),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // A route backend cannot change the port; a masq one can, beside it.
    let bad = config.replace(r#""10.0.0.9""#, r#""10.0.0.9:8080""#);
    let out = run(&["validate", "-c", "-"], Some(&bad));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(
            "forwards[0].backends[0]: method \"route\" cannot change ports (80 -> 8080); only \"masq\" can"
        ),
        "{}",
        text(&out.stderr)
    );
}
