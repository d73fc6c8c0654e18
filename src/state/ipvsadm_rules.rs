//! Reads the rules format of `ipvsadm -S -n` (as in Debian's /etc/ipvsadm.rules) into a
//! table: `-A` service lines and `-a` destination lines, with the options ipvsadm writes
//! plus `-x`/`-y` thresholds. Comment and blank lines are skipped.

use super::ipvs::{
    Dest, DestCounters, DestEntry, DestKey, Family, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, Method,
    Service, ServiceEntry, ServiceKey, Table, Tunnel, TunnelType, flags, tun_flags,
};
use std::net::IpAddr;

/// Parses rules text; errors name the line.
pub fn parse(text: &str) -> Result<Table, String> {
    let mut table = Table::default();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        parse_line(line, &mut table).map_err(|e| format!("line {}: {e}: {line}", n + 1))?;
    }
    Ok(table)
}

fn socket(text: &str) -> Result<(IpAddr, u16), String> {
    let (addr, port) = if let Some(rest) = text.strip_prefix('[') {
        let (a, p) = rest.split_once("]:").ok_or("bad [address]:port")?;
        (a, p)
    } else {
        text.rsplit_once(':').ok_or("missing :port")?
    };
    Ok((
        addr.parse().map_err(|_| format!("bad address {addr}"))?,
        port.parse().map_err(|_| format!("bad port {port}"))?,
    ))
}

/// The word after an option, which is its value.
fn value<'a>(name: &str, words: &mut impl Iterator<Item = &'a str>) -> Result<String, String> {
    words
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("{name} needs a value"))
}

fn parse_line(line: &str, table: &mut Table) -> Result<(), String> {
    let mut rest = line.split_whitespace();
    let verb = rest.next().ok_or("empty")?;
    let mut key: Option<ServiceKey> = None;
    let mut fwmark: Option<u32> = None;
    let mut v6 = false;
    let mut scheduler = "wlc".to_string();
    let mut timeout: Option<u32> = None;
    let mut netmask: Option<String> = None;
    let mut pe: Option<String> = None;
    let mut svc_flags = 0;
    let mut sched_flags: Vec<String> = Vec::new();
    let mut real: Option<(IpAddr, u16)> = None;
    let mut method = Method::Route;
    let mut weight = 1;
    let (mut upper, mut lower) = (0, 0);
    let mut tun_type: Option<TunnelType> = None;
    let (mut tun_port, mut tun_fl) = (0, tun_flags::NOCSUM);
    let num = |s: String| s.parse::<u32>().map_err(|_| format!("bad number {s}"));
    while let Some(word) = rest.next() {
        match word {
            "-t" | "-u" | "--sctp-service" => {
                let protocol = match word {
                    "-t" => IPPROTO_TCP,
                    "-u" => IPPROTO_UDP,
                    _ => IPPROTO_SCTP,
                };
                let (addr, port) = socket(&value(word, &mut rest)?)?;
                key = Some(ServiceKey::Tuple {
                    protocol,
                    addr,
                    port,
                });
            }
            "-f" => fwmark = Some(num(value(word, &mut rest)?)?),
            "-6" => v6 = true,
            "-s" => scheduler = value(word, &mut rest)?,
            "-p" => timeout = Some(num(value(word, &mut rest)?)?),
            "-M" => netmask = Some(value(word, &mut rest)?),
            "--pe" => pe = Some(value(word, &mut rest)?),
            "-o" => svc_flags |= flags::ONEPACKET,
            "-b" => {
                sched_flags = value(word, &mut rest)?
                    .split(',')
                    .map(str::to_string)
                    .collect()
            }
            "-r" => real = Some(socket(&value(word, &mut rest)?)?),
            "-m" => method = Method::Masq,
            "-g" => method = Method::Route,
            "-i" => method = Method::Tunnel,
            "-w" => weight = num(value(word, &mut rest)?)?,
            "-x" => upper = num(value(word, &mut rest)?)?,
            "-y" => lower = num(value(word, &mut rest)?)?,
            "--tun-type" => {
                tun_type = Some(match value(word, &mut rest)?.as_str() {
                    "ipip" => TunnelType::Ipip,
                    "gue" => TunnelType::Gue,
                    "gre" => TunnelType::Gre,
                    other => return Err(format!("unknown tunnel type {other}")),
                })
            }
            "--tun-port" => tun_port = num(value(word, &mut rest)?)? as u16,
            "--tun-nocsum" => tun_fl = tun_flags::NOCSUM,
            "--tun-csum" => tun_fl = tun_flags::CSUM,
            "--tun-remcsum" => tun_fl = tun_flags::REMCSUM,
            other => return Err(format!("unsupported option {other}")),
        }
    }
    if let Some(mark) = fwmark {
        let family = if v6 { Family::V6 } else { Family::V4 };
        key = Some(ServiceKey::Fwmark { family, mark });
    }
    let key = key.ok_or("no service (-t, -u, --sctp-service or -f)")?;
    match verb {
        "-A" => {
            let mut service = Service::new(key, &scheduler);
            service.flags = svc_flags;
            if let Some(t) = timeout {
                service.flags |= flags::PERSISTENT;
                service.timeout = t;
            }
            if let Some(mask) = netmask {
                service.netmask = match key.family() {
                    Family::V4 => u32::from(
                        mask.parse::<std::net::Ipv4Addr>()
                            .map_err(|_| format!("bad netmask {mask}"))?,
                    ),
                    Family::V6 => mask
                        .parse()
                        .map_err(|_| format!("bad prefix length {mask}"))?,
                };
            }
            service.pe_name = pe;
            for f in &sched_flags {
                service.flags |= match f.as_str() {
                    "sh-fallback" | "mh-fallback" | "flag-1" => flags::SCHED1,
                    "sh-port" | "mh-port" | "flag-2" => flags::SCHED2,
                    "flag-3" => flags::SCHED3,
                    other => return Err(format!("unknown scheduler flag {other}")),
                };
            }
            let entry = ServiceEntry {
                service,
                stats: None,
                dests: Default::default(),
            };
            if table.services.insert(key, entry).is_some() {
                return Err(format!("service {key} is added twice"));
            }
        }
        "-a" => {
            let (addr, port) = real.ok_or("no -r ADDR:PORT")?;
            let entry = table
                .services
                .get_mut(&key)
                .ok_or_else(|| format!("service {key} is not added before it"))?;
            let tunnel = (method == Method::Tunnel).then(|| Tunnel {
                kind: tun_type.unwrap_or(TunnelType::Ipip),
                port: tun_port,
                flags: tun_fl,
            });
            let dest = Dest {
                key: DestKey { addr, port },
                method,
                weight,
                upper_threshold: upper,
                lower_threshold: lower,
                tunnel,
            };
            entry.dests.insert(
                dest.key,
                DestEntry {
                    dest,
                    counters: DestCounters::default(),
                    stats: None,
                },
            );
        }
        other => return Err(format!("unsupported command {other} (only -A and -a)")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::render::ipvsadm_save;

    /// The rules captured from real ipvsadm 1.31 (shared/reference/prior-art.md), plus a GUE
    /// tunnel and an IPv6 fwmark service, read and written back unchanged.
    const CAPTURED: &str = "-A -t 203.0.113.10:80 -s wlc
-a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 1
-a -t 203.0.113.10:80 -r 10.0.0.3:80 -m -w 0
-A -t 203.0.113.10:443 -s sh -b sh-fallback,sh-port
-a -t 203.0.113.10:443 -r 10.0.0.4:443 -g -w 1
-a -t 203.0.113.10:443 -r 10.0.0.5:443 -i -w 1 --tun-type ipip
-A -u 203.0.113.10:53 -s rr -p 300 -M 255.255.255.0
-a -u 203.0.113.10:53 -r 10.0.0.3:53 -m -w 1
-A -t [2001:db8::10]:443 -s rr
-a -t [2001:db8::10]:443 -r [fd00::4]:443 -m -w 1
-a -t [2001:db8::10]:443 -r [fd00::5]:443 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum
-A -f 7 -s wrr -p 360
-a -f 7 -r 10.0.0.6:0 -m -w 5
-A -f 9 -6 -s dh
-a -f 9 -6 -r [fd00::9]:0 -g -w 3
";

    #[test]
    fn captured_rules_round_trip() {
        let table = parse(CAPTURED).expect("parses");
        assert_eq!(ipvsadm_save(&table), CAPTURED);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("-A -t 203.0.113.10:80 -s rr\n-a -t 203.0.113.11:80 -r 10.0.0.2:80 -m\n")
            .expect_err("unknown service");
        assert!(
            e.starts_with("line 2: service tcp 203.0.113.11:80 is not added before it"),
            "{e}"
        );
        assert!(parse("-A -t 1.2.3.4:80 --bogus").is_err());
        assert!(parse("-E -t 1.2.3.4:80").is_err());
    }
}
