//! Text views of a table: `ipvsadm -S -n` (byte for byte) and a human listing in the spirit
//! of `ipvsadm -L -n`.

use super::ipvs::{
    DestEntry, Family, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, Method, ServiceEntry, ServiceKey,
    Table, TunnelType, flags, tun_flags,
};
use std::collections::HashMap;
use std::fmt::Write;
use std::net::IpAddr;

/// The service option as ipvsadm writes it: `-t 203.0.113.10:80`, `-f 7`, `-f 7 -6`.
fn service_switch(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Tuple {
            protocol,
            addr,
            port,
        } => {
            let switch = match *protocol {
                IPPROTO_TCP => "-t".to_string(),
                IPPROTO_UDP => "-u".to_string(),
                IPPROTO_SCTP => "--sctp-service".to_string(),
                other => format!("--protocol-{other}"),
            };
            format!("{switch} {}", std::net::SocketAddr::new(*addr, *port))
        }
        ServiceKey::Fwmark {
            family: Family::V4,
            mark,
        } => format!("-f {mark}"),
        ServiceKey::Fwmark {
            family: Family::V6,
            mark,
        } => format!("-f {mark} -6"),
    }
}

/// Scheduler flag names as ipvsadm prints them for this scheduler.
fn sched_flag_names(scheduler: &str, bits: u32) -> Vec<&'static str> {
    let names: [&str; 3] = match scheduler {
        "sh" => ["sh-fallback", "sh-port", "flag-3"],
        "mh" => ["mh-fallback", "mh-port", "flag-3"],
        _ => ["flag-1", "flag-2", "flag-3"],
    };
    [flags::SCHED1, flags::SCHED2, flags::SCHED3]
        .iter()
        .zip(names)
        .filter(|(bit, _)| bits & **bit != 0)
        .map(|(_, name)| name)
        .collect()
}

fn netmask_text(entry: &ServiceEntry) -> Option<String> {
    let s = &entry.service;
    match s.key.family() {
        Family::V4 if s.netmask != u32::MAX => {
            Some(std::net::Ipv4Addr::from(s.netmask).to_string())
        }
        Family::V6 if s.netmask != 128 => Some(s.netmask.to_string()),
        _ => None,
    }
}

fn method_switch(method: Method) -> &'static str {
    match method {
        Method::Masq => "-m",
        Method::Tunnel => "-i",
        Method::Route | Method::Local | Method::Bypass => "-g",
    }
}

/// libipvs compares addresses by subtracting 32-bit words into an int, so the order wraps
/// when addresses differ by 2^31 or more. We reproduce it for byte-identical output.
fn ipvsadm_cmp_addr(a: IpAddr, b: IpAddr) -> i64 {
    let words = |x: IpAddr| -> Vec<u32> {
        match x {
            IpAddr::V4(v) => vec![u32::from(v)],
            IpAddr::V6(v) => v
                .octets()
                .chunks(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        }
    };
    for (x, y) in words(a).into_iter().zip(words(b)) {
        let r = x.wrapping_sub(y) as i32;
        if r != 0 {
            return i64::from(r);
        }
    }
    0
}

fn ipvsadm_cmp_services(a: &ServiceEntry, b: &ServiceEntry) -> i64 {
    let (ka, kb) = (&a.service.key, &b.service.key);
    let fw = |k: &ServiceKey| match k {
        ServiceKey::Fwmark { mark, .. } => *mark,
        _ => 0,
    };
    let r = i64::from(fw(ka).wrapping_sub(fw(kb)) as i32);
    if r != 0 {
        return r;
    }
    let af = |k: &ServiceKey| if k.family() == Family::V4 { 2i64 } else { 10 };
    if af(ka) != af(kb) {
        return af(ka) - af(kb);
    }
    match (ka, kb) {
        (
            ServiceKey::Tuple {
                protocol: pa,
                addr: aa,
                port: pta,
            },
            ServiceKey::Tuple {
                protocol: pb,
                addr: ab,
                port: ptb,
            },
        ) => {
            if pa != pb {
                return i64::from(*pa) - i64::from(*pb);
            }
            let r = ipvsadm_cmp_addr(*aa, *ab);
            if r != 0 {
                return r;
            }
            i64::from(*pta) - i64::from(*ptb)
        }
        _ => 0,
    }
}

fn ipvsadm_cmp_dests(a: &DestEntry, b: &DestEntry) -> i64 {
    let r = ipvsadm_cmp_addr(a.dest.key.addr, b.dest.key.addr);
    if r != 0 {
        return r;
    }
    i64::from(a.dest.key.port) - i64::from(b.dest.key.port)
}

/// glibc's qsort for arrays that fit in memory: a top-down merge sort that takes from the
/// left run while `cmp <= 0`. With ipvsadm's comparators (not a total order) only this
/// exact procedure gives the same result.
fn glibc_msort<T: Copy>(items: &mut [T], cmp: &dyn Fn(&T, &T) -> i64) {
    let n = items.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    glibc_msort(&mut items[..n1], cmp);
    glibc_msort(&mut items[n1..], cmp);
    let mut merged = Vec::with_capacity(n);
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&items[i], &items[j]) <= 0 {
            merged.push(items[i]);
            i += 1;
        } else {
            merged.push(items[j]);
            j += 1;
        }
    }
    merged.extend_from_slice(&items[i..n1]);
    merged.extend_from_slice(&items[j..n]);
    items.copy_from_slice(&merged);
}

fn ipvsadm_order(table: &Table) -> Vec<(&ServiceEntry, Vec<&DestEntry>)> {
    let mut services: Vec<&ServiceEntry> = table.services.values().collect();
    glibc_msort(&mut services, &|a, b| ipvsadm_cmp_services(a, b));
    services
        .into_iter()
        .map(|s| {
            let mut dests: Vec<&DestEntry> = s.dests.values().collect();
            glibc_msort(&mut dests, &|a, b| ipvsadm_cmp_dests(a, b));
            (s, dests)
        })
        .collect()
}

/// Exactly what `ipvsadm -S -n` prints for this table.
pub fn ipvsadm_save(table: &Table) -> String {
    save(table, false)
}

/// Rules for `ipvsadm -R` that restore the whole table: `ipvsadm -S -n`'s text plus
/// `-x`/`-y` on destinations with thresholds, which `-S` leaves out but `-R` reads.
pub fn ipvsadm_restore_rules(table: &Table) -> String {
    save(table, true)
}

fn save(table: &Table, thresholds: bool) -> String {
    let mut out = String::new();
    for (entry, dests) in ipvsadm_order(table) {
        let s = &entry.service;
        let svc = service_switch(&s.key);
        let _ = write!(out, "-A {svc} -s {}", s.scheduler);
        if s.is_persistent() {
            let _ = write!(out, " -p {}", s.timeout);
            if let Some(mask) = netmask_text(entry) {
                let _ = write!(out, " -M {mask}");
            }
        }
        if let Some(pe) = &s.pe_name {
            let _ = write!(out, " --pe {pe}");
        }
        if s.flags & flags::ONEPACKET != 0 {
            let _ = write!(out, " -o");
        }
        let sched = sched_flag_names(&s.scheduler, s.flags);
        if !sched.is_empty() {
            let _ = write!(out, " -b {}", sched.join(","));
        }
        out.push('\n');
        for d in dests {
            let dest = &d.dest;
            let _ = write!(
                out,
                "-a {svc} -r {} {} -w {}",
                std::net::SocketAddr::new(dest.key.addr, dest.key.port),
                method_switch(dest.method),
                dest.weight
            );
            if let Some(t) = dest.tunnel {
                let _ = write!(out, " --tun-type {}", t.kind.name());
                if t.kind == TunnelType::Gue {
                    let _ = write!(out, " --tun-port {}", t.port);
                }
                if t.kind != TunnelType::Ipip {
                    let csum = match t.flags {
                        tun_flags::CSUM => " --tun-csum",
                        tun_flags::REMCSUM => " --tun-remcsum",
                        _ => " --tun-nocsum",
                    };
                    out.push_str(csum);
                }
            }
            if thresholds && (dest.upper_threshold != 0 || dest.lower_threshold != 0) {
                let _ = write!(
                    out,
                    " -x {} -y {}",
                    dest.upper_threshold, dest.lower_threshold
                );
            }
            out.push('\n');
        }
    }
    out
}

/// A listing in the spirit of `ipvsadm -L -n`; `names` maps services to forward names.
pub fn human(table: &Table, header: Option<String>, names: &HashMap<ServiceKey, String>) -> String {
    let mut out = String::new();
    if let Some(h) = header {
        out.push_str(&h);
        out.push('\n');
    }
    out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
    out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
    for (entry, dests) in ipvsadm_order(table) {
        let s = &entry.service;
        let (prot, addr) = match s.key {
            ServiceKey::Tuple {
                protocol,
                addr,
                port,
            } => {
                let prot = match protocol {
                    IPPROTO_TCP => "TCP".to_string(),
                    IPPROTO_UDP => "UDP".to_string(),
                    IPPROTO_SCTP => "SCTP".to_string(),
                    other => format!("P{other}"),
                };
                (prot, std::net::SocketAddr::new(addr, port).to_string())
            }
            ServiceKey::Fwmark { family, mark } => (
                "FWM".to_string(),
                if family == Family::V6 {
                    format!("{mark} IPv6")
                } else {
                    mark.to_string()
                },
            ),
        };
        let mut line = format!("{prot:<4} {addr} {}", s.scheduler);
        let sched = sched_flag_names(&s.scheduler, s.flags);
        if !sched.is_empty() {
            let _ = write!(line, " ({})", sched.join(","));
        }
        if s.is_persistent() {
            let _ = write!(line, " persistent {}", s.timeout);
            if let Some(mask) = netmask_text(entry) {
                let _ = write!(line, " mask {mask}");
            }
        }
        if let Some(pe) = &s.pe_name {
            let _ = write!(line, " pe {pe}");
        }
        if s.flags & flags::ONEPACKET != 0 {
            line.push_str(" ops");
        }
        if let Some(name) = names.get(&s.key) {
            let _ = write!(line, "  # {name}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
        for d in dests {
            let method = match d.dest.method {
                Method::Masq => "Masq",
                Method::Local => "Local",
                Method::Tunnel => "Tunnel",
                Method::Route => "Route",
                Method::Bypass => "Bypass",
            };
            let _ = writeln!(
                out,
                "  -> {:<28} {:<7} {:<6} {:<10} {}",
                std::net::SocketAddr::new(d.dest.key.addr, d.dest.key.port).to_string(),
                method,
                d.dest.weight,
                d.counters.active_conns,
                d.counters.inactive_conns
            );
        }
    }
    out
}
