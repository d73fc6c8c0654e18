//! The command line as a user meets it: exit codes, messages, JSON output, colors.

mod common;

use common::{run, text};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn portfwd(args: &[&str]) -> Output {
    run(args, None, &[])
}

#[test]
fn validate_prints_a_one_line_summary() {
    let out = portfwd(&["validate", "-c", "examples/load-balanced-web.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok: 2 forwards, 6 backends, 1 bridge\n");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn validate_reads_stdin_with_dash() {
    let config = r#"{"public":[{"address":"203.0.113.10"}],"forwards":[{"name":"ssh","listen":"203.0.113.10:2222","backends":["10.0.0.2:22"]}]}"#;
    let out = run(&["validate", "-c", "-"], Some(config), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok: 1 forward, 1 backend, 0 bridges\n");
}

#[test]
fn validate_takes_the_config_from_the_environment() {
    let out = run(
        &["validate"],
        None,
        &[("PORTFWD_CONFIG", "examples/xen-dom0.json")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn validate_defaults_to_etc_and_says_when_it_is_missing() {
    if Path::new("/etc/portfwd/portfwd.json").exists() {
        return; // an installed portfwd: the default is real here
    }
    let out = portfwd(&["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "/etc/portfwd/portfwd.json: cannot read the config: No such file or directory"
        ),
        "{err}"
    );
}

#[test]
fn invalid_config_lists_every_problem_and_exits_1() {
    let config = r#"{"public":[{"address":"203.0.113.10"}],"forwards":[{"name":"ssh","listen":"203.0.113.10:2222","backends":["10.0.0.300:22","10.0.0.3:99999"],"scheduler":"rrr"}]}"#;
    let out = run(
        &["--color", "never", "validate", "-c", "-"],
        Some(config),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    let err = text(&out.stderr);
    let expected = [
        "error: <stdin>: forwards[0].scheduler: \"rrr\" is not a known scheduler",
        "did you mean \"rr\"?",
        "error: <stdin>: forwards[0].backends[0]: \"10.0.0.300:22\" is not an address:port",
        "error: <stdin>: forwards[0].backends[1]: \"10.0.0.3:99999\" is not an address:port: port \"99999\"",
        "<stdin>: 3 errors, 0 warnings",
    ];
    for line in expected {
        assert!(err.contains(line), "missing {line:?} in:\n{err}");
    }
}

#[test]
fn warnings_do_not_fail_validation() {
    let config = r#"{"public":[{"address":"203.0.113.10"}],"bridges":[{"name":"br1","address":"10.0.0.1/24"}],"forwards":[{"name":"ssh","listen":"203.0.113.10:2222","backends":["192.168.5.2:22"]}]}"#;
    let out = run(
        &["--color", "never", "validate", "-c", "-"],
        Some(config),
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stderr),
        "warning: <stdin>: forwards[0].backends[0]: masq backend 192.168.5.2 is outside every declared bridge subnet (br1 10.0.0.1/24); its replies must route back through this host\n"
    );
    assert_eq!(text(&out.stdout), "ok: 1 forward, 1 backend, 1 bridge\n");
}

#[test]
fn validate_json_reports_problems_for_pipelines() {
    let out = run(
        &["validate", "--json", "-c", "-"],
        Some("{\"forwards\": [1]}"),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["format_version"], "1");
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["error_count"], 1);
    assert_eq!(doc["diagnostics"][0]["path"], "forwards[0]");
    assert_eq!(doc["diagnostics"][0]["rule"], "type");
    assert_eq!(doc["diagnostics"][0]["severity"], "error");

    let out = portfwd(&["validate", "--json", "-c", "examples/xen-dom0.json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["summary"]["forwards"], 1);
    assert_eq!(doc["summary"]["services"], 1);
}

#[test]
fn syntax_errors_give_line_and_column() {
    let out = run(
        &["--color", "never", "validate", "-c", "-"],
        Some("{\n  \"public\": [,]\n}"),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: <stdin>:2:14: expected value\n"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn colors_follow_the_flag_and_no_color() {
    let bad = "{\"x\":1}";
    let always = run(
        &["--color", "always", "validate", "-c", "-"],
        Some(bad),
        &[],
    );
    assert!(text(&always.stderr).contains("\x1b[1;31merror:"));
    let never = run(&["--color", "never", "validate", "-c", "-"], Some(bad), &[]);
    assert!(!text(&never.stderr).contains('\x1b'));
    // Not a terminal: auto means no color, NO_COLOR or not.
    let auto = run(&["validate", "-c", "-"], Some(bad), &[("NO_COLOR", "1")]);
    assert!(!text(&auto.stderr).contains('\x1b'));
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let out = portfwd(&["validate", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--no-such-flag"));
    let out = portfwd(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("validate"));
}

#[test]
fn version_and_completions() {
    let out = portfwd(&["--version"]);
    assert_eq!(
        text(&out.stdout),
        format!("portfwd {}\n", env!("CARGO_PKG_VERSION"))
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = portfwd(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            text(&out.stdout).contains("validate"),
            "{shell} completion lacks validate"
        );
    }
}

#[test]
fn schema_command_prints_the_published_schema() {
    let out = portfwd(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let committed =
        std::fs::read_to_string("schema/portfwd.schema.json").expect("committed schema");
    assert_eq!(text(&out.stdout), committed);
}

/// A reader that has gone (`portfwd schema | true`) ends portfwd by SIGPIPE, as it ends
/// `cat`: no panic, no message.
#[test]
fn a_closed_output_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_portfwd"))
        .arg("schema")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("portfwd runs");
    assert_eq!(text(&out.stderr), "");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}

#[test]
fn oversized_and_deeply_nested_input_is_refused() {
    let deep = "[".repeat(10_000);
    let out = run(
        &["--color", "never", "validate", "-c", "-"],
        Some(&deep),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("recursion limit exceeded"),
        "{}",
        text(&out.stderr)
    );

    let big = " ".repeat(33 * 1024 * 1024);
    let out = run(
        &["--color", "never", "validate", "-c", "-"],
        Some(&big),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("larger than 32 MiB"),
        "{}",
        text(&out.stderr)
    );
}

/// `gen debian` on a Debian host: the ipvsadm package's defaults keep their sync daemon
/// settings, a rules file written by hand is not replaced without --force, and --check does
/// not care how the config's path was spelled.
#[test]
fn gen_debian_respects_files_it_did_not_write() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().to_str().expect("utf-8 path");
    let etc = root.path().join("etc");
    std::fs::create_dir_all(etc.join("default")).expect("mkdir");
    let debian_defaults =
        "# ipvsadm\nAUTO=\"false\"\nDAEMON=\"master\"\nIFACE=\"eth1\"\nSYNCID=\"7\"\n";
    std::fs::write(etc.join("default/ipvsadm"), debian_defaults).expect("write");
    std::fs::write(etc.join("ipvsadm.rules"), "-A -t 192.0.2.1:80 -s rr\n").expect("write");

    let o = portfwd(&["gen", "debian", "-c", "examples/xen-dom0.json", "-o", out]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("etc/ipvsadm.rules was not generated by portfwd"),
        "{stderr}"
    );
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(etc.join("ipvsadm.rules")).expect("read"),
        "-A -t 192.0.2.1:80 -s rr\n",
        "nothing is written when a file is refused"
    );
    assert!(!etc.join("sysctl.d").exists());

    let o = portfwd(&[
        "gen",
        "debian",
        "-c",
        "examples/xen-dom0.json",
        "-o",
        out,
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let defaults = std::fs::read_to_string(etc.join("default/ipvsadm")).expect("read");
    assert_eq!(
        defaults,
        debian_defaults.replace("AUTO=\"false\"", "AUTO=\"true\"")
    );
    let rules = std::fs::read_to_string(etc.join("ipvsadm.rules")).expect("read");
    assert!(rules.contains("-A -t 203.0.113.10:2222 -s rr"), "{rules}");

    // Once portfwd wrote them, later runs replace its own files without --force.
    let o = portfwd(&["gen", "debian", "-c", "examples/xen-dom0.json", "-o", out]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = portfwd(&[
        "gen",
        "debian",
        "-c",
        "./examples/xen-dom0.json",
        "-o",
        out,
        "--check",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

/// `sync` in the config starts both sync daemons at boot through Debian's defaults file; once
/// it is gone, the next `gen debian` stops them again (DAEMON="none").
#[test]
fn gen_debian_undoes_the_sync_daemons_it_asked_for() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().to_str().expect("utf-8 path");
    let defaults = root.path().join("etc/default/ipvsadm");
    let o = portfwd(&["gen", "debian", "-c", "examples/ha-lb1.json", "-o", out]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let with_sync = std::fs::read_to_string(&defaults).expect("read");
    assert!(with_sync.contains("\nDAEMON=\"both\"\n"), "{with_sync}");
    let config = root.path().join("no-sync.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("examples/ha-lb1.json").expect("read"))
            .expect("json");
    json.as_object_mut().expect("object").remove("sync");
    std::fs::write(&config, json.to_string()).expect("write");
    let o = portfwd(&[
        "gen",
        "debian",
        "-c",
        config.to_str().expect("utf-8 path"),
        "-o",
        out,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let without = std::fs::read_to_string(&defaults).expect("read");
    assert!(without.contains("\nDAEMON=\"none\"\n"), "{without}");
    assert!(!without.contains("portfwd gen debian for"), "{without}");
}

#[test]
fn an_ipv6_backend_that_may_end_in_a_port_is_a_warning() {
    let config = r#"{"public":[{"address":"2001:db8::10"}],"bridges":[{"name":"br6","address":"fd00::1/64"}],
        "forwards":[{"name":"a","listen":"[2001:db8::10]:22","backends":["fd00::2:22","fd00::22","[fd00::3]:22"]}]}"#;
    let o = run(
        &["--color", "never", "validate", "-c", "-"],
        Some(config),
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let stderr = text(&o.stderr);
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    assert!(
        stderr.contains(r#"forwards[0].backends[0]: "fd00::2:22" is read as the IPv6 address fd00::2:22 on the listen port; for fd00::2 port 22 write "[fd00::2]:22""#),
        "{stderr}"
    );
}

/// `import` reads keepalived.conf and ipvsadm rules from standard input with `-`, and the
/// config it prints validates.
#[test]
fn import_reads_standard_input() {
    let keepalived = "virtual_server 203.0.113.10 80 {\n  lb_algo rr\n  lb_kind NAT\n  real_server 10.0.0.2 80 { weight 2 }\n}\n";
    let rules = "-A -t 203.0.113.10:80 -s rr\n-a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 2\n";
    for (flag, input) in [("--keepalived", keepalived), ("--ipvsadm", rules)] {
        let out = run(&["import", flag, "-"], Some(input), &[]);
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", text(&out.stderr));
        let config = text(&out.stdout);
        assert!(config.contains("\"203.0.113.10:80\""), "{flag}: {config}");
        let check = run(&["validate", "-c", "-"], Some(&config), &[]);
        assert_eq!(
            check.status.code(),
            Some(0),
            "{flag}: {}",
            text(&check.stderr)
        );
    }
}

#[test]
fn validate_takes_one_config_and_warns_as_plan_does() {
    let out = portfwd(&[
        "validate",
        "examples/xen-dom0.json",
        "-c",
        "examples/load-balanced-web.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("give the config once"),
        "{}",
        text(&out.stderr)
    );
    // The environment's config gives way to the one named.
    let out = run(
        &["validate", "examples/xen-dom0.json"],
        None,
        &[("PORTFWD_CONFIG", "/nonexistent.json")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("portfwd.json");
    std::fs::write(
        &config,
        r#"{"public":[{"address":"203.0.113.10"}],"forwards":[{"name":"web","listen":"203.0.113.10:80","backends":["10.0.0.2"],
            "health":{"check":"exec","command":["/nonexistent/check-web","{address}"]}}]}"#,
    )
    .expect("write");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let name = config.to_str().expect("utf-8");
    let out = portfwd(&["validate", name]);
    assert_eq!(out.status.code(), Some(0), "warnings only");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("is writable by every user (mode 666); `portfwd apply` refuses it"),
        "{stderr}"
    );
    assert!(
        stderr.contains("forwards[0].health.command[0]: /nonexistent/check-web does not exist: every check of forward \"web\" would fail"),
        "{stderr}"
    );
}

/// `portfwd ARGS` as user nobody: with setpriv when the tests run as root.
fn as_nobody(args: &[&str]) -> Output {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let bin = dir.path().join("portfwd");
    std::fs::copy(env!("CARGO_BIN_EXE_portfwd"), &bin).expect("copy");
    let config = dir.path().join("portfwd.json");
    std::fs::copy("examples/xen-dom0.json", &config).expect("copy");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("CONFIG", config.to_str().expect("utf-8")))
        .collect();
    // SAFETY: geteuid has no preconditions.
    let mut command = if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    command
        .args(&args)
        .env_remove("PORTFWD_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("setpriv (util-linux) runs")
}

#[test]
fn a_user_who_is_not_root_is_told_so_before_anything_else() {
    for (args, command) in [
        (&["run", "-c", "CONFIG"][..], "run"),
        (&["apply", "-c", "CONFIG", "--auto-approve"][..], "apply"),
        (&["plan", "-c", "CONFIG"][..], "plan"),
    ] {
        let out = as_nobody(args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stderr),
            format!(
                "error: portfwd {command} needs root (CAP_NET_ADMIN): run it as root, e.g. with sudo\n"
            )
        );
    }
    // What needs no kernel still runs.
    let out = as_nobody(&[
        "plan",
        "-c",
        "CONFIG",
        "--from",
        "examples/xen-dom0.snapshot.json",
    ]);
    assert!(
        !text(&out.stderr).contains("needs root"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_whole_number_written_as_a_float_is_a_whole_number() {
    let config = r#"{"public":[{"address":"203.0.113.10"}],"forwards":[{"name":"a","listen":"203.0.113.10:80",
        "backends":[{"address":"10.0.0.2","weight":1e3},{"address":"10.0.0.3","weight":2.0}]}]}"#;
    let out = run(&["validate", "-c", "-"], Some(config), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
