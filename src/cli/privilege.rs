//! Whether this process may change IPVS: the kernel asks for CAP_NET_ADMIN on every IPVS
//! request, and `run` and `apply` also write under /run/portfwd. Checked before anything
//! else, so that a user who is not root reads that, not the first EACCES on the way.

/// CAP_NET_ADMIN's bit in the capability sets.
const CAP_NET_ADMIN: u32 = 12;

/// `Err` with the sentence to print when `command` cannot run here.
pub fn require_net_admin(command: &str) -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    match has_net_admin(&status) {
        Some(false) => Err(format!(
            "portfwd {command} needs root (CAP_NET_ADMIN): run it as root, e.g. with sudo"
        )),
        // Unknown (no /proc): the kernel's own answer will say.
        Some(true) | None => Ok(()),
    }
}

/// Reads the effective set (`CapEff:` in /proc/self/status, hexadecimal).
fn has_net_admin(status: &str) -> Option<bool> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    let set = u64::from_str_radix(hex, 16).ok()?;
    Some(set & (1 << CAP_NET_ADMIN) != 0)
}

#[cfg(test)]
mod tests {
    use super::has_net_admin;

    #[test]
    fn the_effective_set_decides() {
        assert_eq!(
            has_net_admin("Name:\tx\nCapEff:\t000001ffffffffff\n"),
            Some(true)
        );
        assert_eq!(has_net_admin("CapEff:\t0000000000000000\n"), Some(false));
        assert_eq!(has_net_admin("CapEff:\t0000000000001000\n"), Some(true));
        assert_eq!(has_net_admin("Name:\tx\n"), None);
    }
}
