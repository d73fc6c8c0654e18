//! Turns the JSON tree into the typed [`Config`], reporting every problem at once with its
//! JSON path. A field that fails is dropped (with its enclosing item when the item cannot
//! stand without it), so later checks run on what is left without cascading errors.

use super::diagnostic::{Diagnostic, quote};
use super::endpoint::{
    EndpointError, interface_name_problem, netmask_prefix_len, parse_cidr, parse_endpoint,
};
use super::json::Json;
use super::model::{
    Backend, Bridge, Config, Forward, Method, Named, PersistenceNetmask, Protocol, Public, Safety,
    Scheduler, SchedulerFlag, Sysctl,
};
use super::path::{JsonPath, ROOT};
use std::borrow::Cow;

mod ha;
mod health;
pub use ha::{SYNC_FIELDS, VRRP_FIELDS};
pub use health::HEALTH_FIELDS;
use std::net::IpAddr;
use std::sync::Arc;

pub const CONFIG_FIELDS: &[&str] = &[
    "$schema", "public", "bridges", "forwards", "safety", "sysctl", "vrrp", "sync",
];
pub const SAFETY_FIELDS: &[&str] = &["max_remove_percent", "min_services"];
pub const PUBLIC_FIELDS: &[&str] = &["address", "interface", "prefix_len", "floating"];

/// The sysctl subtrees a config may set: networking only.
pub const SYSCTL_PREFIXES: &[&str] = &["net.ipv4.", "net.ipv6.", "net.core.", "net.bridge."];
pub const BRIDGE_FIELDS: &[&str] = &["name", "address", "ports", "floating_address"];
pub const FORWARD_FIELDS: &[&str] = &[
    "name",
    "protocol",
    "listen",
    "backends",
    "scheduler",
    "method",
    "persistence",
    "persistence_netmask",
    "scheduler_flags",
    "health",
    "fallback",
];
pub const BACKEND_FIELDS: &[&str] = &[
    "address",
    "weight",
    "upper_threshold",
    "lower_threshold",
    "method",
];

/// The most seconds a persistence timeout may have: the kernel multiplies by HZ (up to
/// 1000) in 32 bits.
pub const MAX_PERSISTENCE: u64 = 2_147_483;

/// Decodes a whole document; problems go to `diags`.
pub fn decode(root: &Json, diags: &mut Vec<Diagnostic>) -> Config {
    let mut d = Decoder { diags };
    let mut config = Config {
        schema: None,
        public: Vec::new(),
        bridges: Vec::new(),
        forwards: Vec::new(),
        safety: Safety::default(),
        sysctl: Vec::new(),
        vrrp: None,
        sync: None,
    };
    let Some(fields) = d.object(root, &ROOT, CONFIG_FIELDS) else {
        return config;
    };
    if let Some(v) = fields.get("$schema") {
        config.schema = d.string(v, &ROOT.key("$schema")).map(str::to_string);
    }
    if let Some(v) = fields.get("public") {
        config.public = d.indexed_list(v, &ROOT.key("public"), Decoder::public, |p, i| p.index = i);
    }
    if let Some(v) = fields.get("bridges") {
        config.bridges =
            d.indexed_list(v, &ROOT.key("bridges"), Decoder::bridge, |b, i| b.index = i);
    }
    if let Some(v) = fields.get("forwards") {
        config.forwards = d.indexed_list(v, &ROOT.key("forwards"), Decoder::forward, |f, i| {
            f.index = i
        });
    }
    if let Some(v) = fields.get("safety") {
        config.safety = d.safety(v, &ROOT.key("safety"));
    }
    if let Some(v) = fields.get("sysctl") {
        config.sysctl = d.sysctls(v, &ROOT.key("sysctl"));
    }
    if let Some(v) = fields.get("vrrp") {
        config.vrrp = d.vrrp(v, &ROOT.key("vrrp"));
    }
    if let Some(v) = fields.get("sync") {
        config.sync = d.sync(v, &ROOT.key("sync"));
    }
    config
}

/// The present fields of one JSON object, looked up by name.
pub(super) struct Fields<'a> {
    entries: &'a [(Cow<'a, str>, Json<'a>)],
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Json<'a>> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

pub(super) struct Decoder<'d> {
    diags: &'d mut Vec<Diagnostic>,
}

impl Decoder<'_> {
    fn error(&mut self, rule: &'static str, path: &JsonPath, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(rule, path.to_string(), message));
    }

    fn errors_since(&self, mark: usize) -> bool {
        self.diags.len() > mark
    }

    fn wrong_type(&mut self, path: &JsonPath, expected: &str, found: &Json) {
        self.error(
            "type",
            path,
            format!("expected {expected}, found {}", found.kind()),
        );
    }

    /// Checks that `value` is an object whose keys are all in `known`.
    fn object<'a>(
        &mut self,
        value: &'a Json<'a>,
        path: &JsonPath,
        known: &[&str],
    ) -> Option<Fields<'a>> {
        let Json::Object(entries) = value else {
            self.wrong_type(path, "an object", value);
            return None;
        };
        for (key, _) in entries {
            if !known.contains(&&**key) {
                let hint = match closest(key, known) {
                    Some(k) => format!("; did you mean \"{k}\"?"),
                    None => format!("; known fields: {}", known.join(", ")),
                };
                self.error(
                    "unknown-field",
                    &path.key(key),
                    format!("unknown field {}{hint}", quote(key)),
                );
            }
        }
        Some(Fields { entries })
    }

    fn required<'a>(
        &mut self,
        fields: &Fields<'a>,
        path: &JsonPath,
        key: &str,
    ) -> Option<&'a Json<'a>> {
        let value = fields.get(key);
        if value.is_none() {
            self.error(
                "missing-field",
                path,
                format!("missing required field \"{key}\""),
            );
        }
        value
    }

    fn string<'a>(&mut self, value: &'a Json, path: &JsonPath) -> Option<&'a str> {
        match value {
            Json::String(s) => Some(s),
            other => {
                self.wrong_type(path, "a string", other);
                None
            }
        }
    }

    fn integer(&mut self, value: &Json, path: &JsonPath, min: u64, max: u64) -> Option<u64> {
        let Json::Number(n) = value else {
            self.wrong_type(path, "a whole number", value);
            return None;
        };
        // JSON Schema's integers include 1e3 and 1000.0: whole numbers written as floats.
        let whole = n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(f))
                .map(|f| f as u64)
        });
        match whole {
            Some(v) if (min..=max).contains(&v) => Some(v),
            _ => {
                self.error(
                    "range",
                    path,
                    format!("{} is not a whole number from {min} to {max}", shown(n)),
                );
                None
            }
        }
    }

    /// Decodes every element of an array with `item`, keeping those that decoded.
    fn list<T>(
        &mut self,
        value: &Json,
        path: &JsonPath,
        item: fn(&mut Self, &Json, &JsonPath) -> Option<T>,
    ) -> Vec<T> {
        let Json::Array(values) = value else {
            self.wrong_type(path, "an array", value);
            return Vec::new();
        };
        values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| item(self, v, &path.index(i)))
            .collect()
    }

    /// Like [`Self::list`], recording each kept item's index in the file with `set_index`.
    fn indexed_list<T>(
        &mut self,
        value: &Json,
        path: &JsonPath,
        item: fn(&mut Self, &Json, &JsonPath) -> Option<T>,
        set_index: fn(&mut T, usize),
    ) -> Vec<T> {
        let Json::Array(values) = value else {
            self.wrong_type(path, "an array", value);
            return Vec::new();
        };
        let mut kept = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            if let Some(mut t) = item(self, v, &path.index(i)) {
                set_index(&mut t, i);
                kept.push(t);
            }
        }
        kept
    }

    fn interface_name(&mut self, value: &Json, path: &JsonPath) -> Option<String> {
        let name = self.string(value, path)?;
        match interface_name_problem(name) {
            None => Some(name.to_string()),
            Some(problem) => {
                self.error(
                    "interface-name",
                    path,
                    format!("interface name {} {problem}", quote(name)),
                );
                None
            }
        }
    }

    fn ip_address(&mut self, value: &Json, path: &JsonPath) -> Option<IpAddr> {
        let text = self.string(value, path)?;
        match text.parse::<IpAddr>() {
            Ok(addr) => Some(addr),
            Err(_) if text.contains('/') && parse_cidr(text).is_some() => {
                self.error(
                    "address",
                    path,
                    format!(
                        "{} has a prefix length; give the address alone",
                        quote(text)
                    ),
                );
                None
            }
            Err(_) => {
                self.error(
                    "address",
                    path,
                    format!("{} is not an IP address", quote(text)),
                );
                None
            }
        }
    }

    fn named<T: Named>(&mut self, value: &Json, path: &JsonPath, what: &str) -> Option<T> {
        let text = self.string(value, path)?;
        if let Some(v) = T::from_name(text) {
            return Some(v);
        }
        let names = T::names();
        let lower = text.to_ascii_lowercase();
        let alias = T::aliases().iter().find(|(a, _)| *a == lower);
        let hint = if let Some((_, ours)) = alias {
            format!("; {} is called \"{ours}\" here", quote(text))
        } else if T::from_name(&lower).is_some() {
            format!("; did you mean \"{lower}\"? (names are lower case)")
        } else {
            match closest(text, &names) {
                Some(k) => format!("; did you mean \"{k}\"?"),
                None => String::new(),
            }
        };
        self.error(
            "unknown-value",
            path,
            format!(
                "{} is not a known {what} (one of: {}){hint}",
                quote(text),
                names.join(", ")
            ),
        );
        None
    }

    fn safety(&mut self, value: &Json, path: &JsonPath) -> Safety {
        let mut safety = Safety::default();
        let Some(fields) = self.object(value, path, SAFETY_FIELDS) else {
            return safety;
        };
        if let Some(v) = fields.get("max_remove_percent") {
            let p = path.key("max_remove_percent");
            if let Some(n) = self.integer(v, &p, 0, 100) {
                safety.max_remove_percent = n as u8;
            }
        }
        if let Some(v) = fields.get("min_services") {
            let p = path.key("min_services");
            if let Some(n) = self.integer(v, &p, 0, u64::from(u32::MAX)) {
                safety.min_services = n as u32;
            }
        }
        safety
    }

    fn sysctls(&mut self, value: &Json, path: &JsonPath) -> Vec<Sysctl> {
        let Json::Object(entries) = value else {
            self.wrong_type(path, "an object", value);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, v) in entries {
            let p = path.key(key);
            let plain = !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
                && !key.contains("..")
                && !key.ends_with('.');
            if !plain {
                self.error(
                    "sysctl-key",
                    &p,
                    format!(
                        "{} is not a sysctl key (dotted names of letters, digits, '_', '-' and '/', e.g. \"net.ipv4.ip_forward\")",
                        quote(key)
                    ),
                );
                continue;
            }
            if !SYSCTL_PREFIXES.iter().any(|pre| key.starts_with(pre)) {
                self.error(
                    "sysctl-key",
                    &p,
                    format!(
                        "{} is outside what portfwd manages (keys under {})",
                        quote(key),
                        SYSCTL_PREFIXES.join(", ")
                    ),
                );
                continue;
            }
            let value = match v {
                Json::Number(n) if n.as_i64().is_some() => n.to_string(),
                Json::String(s)
                    if !s.trim().is_empty()
                        && s.chars()
                            .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic()) =>
                {
                    s.trim().to_string()
                }
                other => {
                    self.error(
                        "sysctl-value",
                        &p,
                        format!(
                            "expected a whole number or a one-line string, found {}",
                            match other {
                                Json::String(_) => "an empty or multi-line string",
                                _ => other.kind(),
                            }
                        ),
                    );
                    continue;
                }
            };
            out.push(Sysctl {
                key: key.to_string(),
                value,
            });
        }
        out
    }

    fn public(&mut self, value: &Json, path: &JsonPath) -> Option<Public> {
        let mark = self.diags.len();
        let fields = self.object(value, path, PUBLIC_FIELDS)?;
        let address = self
            .required(&fields, path, "address")
            .and_then(|v| self.ip_address(v, &path.key("address")));
        let interface = fields
            .get("interface")
            .and_then(|v| self.interface_name(v, &path.key("interface")));
        let prefix_len = fields.get("prefix_len").and_then(|v| {
            let p = path.key("prefix_len");
            let max = if address.is_some_and(|a| a.is_ipv4()) {
                32
            } else {
                128
            };
            let n = self.integer(v, &p, 1, max)? as u8;
            if interface.is_none() && !self.errors_since(mark) {
                self.error(
                    "prefix-needs-interface",
                    &p,
                    "prefix_len is used when adding the address, which needs \"interface\"",
                );
            }
            Some(n)
        });
        let floating = match fields.get("floating") {
            None => false,
            Some(v) => self.boolean(v, &path.key("floating")).unwrap_or(false),
        };
        if floating && interface.is_none() && !self.errors_since(mark) {
            self.error(
                "floating-needs-interface",
                &path.key("floating"),
                "a floating address needs \"interface\": VRRP adds it there on the active host",
            );
        }
        if self.errors_since(mark) {
            return None;
        }
        Some(Public {
            index: 0,
            address: address?,
            interface,
            prefix_len,
            floating,
        })
    }

    fn bridge(&mut self, value: &Json, path: &JsonPath) -> Option<Bridge> {
        let mark = self.diags.len();
        let fields = self.object(value, path, BRIDGE_FIELDS)?;
        let name = self
            .required(&fields, path, "name")
            .and_then(|v| self.interface_name(v, &path.key("name")));
        let address = self
            .required(&fields, path, "address")
            .and_then(|v| self.cidr(v, &path.key("address")));
        let floating_address = fields
            .get("floating_address")
            .and_then(|v| self.cidr(v, &path.key("floating_address")));
        let ports = match fields.get("ports") {
            Some(v) => self.list(v, &path.key("ports"), Decoder::interface_name),
            None => Vec::new(),
        };
        if self.errors_since(mark) {
            return None;
        }
        Some(Bridge {
            index: 0,
            name: name?,
            address: address?,
            ports,
            floating_address,
        })
    }

    fn cidr(&mut self, value: &Json, path: &JsonPath) -> Option<crate::config::endpoint::Cidr> {
        let text = self.string(value, path)?;
        let cidr = parse_cidr(text);
        if cidr.is_none() {
            self.error(
                "cidr",
                path,
                format!(
                    "{} is not an address with prefix length (e.g. \"10.0.0.1/24\")",
                    quote(text)
                ),
            );
        }
        cidr
    }

    fn boolean(&mut self, value: &Json, path: &JsonPath) -> Option<bool> {
        match value {
            Json::Bool(b) => Some(*b),
            other => {
                self.wrong_type(path, "true or false", other);
                None
            }
        }
    }

    fn forward(&mut self, value: &Json, path: &JsonPath) -> Option<Forward> {
        let mark = self.diags.len();
        let fields = self.object(value, path, FORWARD_FIELDS)?;
        let name = self
            .required(&fields, path, "name")
            .and_then(|v| self.forward_name(v, &path.key("name")));
        let protocol = match fields.get("protocol") {
            Some(v) => self.named(v, &path.key("protocol"), "protocol"),
            None => Some(Protocol::Tcp),
        };
        let listen = self.required(&fields, path, "listen").and_then(|v| {
            let p = path.key("listen");
            let text = self.string(v, &p)?;
            self.endpoint(text, &p, false)
        });
        let scheduler = match fields.get("scheduler") {
            Some(v) => self.named(v, &path.key("scheduler"), "scheduler"),
            None => Some(Scheduler::Wlc),
        };
        let method = match fields.get("method") {
            Some(v) => self.named(v, &path.key("method"), "method"),
            None => Some(Method::Masq),
        };
        let persistence = fields.get("persistence").and_then(|v| {
            self.integer(v, &path.key("persistence"), 1, MAX_PERSISTENCE)
                .map(|s| s as u32)
        });
        let persistence_netmask = fields
            .get("persistence_netmask")
            .and_then(|v| self.netmask(v, &path.key("persistence_netmask")));
        let scheduler_flags = match fields.get("scheduler_flags") {
            Some(v) => self.list(v, &path.key("scheduler_flags"), |d, v, p| {
                d.named::<SchedulerFlag>(v, p, "scheduler flag")
            }),
            None => Vec::new(),
        };
        let health = fields
            .get("health")
            .and_then(|v| self.health(v, &path.key("health")));
        let fallback = fields.get("fallback").and_then(|v| {
            let p = path.key("fallback");
            let text = self.string(v, &p)?;
            self.endpoint(text, &p, true)
        });
        let forward_failed = self.errors_since(mark);
        // Bad backends are dropped one by one, so the forward's other checks still run.
        let backends = match fields.get("backends") {
            Some(v) => self.indexed_list(v, &path.key("backends"), Decoder::backend, |b, i| {
                b.index = i
            }),
            None => Vec::new(),
        };
        if forward_failed {
            return None;
        }
        Some(Forward {
            index: 0,
            name: name?,
            protocol: protocol?,
            listen: listen?,
            backends,
            scheduler: scheduler?,
            method: method?,
            persistence,
            persistence_netmask,
            scheduler_flags,
            health,
            fallback,
        })
    }

    fn forward_name(&mut self, value: &Json, path: &JsonPath) -> Option<Arc<str>> {
        let name = self.string(value, path)?;
        let valid_chars = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        let problem = if name.is_empty() {
            Some("is empty")
        } else if name.chars().count() > 64 {
            Some("is longer than 64 characters")
        } else if !valid_chars {
            Some("may contain only letters, digits, '-', '_' and '.'")
        } else if name.starts_with(['-', '.']) {
            Some("may not start with '-' or '.'")
        } else {
            None
        };
        match problem {
            None => Some(Arc::from(name)),
            Some(p) => {
                self.error(
                    "forward-name",
                    path,
                    format!(
                        "forward name {} {p} (it is written into generated files)",
                        quote(name)
                    ),
                );
                None
            }
        }
    }

    fn endpoint(
        &mut self,
        text: &str,
        path: &JsonPath,
        port_optional: bool,
    ) -> Option<super::endpoint::Endpoint> {
        match parse_endpoint(text, port_optional) {
            Ok(e) => {
                if port_optional && let Some((addr, port)) = bare_ipv6_with_port(text) {
                    self.diags.push(Diagnostic::warning(
                        "ipv6-port",
                        path.to_string(),
                        format!(
                            "{} is read as the IPv6 address {} on the listen port; for {addr} port {port} write \"[{addr}]:{port}\"",
                            quote(text),
                            e.addr
                        ),
                    ));
                }
                Some(e)
            }
            Err(err) => {
                let shown = quote(text);
                let message = match err {
                    EndpointError::Form if port_optional => {
                        format!(
                            "{shown} is not an address:port (use ADDR:PORT, ADDR:FIRST-LAST, [IPv6]:PORT or ADDR)"
                        )
                    }
                    EndpointError::Form => format!(
                        "{shown} is not an address:port (use ADDR:PORT, ADDR:FIRST-LAST or [IPv6]:PORT)"
                    ),
                    EndpointError::Port(p) => format!(
                        "{shown} is not an address:port: port {} is not a number from 1 to 65535",
                        quote(&p)
                    ),
                    EndpointError::Reversed(a, b) => {
                        format!("{shown} is not an address:port: the range {a}-{b} runs backwards")
                    }
                    EndpointError::MissingPort => {
                        format!("{shown} has no port (use ADDR:PORT or [IPv6]:PORT)")
                    }
                };
                self.error("address-port", path, message);
                None
            }
        }
    }

    fn backend(&mut self, value: &Json, path: &JsonPath) -> Option<Backend> {
        if let Json::String(text) = value {
            return Some(Backend {
                index: 0,
                address: self.endpoint(text, path, true)?,
                weight: 1,
                upper_threshold: 0,
                lower_threshold: 0,
                method: None,
            });
        }
        if !matches!(value, Json::Object(_)) {
            self.wrong_type(path, "a string \"ADDR:PORT\" or an object", value);
            return None;
        }
        let mark = self.diags.len();
        let fields = self.object(value, path, BACKEND_FIELDS)?;
        let address = self.required(&fields, path, "address").and_then(|v| {
            let p = path.key("address");
            let text = self.string(v, &p)?;
            self.endpoint(text, &p, true)
        });
        let mut number = |key: &str, max: u64, default: u32| match fields.get(key) {
            None => Some(default),
            Some(v) => self.integer(v, &path.key(key), 0, max).map(|n| n as u32),
        };
        let weight = number("weight", 65535, 1);
        let upper_threshold = number("upper_threshold", u64::from(u32::MAX), 0);
        let lower_threshold = number("lower_threshold", u64::from(u32::MAX), 0);
        let method = fields
            .get("method")
            .map(|v| self.named(v, &path.key("method"), "method"));
        if self.errors_since(mark) {
            return None;
        }
        Some(Backend {
            index: 0,
            address: address?,
            weight: weight?,
            upper_threshold: upper_threshold?,
            lower_threshold: lower_threshold?,
            method: method.flatten(),
        })
    }

    fn netmask(&mut self, value: &Json, path: &JsonPath) -> Option<PersistenceNetmask> {
        match value {
            Json::String(text) => match netmask_prefix_len(text) {
                Some(prefix_len) => Some(PersistenceNetmask {
                    prefix_len,
                    dotted: true,
                }),
                None => {
                    self.error(
                        "netmask",
                        path,
                        format!(
                            "{} is not an IPv4 netmask such as \"255.255.255.0\"",
                            quote(text)
                        ),
                    );
                    None
                }
            },
            Json::Number(_) => self
                .integer(value, path, 0, 128)
                .map(|n| PersistenceNetmask {
                    prefix_len: n as u8,
                    dotted: false,
                }),
            other => {
                self.wrong_type(path, "a netmask string or a prefix length", other);
                None
            }
        }
    }
}

/// An IPv6 address without brackets whose last group looks like a port (`fd00::2:22`):
/// the address before it and the port, when that reading is plausible too.
/// A number as a person wrote it: `1e3` is 1000, `1000.0` too (serde_json prints floats with
/// a fraction); integers as they are.
pub fn shown(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f)
            if n.as_u64().is_none()
                && n.as_i64().is_none()
                && f.fract() == 0.0
                && f.abs() < 1e21 =>
        {
            format!("{f:.0}")
        }
        _ => n.to_string(),
    }
}

fn bare_ipv6_with_port(text: &str) -> Option<(std::net::Ipv6Addr, u16)> {
    if text.starts_with('[') || !text.contains("::") {
        return None;
    }
    let (addr, last) = text.rsplit_once(':')?;
    if last.is_empty() || last.len() > 5 || !last.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = last.parse().ok().filter(|p| *p > 0)?;
    Some((addr.parse().ok()?, port))
}

/// The candidate closest to `word`, when it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d < c.len().max(word.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
