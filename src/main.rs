fn main() {
    end_quietly_on_a_closed_pipe();
    std::process::exit(portfwd::cli::main());
}

/// Output piped into a reader that stops early (`portfwd plan | head`, `portfwd schema |
/// true`) ends portfwd as it ends `cat`, by SIGPIPE. Rust's runtime ignores the signal, so
/// that every `println!` after the reader left panicked on EPIPE (exit 101, a panic
/// message). Netlink sockets are datagram sockets: a send on them never raises SIGPIPE.
#[cfg(unix)]
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: restores one signal's default disposition, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn end_quietly_on_a_closed_pipe() {}
