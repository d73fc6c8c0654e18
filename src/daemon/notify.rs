//! systemd's notify protocol (sd-notify): READY=1 with a STATUS= line once the first sync
//! and the first round of checks are done, RELOADING=1 around a reload, STOPPING=1, and
//! WATCHDOG=1 pings when the unit sets `WatchdogSec`. Without `NOTIFY_SOCKET` each is a no-op.

use sd_notify::NotifyState;
use std::time::Duration;

pub fn ready(status: &str) {
    let _ = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    let _ = sd_notify::notify(&[NotifyState::Status(status)]);
}

/// systemd wants the monotonic time with RELOADING=1 (for `Type=notify-reload`).
pub fn reloading() {
    let mut states = vec![NotifyState::Reloading, NotifyState::Status("reloading")];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    let _ = sd_notify::notify(&states);
}

pub fn stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

pub fn alive() {
    let _ = sd_notify::notify(&[NotifyState::Watchdog]);
}

/// The watchdog's time when systemd expects pings from this process.
pub fn watchdog() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    /// The messages a unit would see, in order, over a socket this test owns.
    #[test]
    fn messages_arrive_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        // SAFETY: no other test reads or writes NOTIFY_SOCKET.
        unsafe { std::env::set_var("NOTIFY_SOCKET", &path) };
        ready("2 forwards, 3/4 backends up");
        status("2 forwards, 4/4 backends up");
        reloading();
        ready("2 forwards, 4/4 backends up");
        alive();
        stopping();
        unsafe { std::env::remove_var("NOTIFY_SOCKET") };
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        for _ in 0..6 {
            let n = socket.recv(&mut buf).expect("a message");
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        assert_eq!(got[0], "READY=1\nSTATUS=2 forwards, 3/4 backends up\n");
        assert_eq!(got[1], "STATUS=2 forwards, 4/4 backends up\n");
        assert!(
            got[2].starts_with("RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC="),
            "{}",
            got[2]
        );
        assert_eq!(got[3], "READY=1\nSTATUS=2 forwards, 4/4 backends up\n");
        assert_eq!(got[4], "WATCHDOG=1\n");
        assert_eq!(got[5], "STOPPING=1\n");
    }
}
