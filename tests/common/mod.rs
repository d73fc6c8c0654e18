//! What the command-line test files share: running portfwd as a user would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs portfwd in the crate's folder with `stdin` fed to it and `env` set; NO_COLOR and
/// PORTFWD_CONFIG are cleared first.
pub fn run(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portfwd"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("PORTFWD_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("portfwd starts");
    let mut input = child.stdin.take().expect("stdin");
    let text = stdin.unwrap_or("").to_string();
    // Written from a thread: portfwd may stop reading early (size limit), closing the pipe.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
    });
    let output = child.wait_with_output().expect("portfwd finishes");
    let _ = writer.join();
    output
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
