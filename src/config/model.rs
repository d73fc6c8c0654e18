//! The config file's data model, format v1. These types are what the decoder produces and
//! what the published JSON Schema is generated from (the doc comments become its
//! descriptions), so the two cannot drift apart.

use super::endpoint::{Cidr, Endpoint};
use schemars::JsonSchema;
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

const ENDPOINT_PATTERN: &str =
    r"^(\[[0-9A-Fa-f:.]+\]|[0-9]{1,3}(\.[0-9]{1,3}){3}):[0-9]{1,5}(-[0-9]{1,5})?$";
const BACKEND_PATTERN: &str = r"^(\[[0-9A-Fa-f:.]+\]|[0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)(:[0-9]{1,5}(-[0-9]{1,5})?)?$";
const CIDR_PATTERN: &str = r"^[0-9A-Fa-f:.]+/[0-9]{1,3}$";
const IFNAME_PATTERN: &str = r"^[^/:\s]{1,15}$";
pub const FORWARD_NAME_PATTERN: &str = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$";

/// A portfwd configuration: the host's public addresses, its guest bridges and the port
/// forwards (IPVS virtual services) to keep in the kernel.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields, title = "portfwd configuration (format v1)")]
pub struct Config {
    /// The URI of this JSON Schema, for editors. portfwd ignores it.
    #[schemars(rename = "$schema")]
    pub schema: Option<String>,
    /// The host's public addresses. portfwd manages IPVS services only on these addresses;
    /// services on any other address are never touched.
    #[schemars(default, extend("default" = []))]
    pub public: Vec<Public>,
    /// Bridges that connect the guests (domUs, VMs, containers) to the host.
    #[schemars(default, extend("default" = []))]
    pub bridges: Vec<Bridge>,
    /// The port forwards. Each becomes one IPVS virtual service per listen port.
    #[schemars(default, extend("default" = []))]
    pub forwards: Vec<Forward>,
    /// Limits that make `portfwd apply` refuse a plan that removes too much (unless `--force`).
    #[schemars(default)]
    pub safety: Safety,
    /// Extra kernel settings to keep, e.g. `{"net.ipv4.vs.expire_nodest_conn": 1}`. Only keys
    /// under `net.ipv4.`, `net.ipv6.`, `net.core.` and `net.bridge.`. portfwd already sets
    /// `net.ipv4.ip_forward` / `net.ipv6.conf.all.forwarding` to 1 for masq forwards.
    #[schemars(
        default,
        with = "std::collections::BTreeMap<String, SysctlValue>",
        extend("propertyNames" = { "pattern": r"^net\.(ipv4|ipv6|core|bridge)\.[A-Za-z0-9_./-]+$" })
    )]
    pub sysctl: Vec<Sysctl>,
    /// An active/backup pair: the VRRP instance (run by keepalived, from `portfwd gen
    /// keepalived`) that moves the `floating` public addresses and the bridges'
    /// `floating_address` between the two hosts.
    pub vrrp: Option<Vrrp>,
    /// The kernel's IPVS connection sync daemons, a master and a backup on each host, so that
    /// established connections survive a failover. Without `sync`, daemons portfwd did not
    /// start are left alone.
    pub sync: Option<SyncDaemons>,
}

/// The VRRP instance of an active/backup pair. The two hosts' configs differ only in
/// `priority` (and their own bridge address).
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Vrrp {
    /// The interface VRRP advertisements go out on, e.g. `br1`.
    #[schemars(regex(pattern = IFNAME_PATTERN))]
    pub interface: String,
    /// The virtual router id, the same on both hosts and unique on the segment.
    #[schemars(range(min = 1, max = 255))]
    pub router_id: u8,
    /// This host's priority; the higher one holds the addresses. Give the two hosts
    /// different priorities.
    #[schemars(range(min = 1, max = 254))]
    pub priority: u8,
    /// Seconds between advertisements (default 1).
    #[schemars(range(min = 1, max = 255), default = "one_second")]
    pub advert_interval: u8,
    /// The peer's address for unicast advertisements; multicast (224.0.0.18) without it.
    #[schemars(default, extend("default" = []), with = "Vec<String>")]
    pub unicast_peers: Vec<IpAddr>,
    /// Take the addresses back from a lower-priority peer when this host returns (default
    /// false: a rebooted host would take them before its sync daemon has the connections).
    #[schemars(default)]
    pub preempt: bool,
}

fn one_second() -> u8 {
    1
}

/// The IPVS connection sync daemons: each host runs a master (sends its connections) and a
/// backup (receives the peer's) on `interface`.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SyncDaemons {
    /// The interface the sync messages go out and come in on, e.g. `br1`.
    #[schemars(regex(pattern = IFNAME_PATTERN))]
    pub interface: String,
    /// The sync id, the same on both hosts; messages with another id are ignored.
    #[schemars(range(min = 0, max = 255))]
    pub sync_id: u8,
    /// Largest sync message payload in bytes (default: from the interface's MTU).
    #[schemars(range(min = 1, max = 65507))]
    pub max_len: Option<u16>,
    /// Multicast group (default 224.0.0.81), IPv4 or IPv6.
    #[schemars(with = "Option<String>")]
    pub group: Option<IpAddr>,
    /// UDP port (default 8848).
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// Multicast TTL (default 1).
    #[schemars(range(min = 1, max = 255))]
    pub ttl: Option<u8>,
}

/// One kernel setting from the `sysctl` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    /// Dotted key, e.g. `net.ipv4.vs.expire_nodest_conn`.
    pub key: String,
    /// The value as written to /proc/sys (integers as decimal text).
    pub value: String,
}

/// A sysctl value: an integer, or a string (e.g. several numbers separated by spaces).
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
pub enum SysctlValue {
    Integer(i64),
    Text(String),
}

/// When a plan removes or replaces more than `max_remove_percent` of the managed services,
/// and there are at least `min_services` of them, `apply` refuses without `--force`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(deny_unknown_fields, default)]
pub struct Safety {
    /// The largest share of managed services, in percent, that one apply may remove or
    /// replace without `--force`.
    #[schemars(range(min = 0, max = 100))]
    pub max_remove_percent: u8,
    /// Below this many managed services in the kernel the percentage is not checked.
    pub min_services: u32,
}

impl Default for Safety {
    fn default() -> Self {
        Safety {
            max_remove_percent: 30,
            min_services: 10,
        }
    }
}

/// A public address of the host.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Public {
    /// Index of this item in the file's array, for messages (items that failed to decode
    /// are dropped, so positions in the decoded list can differ).
    #[schemars(skip)]
    pub index: usize,
    /// An IPv4 or IPv6 address of this host, without prefix length, e.g. `203.0.113.10`.
    #[schemars(with = "String")]
    pub address: IpAddr,
    /// The interface that carries the address, e.g. `eth0`. With it, `apply` adds the
    /// address there when the host lacks it; without it, a missing address is an error.
    #[schemars(regex(pattern = IFNAME_PATTERN))]
    pub interface: Option<String>,
    /// The prefix length used when `apply` adds the address (default 32 for IPv4, 128 for
    /// IPv6). Needs `interface`.
    #[schemars(range(min = 1, max = 128))]
    pub prefix_len: Option<u8>,
    /// Moved between the two hosts of a pair by VRRP (needs `vrrp` and `interface`):
    /// portfwd never adds or removes it, but keeps its services on both hosts.
    #[schemars(default, extend("default" = false))]
    pub floating: bool,
}

/// A bridge for the guests; the host's address on it is the guests' gateway.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Bridge {
    /// Index of this item in the file's array, for messages (items that failed to decode
    /// are dropped, so positions in the decoded list can differ).
    #[schemars(skip)]
    pub index: usize,
    /// The bridge's interface name (1-15 bytes, no `/`, `:` or white space), e.g. `br1`.
    #[schemars(regex(pattern = IFNAME_PATTERN))]
    pub name: String,
    /// The host's address on the bridge with its prefix length, e.g. `10.0.0.1/24`.
    #[schemars(with = "String", regex(pattern = CIDR_PATTERN))]
    pub address: Cidr,
    /// Interfaces to enslave to the bridge, e.g. `["eth1"]`. May be empty.
    #[schemars(
        default,
        extend("default" = []),
        inner(regex(pattern = IFNAME_PATTERN))
    )]
    pub ports: Vec<String>,
    /// The guests' gateway address of an active/backup pair, with prefix length, moved by
    /// VRRP with the floating public addresses (needs `vrrp`). portfwd never adds or removes
    /// it; `address` stays this host's own.
    #[schemars(with = "Option<String>", regex(pattern = CIDR_PATTERN))]
    pub floating_address: Option<Cidr>,
}

/// A port forward: traffic to `listen` is spread over `backends`.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Forward {
    /// Index of this item in the file's array, for messages (items that failed to decode
    /// are dropped, so positions in the decoded list can differ).
    #[schemars(skip)]
    pub index: usize,
    /// A unique name: letters, digits, `-`, `_` and `.`, at most 64 characters, not starting
    /// with `-` or `.`.
    // (An `Arc`: the desired state's services and the plan's changes share it, not copy it.)
    #[schemars(regex(pattern = FORWARD_NAME_PATTERN))]
    pub name: Arc<str>,
    /// The transport protocol.
    #[schemars(default, extend("default" = "tcp"))]
    pub protocol: Protocol,
    /// `ADDR:PORT` or `ADDR:FIRST-LAST` (IPv6 as `[2001:db8::1]:443`); ADDR must be one of
    /// `public[].address`. A range makes one IPVS service per port.
    #[schemars(with = "String", regex(pattern = ENDPOINT_PATTERN))]
    pub listen: Endpoint,
    /// The real servers. A string is `ADDR:PORT`, `ADDR:FIRST-LAST` (as long as the listen
    /// range) or a bare `ADDR` (the same port(s) as `listen`).
    #[schemars(default, with = "Vec<BackendForm>", extend("default" = []))]
    pub backends: Vec<Backend>,
    /// The IPVS scheduler.
    #[schemars(default, extend("default" = "wlc"))]
    pub scheduler: Scheduler,
    /// How packets reach the backends: `masq` (NAT, the only one that can change the port),
    /// `route` (direct routing) or `tunnel` (IP-in-IP).
    #[schemars(default, extend("default" = "masq"))]
    pub method: Method,
    /// Persistence timeout in seconds: a client keeps its backend while it returns within it.
    #[schemars(range(min = 1, max = 2147483))]
    pub persistence: Option<u32>,
    /// Clients that share this netmask (IPv4: `255.255.255.0` or a prefix length; IPv6: a
    /// prefix length 1-128) share the persistence entry. Needs `persistence`.
    pub persistence_netmask: Option<PersistenceNetmask>,
    /// Scheduler flags: `sh-fallback`/`sh-port` with `sh`, `mh-fallback`/`mh-port` with `mh`.
    #[schemars(default, extend("default" = []))]
    pub scheduler_flags: Vec<SchedulerFlag>,
    /// Health checks of the backends, run by `portfwd run` (default: none; every backend
    /// counts as up).
    pub health: Option<Health>,
    /// A "sorry server" `ADDR:PORT`, given weight 1 only while every backend is down
    /// (needs `health`).
    #[schemars(with = "Option<String>", regex(pattern = ENDPOINT_PATTERN))]
    pub fallback: Option<Endpoint>,
}

/// How `portfwd run` checks a forward's backends. Each distinct address, port and check is
/// probed once, however many forwards share it.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Health {
    /// `tcp` (a connection), `http`/`https` (the status code of a GET), `exec` (a command's
    /// exit status: 0 is up) or `none` (no checks).
    pub check: CheckKind,
    /// Seconds between checks of one backend; fractions allowed.
    #[schemars(default, with = "f64", range(min = 0.1, max = 3600), extend("default" = 2))]
    pub interval: std::time::Duration,
    /// Seconds a check may take; less than `interval`.
    #[schemars(default, with = "f64", range(min = 0.01, max = 3600), extend("default" = 1))]
    pub timeout: std::time::Duration,
    /// Consecutive successes that mark a down backend up.
    #[schemars(default, range(min = 1, max = 100), extend("default" = 2))]
    pub rise: u32,
    /// Consecutive failures that mark an up backend down.
    #[schemars(default, range(min = 1, max = 100), extend("default" = 3))]
    pub fall: u32,
    /// Probe this port instead of the backend's.
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// http/https: the request path.
    #[schemars(default, extend("default" = "/"))]
    pub path: String,
    /// http/https: the Host header (and the TLS server name).
    pub host: Option<String>,
    /// http/https: the inclusive range of status codes that mean up, `[200, 399]` by
    /// default; a single code is allowed.
    #[schemars(default, with = "Vec<u16>", extend("default" = [200, 399]))]
    pub expect_status: (u16, u16),
    /// exec: the program and its arguments; `{address}` and `{port}` are replaced by the
    /// backend's. Exit status 0 is up.
    #[schemars(default, extend("default" = []))]
    pub command: Vec<String>,
    /// `inhibit`: weight 0, open connections continue; `remove`: the backend leaves IPVS.
    #[schemars(default, extend("default" = "inhibit"))]
    pub on_failure: OnFailure,
    /// https: verify the backend's certificate (off by default: backends often have
    /// self-signed ones).
    #[schemars(default, extend("default" = false))]
    pub verify_tls: bool,
}

impl Public {
    /// The prefix length apply adds the address with (VRRP too, when it floats).
    pub fn prefix_len_or_default(&self) -> u8 {
        self.prefix_len
            .unwrap_or(if self.address.is_ipv4() { 32 } else { 128 })
    }
}

/// An address VRRP moves between the hosts of a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Floating {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub interface: String,
}

impl Config {
    /// The floating public addresses, then the bridges' floating addresses, in file order.
    pub fn floating(&self) -> Vec<Floating> {
        let public = self.public.iter().filter(|p| p.floating).filter_map(|p| {
            Some(Floating {
                addr: p.address,
                prefix_len: p.prefix_len_or_default(),
                interface: p.interface.clone()?,
            })
        });
        let bridges = self.bridges.iter().filter_map(|b| {
            let f = b.floating_address?;
            Some(Floating {
                addr: f.addr,
                prefix_len: f.prefix_len,
                interface: b.name.clone(),
            })
        });
        public.chain(bridges).collect()
    }
}

impl Forward {
    /// How many IPVS services the forward makes: one per listen port.
    pub fn service_count(&self) -> u64 {
        u64::from(self.listen.ports.map_or(1, |p| p.len()))
    }

    /// How packets reach `backend`: its own method, or the forward's.
    pub fn method_of(&self, backend: &Backend) -> Method {
        backend.method.unwrap_or(self.method)
    }

    /// Whether packets reach anything of this forward by `method`: a backend, the fallback
    /// (always the forward's method), or, without backends, the forward as declared.
    pub fn uses(&self, method: Method) -> bool {
        let own = self.fallback.is_some() || self.backends.is_empty();
        own && self.method == method || self.backends.iter().any(|b| self.method_of(b) == method)
    }
}

/// A real server behind a forward, in its long form.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields, inline)]
pub struct Backend {
    /// Index of this backend in the file's `backends` array, for messages.
    #[schemars(skip)]
    pub index: usize,
    /// `ADDR:PORT`, `ADDR:FIRST-LAST` or a bare `ADDR` (the same port(s) as `listen`).
    #[schemars(with = "String", regex(pattern = BACKEND_PATTERN))]
    pub address: Endpoint,
    /// The scheduling weight, 0-65535; 0 sends no new connections (quiesced).
    #[schemars(default, range(max = 65535), extend("default" = 1))]
    pub weight: u32,
    /// Above this many connections the backend gets no new ones; 0 means no limit.
    #[schemars(default, extend("default" = 0))]
    pub upper_threshold: u32,
    /// Below this many connections an overloaded backend gets new ones again; at most
    /// upper_threshold.
    #[schemars(default, extend("default" = 0))]
    pub lower_threshold: u32,
    /// How packets reach this backend, when not as the forward's `method` says: IPVS sets
    /// the method per destination, so one service may mix them (`ipvsadm -a ... -g`).
    pub method: Option<Method>,
}

/// A real server: a string `ADDR:PORT`, `ADDR:FIRST-LAST` or `ADDR` (same port(s) as
/// `listen`), or an object with `address` and optional weight and thresholds.
#[derive(JsonSchema)]
#[schemars(untagged, rename = "Backend")]
#[allow(dead_code)] // only its schema is used
enum BackendForm {
    Short(#[schemars(regex(pattern = BACKEND_PATTERN))] String),
    Long(Backend),
}

/// The persistence netmask, normalized to a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersistenceNetmask {
    pub prefix_len: u8,
    /// Written as a dotted IPv4 netmask (only valid for IPv4 forwards).
    pub dotted: bool,
}

impl JsonSchema for PersistenceNetmask {
    fn schema_name() -> Cow<'static, str> {
        "PersistenceNetmask".into()
    }

    fn json_schema(_generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An IPv4 netmask such as `255.255.255.0`, or a prefix length (0-32 for IPv4, 1-128 for IPv6).",
            "anyOf": [
                { "type": "string", "pattern": r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$" },
                { "type": "integer", "minimum": 0, "maximum": 128 }
            ]
        })
    }
}

/// How a backend's health is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
#[schemars(rename_all = "lowercase")]
pub enum CheckKind {
    Tcp,
    Http,
    Https,
    Exec,
    None,
}

/// What a failed check does to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema, Default)]
#[schemars(rename_all = "lowercase")]
pub enum OnFailure {
    #[default]
    Inhibit,
    Remove,
}

/// A transport protocol that IPVS balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema, Default)]
#[schemars(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

/// How IPVS forwards packets to a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema, Default)]
#[schemars(rename_all = "lowercase")]
pub enum Method {
    /// NAT: rewrites the destination address and port; replies must pass back through the host.
    #[default]
    Masq,
    /// Direct routing: the backend must own the virtual address; ports cannot change.
    Route,
    /// IP-in-IP tunnel; ports cannot change.
    Tunnel,
}

/// The IPVS schedulers of mainline Linux (module `ip_vs_NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema, Default)]
#[schemars(rename_all = "lowercase")]
pub enum Scheduler {
    Rr,
    Wrr,
    Lc,
    #[default]
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Fo,
    Ovf,
    Mh,
    Twos,
}

/// A scheduler flag (IPVS's SCHED1/SCHED2 service flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
#[schemars(rename_all = "kebab-case")]
pub enum SchedulerFlag {
    /// `sh`: pick another backend when the hashed one is unavailable.
    ShFallback,
    /// `sh`: hash the source port too.
    ShPort,
    /// `mh`: pick another backend when the hashed one is unavailable.
    MhFallback,
    /// `mh`: hash the source port too.
    MhPort,
}

/// Gives an enum's spelling in the config, and parses it back.
pub trait Named: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
    fn from_name(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == text)
    }
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|v| v.name()).collect()
    }
    /// Other tools' words for a value (ipvsadm's, keepalived's): (alias, our name).
    fn aliases() -> &'static [(&'static str, &'static str)];
}

macro_rules! named {
    (@aliases) => { &[] };
    (@aliases $aliases:expr) => { $aliases };
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? } $(aliases $aliases:expr)?) => {
        impl Named for $ty {
            const ALL: &'static [Self] = &[$($ty::$variant),+];
            fn name(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
            fn aliases() -> &'static [(&'static str, &'static str)] {
                named!(@aliases $($aliases)?)
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named!(Protocol { Tcp => "tcp", Udp => "udp", Sctp => "sctp" });
// ipvsadm's -g/-i/-m are "gatewaying"/"ipip"/"masquerading"; keepalived's lb_kind DR/TUN/NAT.
named!(Method { Masq => "masq", Route => "route", Tunnel => "tunnel" } aliases &[
    ("nat", "masq"), ("masquerading", "masq"), ("m", "masq"),
    ("dr", "route"), ("direct", "route"), ("gatewaying", "route"), ("g", "route"),
    ("tun", "tunnel"), ("ipip", "tunnel"), ("i", "tunnel"),
]);
named!(Scheduler {
    Rr => "rr", Wrr => "wrr", Lc => "lc", Wlc => "wlc", Lblc => "lblc", Lblcr => "lblcr",
    Dh => "dh", Sh => "sh", Sed => "sed", Nq => "nq", Fo => "fo", Ovf => "ovf", Mh => "mh",
    Twos => "twos",
});
named!(CheckKind { Tcp => "tcp", Http => "http", Https => "https", Exec => "exec", None => "none" });
named!(OnFailure { Inhibit => "inhibit", Remove => "remove" });
named!(SchedulerFlag {
    ShFallback => "sh-fallback", ShPort => "sh-port", MhFallback => "mh-fallback",
    MhPort => "mh-port",
});

impl SchedulerFlag {
    /// The scheduler this flag belongs to.
    pub fn scheduler(self) -> Scheduler {
        match self {
            SchedulerFlag::ShFallback | SchedulerFlag::ShPort => Scheduler::Sh,
            SchedulerFlag::MhFallback | SchedulerFlag::MhPort => Scheduler::Mh,
        }
    }
}
