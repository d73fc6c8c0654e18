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
    let mut words = line.split_whitespace();
    let verb = words.next().ok_or("empty")?;
    let o = Options::parse(words)?;
    let key = o.key()?;
    match verb {
        "-A" => {
            let entry = ServiceEntry {
                service: o.service(key)?,
                stats: None,
                dests: Default::default(),
            };
            if table.services.insert(key, entry).is_some() {
                return Err(format!("service {key} is added twice"));
            }
        }
        "-a" => {
            let dest = o.dest()?;
            let entry = table
                .services
                .get_mut(&key)
                .ok_or_else(|| format!("service {key} is not added before it"))?;
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

/// The options of one line, with ipvsadm's defaults.
struct Options {
    key: Option<ServiceKey>,
    fwmark: Option<u32>,
    v6: bool,
    scheduler: String,
    timeout: Option<u32>,
    netmask: Option<String>,
    pe: Option<String>,
    svc_flags: u32,
    sched_flags: Vec<String>,
    real: Option<(IpAddr, u16)>,
    method: Method,
    weight: u32,
    upper: u32,
    lower: u32,
    tun_type: Option<TunnelType>,
    tun_port: u16,
    tun_flags: u16,
}

impl Options {
    fn parse<'a>(mut rest: impl Iterator<Item = &'a str>) -> Result<Options, String> {
        let mut o = Options {
            key: None,
            fwmark: None,
            v6: false,
            scheduler: "wlc".to_string(),
            timeout: None,
            netmask: None,
            pe: None,
            svc_flags: 0,
            sched_flags: Vec::new(),
            real: None,
            method: Method::Route,
            weight: 1,
            upper: 0,
            lower: 0,
            tun_type: None,
            tun_port: 0,
            tun_flags: tun_flags::NOCSUM,
        };
        let num = |s: String| s.parse::<u32>().map_err(|_| format!("bad number {s}"));
        while let Some(word) = rest.next() {
            let mut arg = || value(word, &mut rest);
            match word {
                "-t" | "-u" | "--sctp-service" => {
                    let protocol = match word {
                        "-t" => IPPROTO_TCP,
                        "-u" => IPPROTO_UDP,
                        _ => IPPROTO_SCTP,
                    };
                    let (addr, port) = socket(&arg()?)?;
                    o.key = Some(ServiceKey::Tuple {
                        protocol,
                        addr,
                        port,
                    });
                }
                "-f" => o.fwmark = Some(num(arg()?)?),
                "-6" => o.v6 = true,
                "-s" => o.scheduler = arg()?,
                "-p" => o.timeout = Some(num(arg()?)?),
                "-M" => o.netmask = Some(arg()?),
                "--pe" => o.pe = Some(arg()?),
                "-o" => o.svc_flags |= flags::ONEPACKET,
                "-b" => o.sched_flags = arg()?.split(',').map(str::to_string).collect(),
                "-r" => o.real = Some(socket(&arg()?)?),
                "-m" => o.method = Method::Masq,
                "-g" => o.method = Method::Route,
                "-i" => o.method = Method::Tunnel,
                "-w" => o.weight = num(arg()?)?,
                "-x" => o.upper = num(arg()?)?,
                "-y" => o.lower = num(arg()?)?,
                "--tun-type" => {
                    o.tun_type = Some(match arg()?.as_str() {
                        "ipip" => TunnelType::Ipip,
                        "gue" => TunnelType::Gue,
                        "gre" => TunnelType::Gre,
                        other => return Err(format!("unknown tunnel type {other}")),
                    })
                }
                "--tun-port" => o.tun_port = num(arg()?)? as u16,
                "--tun-nocsum" => o.tun_flags = tun_flags::NOCSUM,
                "--tun-csum" => o.tun_flags = tun_flags::CSUM,
                "--tun-remcsum" => o.tun_flags = tun_flags::REMCSUM,
                other => return Err(format!("unsupported option {other}")),
            }
        }
        Ok(o)
    }

    fn key(&self) -> Result<ServiceKey, String> {
        if let Some(mark) = self.fwmark {
            let family = if self.v6 { Family::V6 } else { Family::V4 };
            return Ok(ServiceKey::Fwmark { family, mark });
        }
        self.key
            .ok_or_else(|| "no service (-t, -u, --sctp-service or -f)".to_string())
    }

    fn service(&self, key: ServiceKey) -> Result<Service, String> {
        let mut service = Service::new(key, &self.scheduler);
        service.flags = self.svc_flags;
        if let Some(t) = self.timeout {
            service.flags |= flags::PERSISTENT;
            service.timeout = t;
        }
        if let Some(mask) = &self.netmask {
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
        service.pe_name = self.pe.clone();
        for f in &self.sched_flags {
            service.flags |= match f.as_str() {
                "sh-fallback" | "mh-fallback" | "flag-1" => flags::SCHED1,
                "sh-port" | "mh-port" | "flag-2" => flags::SCHED2,
                "flag-3" => flags::SCHED3,
                other => return Err(format!("unknown scheduler flag {other}")),
            };
        }
        Ok(service)
    }

    fn dest(&self) -> Result<Dest, String> {
        let (addr, port) = self.real.ok_or("no -r ADDR:PORT")?;
        Ok(Dest {
            key: DestKey { addr, port },
            method: self.method,
            weight: self.weight,
            upper_threshold: self.upper,
            lower_threshold: self.lower,
            tunnel: (self.method == Method::Tunnel).then(|| Tunnel {
                kind: self.tun_type.unwrap_or(TunnelType::Ipip),
                port: self.tun_port,
                flags: self.tun_flags,
            }),
        })
    }
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
