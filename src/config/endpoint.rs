//! The small text forms a config is made of: `ADDR:PORT`, `ADDR:FIRST-LAST`, `[V6]:PORT`,
//! a bare `ADDR`, `ADDR/PREFIX` and Linux interface names. Each parser returns the rule that
//! failed so that messages can say what is wrong, not only that something is.

use std::fmt;
use std::net::IpAddr;

/// An inclusive range of ports; a single port is a range of length one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn single(port: u16) -> Self {
        PortRange {
            first: port,
            last: port,
        }
    }

    /// How many ports the range holds (at least 1, so there is no `is_empty`).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    pub fn is_single(&self) -> bool {
        self.first == self.last
    }

    pub fn overlaps(&self, other: PortRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    pub fn ports(&self) -> impl Iterator<Item = u16> {
        self.first..=self.last
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// An address with a port or port range, as in `listen` or a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub addr: IpAddr,
    /// `None` for a bare backend address: it takes the listen port(s).
    pub ports: Option<PortRange>,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.addr, self.ports) {
            (IpAddr::V4(a), Some(p)) => write!(f, "{a}:{p}"),
            (IpAddr::V6(a), Some(p)) => write!(f, "[{a}]:{p}"),
            (a, None) => write!(f, "{a}"),
        }
    }
}

/// Why an endpoint did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointError {
    /// Not of the form at all (or the address part is not an IP address).
    Form,
    /// A port that is not a number in 1-65535.
    Port(String),
    /// A range whose first port is above its last.
    Reversed(u16, u16),
    /// A port was required but the text has none.
    MissingPort,
}

/// Parses `ADDR:PORT`, `ADDR:FIRST-LAST`, `[V6]:PORT`, or, when `port_optional`, a bare
/// `ADDR`, `V6` or `[V6]`.
pub fn parse_endpoint(text: &str, port_optional: bool) -> Result<Endpoint, EndpointError> {
    if text.is_empty()
        || text.starts_with(char::is_whitespace)
        || text.ends_with(char::is_whitespace)
    {
        return Err(EndpointError::Form);
    }
    // The one colon of IPv4:PORT (an IPv6 address has at least two).
    let one_colon = text.find(':').filter(|&i| !text[i + 1..].contains(':'));
    let (addr_text, port_text) = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or(EndpointError::Form)?;
        let addr: std::net::Ipv6Addr = inside.parse().map_err(|_| EndpointError::Form)?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(EndpointError::Form)?),
        };
        (IpAddr::V6(addr), port)
    } else if let Some(i) = one_colon {
        let addr: std::net::Ipv4Addr = text[..i].parse().map_err(|_| EndpointError::Form)?;
        (IpAddr::V4(addr), Some(&text[i + 1..]))
    } else {
        // A bare address; an unbracketed IPv6 address cannot carry a port.
        let addr: IpAddr = text.parse().map_err(|_| EndpointError::Form)?;
        (addr, None)
    };
    let ports = match port_text {
        None if port_optional => None,
        None => return Err(EndpointError::MissingPort),
        Some(p) => Some(parse_port_range(p)?),
    };
    Ok(Endpoint {
        addr: addr_text,
        ports,
    })
}

fn parse_port_range(text: &str) -> Result<PortRange, EndpointError> {
    // An error names the whole port text: `-1` is no range with an empty first port.
    let whole = |_| EndpointError::Port(text.to_string());
    match text.split_once('-') {
        None => Ok(PortRange::single(parse_port(text)?)),
        Some((a, b)) => {
            let (first, last) = (parse_port(a).map_err(whole)?, parse_port(b).map_err(whole)?);
            if first > last {
                return Err(EndpointError::Reversed(first, last));
            }
            Ok(PortRange { first, last })
        }
    }
}

fn parse_port(text: &str) -> Result<u16, EndpointError> {
    let valid_digits =
        !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u16>() {
        Ok(p) if valid_digits && p > 0 => Ok(p),
        _ => Err(EndpointError::Port(text.to_string())),
    }
}

/// An interface address with its prefix length, e.g. `10.0.0.1/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl Cidr {
    /// Whether `other` lies in this address's subnet.
    pub fn contains(&self, other: IpAddr) -> bool {
        match (self.addr, other) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = prefix_mask_u32(self.prefix_len);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = prefix_mask_u128(self.prefix_len);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }

    /// Whether `other` is this subnet's network or (IPv4) broadcast address, which no guest
    /// can hold. Point-to-point prefixes (/31, /32, /127, /128) have neither.
    /// The subnet's first and last address as numbers, and whether it is IPv4.
    pub fn span(&self) -> (bool, u128, u128) {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = prefix_mask_u32(self.prefix_len);
                let first = u32::from(a) & mask;
                (true, u128::from(first), u128::from(first | !mask))
            }
            IpAddr::V6(a) => {
                let mask = prefix_mask_u128(self.prefix_len);
                let first = u128::from(a) & mask;
                (false, first, first | !mask)
            }
        }
    }

    pub fn edge_name(&self, other: IpAddr) -> Option<&'static str> {
        let (bits, value) = match other {
            IpAddr::V4(b) => (32, u128::from(u32::from(b))),
            IpAddr::V6(b) => (128, u128::from(b)),
        };
        let host_bits = bits - u32::from(self.prefix_len).min(bits);
        if host_bits < 2 || !self.contains(other) {
            return None;
        }
        let host_mask = (1u128 << host_bits) - 1;
        if value & host_mask == 0 {
            Some("network address")
        } else if bits == 32 && value & host_mask == host_mask {
            Some("broadcast address")
        } else {
            None
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

fn prefix_mask_u32(len: u8) -> u32 {
    match len {
        0 => 0,
        n => u32::MAX << (32 - u32::from(n.min(32))),
    }
}

fn prefix_mask_u128(len: u8) -> u128 {
    match len {
        0 => 0,
        n => u128::MAX << (128 - u32::from(n.min(128))),
    }
}

/// Parses `ADDR/PREFIX`; the prefix must fit the address family.
pub fn parse_cidr(text: &str) -> Option<Cidr> {
    let (addr, len) = text.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix_len: u8 = len.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix_len <= max).then_some(Cidr { addr, prefix_len })
}

/// The kernel's own rule (`dev_valid_name`): 1-15 bytes, not `.` or `..`, no `/`, `:` or
/// white space. We also refuse control and non-ASCII characters, which no tool handles well.
pub fn interface_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.len() > 15 {
        Some("is longer than 15 bytes (the kernel's IFNAMSIZ limit)")
    } else if name == "." || name == ".." {
        Some("is not allowed by the kernel")
    } else if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        Some(
            "contains a character not allowed in an interface name ('/', ':', white space, control or non-ASCII)",
        )
    } else {
        None
    }
}

/// Parses an IPv4 netmask in dotted form (`255.255.255.0`) to its prefix length, if it is
/// a contiguous mask.
pub fn netmask_prefix_len(text: &str) -> Option<u8> {
    let mask: std::net::Ipv4Addr = text.parse().ok()?;
    let bits = u32::from(mask);
    let len = bits.leading_ones();
    (bits.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(text: &str, optional: bool) -> Result<Endpoint, EndpointError> {
        parse_endpoint(text, optional)
    }

    #[test]
    fn parses_ipv4_with_port_and_range() {
        let e = ep("203.0.113.10:2222", false).expect("valid");
        assert_eq!(e.to_string(), "203.0.113.10:2222");
        let e = ep("203.0.113.10:6000-6009", false).expect("valid");
        assert_eq!(e.ports.map(|p| p.len()), Some(10));
    }

    #[test]
    fn parses_ipv6_forms() {
        assert_eq!(
            ep("[2001:db8::1]:443", false).expect("v6").to_string(),
            "[2001:db8::1]:443"
        );
        assert_eq!(ep("fd00::2", true).expect("bare").ports, None);
        assert_eq!(ep("[fd00::2]", true).expect("bracketed").ports, None);
        assert_eq!(ep("fd00::2", false), Err(EndpointError::MissingPort));
    }

    #[test]
    fn rejects_bad_endpoints() {
        assert_eq!(ep("10.0.0.300:22", false), Err(EndpointError::Form));
        assert_eq!(
            ep("10.0.0.3:0", false),
            Err(EndpointError::Port("0".into()))
        );
        assert_eq!(
            ep("10.0.0.3:65536", false),
            Err(EndpointError::Port("65536".into()))
        );
        assert_eq!(
            ep("10.0.0.3:+22", false),
            Err(EndpointError::Port("+22".into()))
        );
        assert_eq!(
            ep("10.0.0.3:30-20", false),
            Err(EndpointError::Reversed(30, 20))
        );
        assert_eq!(
            ep("10.0.0.3:-1", false),
            Err(EndpointError::Port("-1".into()))
        );
        assert_eq!(
            ep("10.0.0.3:80-x", false),
            Err(EndpointError::Port("80-x".into()))
        );
        assert_eq!(ep(" 10.0.0.3:22", false), Err(EndpointError::Form));
        assert_eq!(ep("host:22", false), Err(EndpointError::Form));
        assert_eq!(ep("[10.0.0.1]:22", false), Err(EndpointError::Form));
        assert_eq!(ep("10.0.0.3", false), Err(EndpointError::MissingPort));
        assert_eq!(ep("[fd00::1]22", false), Err(EndpointError::Form));
        // One colon is IPv4:PORT; two or more, a bare IPv6 address (which takes no port).
        assert_eq!(ep(":22", false), Err(EndpointError::Form));
        assert_eq!(
            ep("10.0.0.3:", false),
            Err(EndpointError::Port(String::new()))
        );
        assert_eq!(ep("fd00::1:22", true).expect("bare v6").ports, None);
        assert_eq!(ep("fd00::1:22", false), Err(EndpointError::MissingPort));
        assert_eq!(ep("10.0.0.3:22:1", false), Err(EndpointError::Form));
    }

    #[test]
    fn cidr_and_contains() {
        let c = parse_cidr("10.0.0.1/24").expect("cidr");
        assert!(c.contains("10.0.0.200".parse().expect("ip")));
        assert!(!c.contains("10.0.1.2".parse().expect("ip")));
        assert!(!c.contains("fd00::1".parse().expect("ip")));
        assert!(parse_cidr("10.0.0.1/33").is_none());
        assert!(parse_cidr("10.0.0.1").is_none());
        assert!(
            parse_cidr("fd00::1/64")
                .expect("v6")
                .contains("fd00::99".parse().expect("ip"))
        );
        assert!(
            parse_cidr("0.0.0.0/0")
                .expect("any")
                .contains("1.2.3.4".parse().expect("ip"))
        );
    }

    #[test]
    fn interface_names_follow_the_kernel() {
        assert_eq!(interface_name_problem("br1"), None);
        assert_eq!(interface_name_problem("vif1.0"), None);
        assert!(interface_name_problem("").is_some());
        assert!(interface_name_problem("a-very-long-name0").is_some());
        assert!(interface_name_problem("..").is_some());
        assert!(interface_name_problem("eth0:1").is_some());
        assert!(interface_name_problem("br 1").is_some());
        assert!(interface_name_problem("br\n1").is_some());
    }

    #[test]
    fn netmasks() {
        assert_eq!(netmask_prefix_len("255.255.255.0"), Some(24));
        assert_eq!(netmask_prefix_len("255.255.255.255"), Some(32));
        assert_eq!(netmask_prefix_len("0.0.0.0"), Some(0));
        assert_eq!(netmask_prefix_len("255.0.255.0"), None);
    }
}
