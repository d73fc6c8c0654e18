//! The benchmark's floor (bench/README in docs/performance.md): what a client that does
//! nothing but talk to the kernel costs. No library: one generic netlink socket, requests
//! built straight into one reused buffer, one request at a time.
//!
//!   raw-ipvs write RULES   adds the `-A -t ADDR:PORT -s SCHED` / `-a -t ADDR:PORT -r ADDR:PORT -m -w W`
//!                          lines of an ipvsadm rules file (IPv4 TCP masq only)
//!   raw-ipvs read          one GET_SERVICE dump, then one GET_DEST dump per service
//!   raw-ipvs read 3776     the same, destinations over a 2nd socket with page-sized receives
//!   raw-ipvs edit VIP RIP W  one SET_DEST of a masq destination's weight, ROUNDS=N times (default
//!                          1); prints "us=N" per edit, the request and its ACK alone
//!   raw-ipvs time CMD...   runs CMD; prints "us=N rss_kb=N" (wall time, peak RSS) to stderr
//!   raw-ipvs start         does nothing: what starting this program costs

use std::io::{BufRead, BufReader};
use std::net::SocketAddrV4;
use std::process::exit;
use std::time::Instant;

const NETLINK_GENERIC: i32 = 16;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const CMD_NEW_SERVICE: u8 = 1;
const CMD_GET_SERVICE: u8 = 4;
const CMD_NEW_DEST: u8 = 5;
const CMD_SET_DEST: u8 = 7;
const CMD_GET_DEST: u8 = 8;
const ATTR_SERVICE: u16 = 1;
const ATTR_DEST: u16 = 2;

struct Nl {
    fd: i32,
    seq: u32,
    buf: Vec<u8>,
    rx: Vec<u8>,
}

fn die(what: &str) -> ! {
    eprintln!("raw-ipvs: {what}: {}", std::io::Error::last_os_error());
    exit(1)
}

impl Nl {
    fn open(rx_len: usize) -> Nl {
        // SAFETY: plain socket calls with valid arguments.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, NETLINK_GENERIC) };
        if fd < 0 {
            die("socket");
        }
        Nl {
            fd,
            seq: 0,
            buf: Vec::with_capacity(256),
            rx: vec![0; rx_len],
        }
    }

    /// Starts a message in the reused buffer: nlmsghdr + genlmsghdr.
    fn begin(&mut self, family: u16, flags: u16, cmd: u8) {
        self.seq += 1;
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.extend_from_slice(&family.to_ne_bytes());
        self.buf
            .extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        self.buf.extend_from_slice(&self.seq.to_ne_bytes());
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.extend_from_slice(&[cmd, 1, 0, 0]);
    }

    fn attr(&mut self, kind: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    fn nest_begin(&mut self, kind: u16) -> usize {
        let at = self.buf.len();
        self.attr(kind | 0x8000, &[]);
        at
    }

    fn nest_end(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// Sends the message and calls `each` with every reply payload until ACK or DONE.
    fn exchange(&mut self, mut each: impl FnMut(&[u8])) {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        // SAFETY: the buffer is valid for its length; the kernel is the peer (address 0).
        let sent = unsafe { libc::send(self.fd, self.buf.as_ptr().cast(), self.buf.len(), 0) };
        if sent < 0 {
            die("send");
        }
        loop {
            // SAFETY: rx is a valid writable buffer of its length.
            let n = unsafe { libc::recv(self.fd, self.rx.as_mut_ptr().cast(), self.rx.len(), 0) };
            if n < 0 {
                die("recv");
            }
            let mut at = 0;
            let n = n as usize;
            while at + 16 <= n {
                let mlen =
                    u32::from_ne_bytes(self.rx[at..at + 4].try_into().unwrap_or([0; 4])) as usize;
                let kind = u16::from_ne_bytes([self.rx[at + 4], self.rx[at + 5]]);
                if mlen < 16 || at + mlen > n {
                    eprintln!("raw-ipvs: bad reply");
                    exit(1);
                }
                match kind {
                    NLMSG_ERROR => {
                        let code = i32::from_ne_bytes(
                            self.rx[at + 16..at + 20].try_into().unwrap_or([0; 4]),
                        );
                        if code != 0 {
                            eprintln!("raw-ipvs: kernel error {}", -code);
                            exit(1);
                        }
                        return;
                    }
                    NLMSG_DONE => return,
                    _ => each(&self.rx[at + 20..at + mlen]),
                }
                at += (mlen + 3) & !3;
            }
        }
    }
}

/// Attributes of a payload: (type, data).
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((u16::from_ne_bytes([b[2], b[3]]) & 0x3fff, &b[4..len]));
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    out
}

fn family(nl: &mut Nl) -> u16 {
    nl.begin(GENL_ID_CTRL, NLM_F_ACK, CTRL_CMD_GETFAMILY);
    nl.attr(CTRL_ATTR_FAMILY_NAME, b"IPVS\0");
    let mut id = 0;
    nl.exchange(|p| {
        for (k, v) in attrs(p) {
            if k == CTRL_ATTR_FAMILY_ID && v.len() >= 2 {
                id = u16::from_ne_bytes([v[0], v[1]]);
            }
        }
    });
    if id == 0 {
        eprintln!("raw-ipvs: no IPVS family");
        exit(1);
    }
    id
}

fn service_key(nl: &mut Nl, vip: SocketAddrV4) {
    nl.attr(1, &2u16.to_ne_bytes()); // AF_INET
    nl.attr(2, &6u16.to_ne_bytes()); // TCP
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&vip.ip().octets());
    nl.attr(3, &a);
    nl.attr(4, &vip.port().to_be_bytes());
}

fn write(path: &str) {
    let mut nl = Nl::open(1 << 20);
    let fam = family(&mut nl);
    let file = std::fs::File::open(path).unwrap_or_else(|_| die(path));
    for line in BufReader::new(file).lines().map_while(Result::ok) {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["-A", "-t", vip, "-s", sched] => {
                let vip: SocketAddrV4 = vip.parse().unwrap_or_else(|_| die(vip));
                nl.begin(fam, NLM_F_ACK, CMD_NEW_SERVICE);
                let s = nl.nest_begin(ATTR_SERVICE);
                service_key(&mut nl, vip);
                let mut name = sched.as_bytes().to_vec();
                name.push(0);
                nl.attr(6, &name);
                nl.attr(7, &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
                nl.attr(8, &0u32.to_ne_bytes());
                nl.attr(9, &u32::MAX.to_ne_bytes());
                nl.nest_end(s);
                nl.exchange(|_| {});
            }
            ["-a", "-t", vip, "-r", rip, "-m", "-w", weight] => {
                let vip: SocketAddrV4 = vip.parse().unwrap_or_else(|_| die(vip));
                let rip: SocketAddrV4 = rip.parse().unwrap_or_else(|_| die(rip));
                let weight: u32 = weight.parse().unwrap_or(1);
                nl.begin(fam, NLM_F_ACK, CMD_NEW_DEST);
                let s = nl.nest_begin(ATTR_SERVICE);
                service_key(&mut nl, vip);
                nl.nest_end(s);
                dest(&mut nl, rip, weight);
                nl.exchange(|_| {});
            }
            [] => {}
            _ => {
                eprintln!("raw-ipvs: unsupported rule: {line}");
                exit(1);
            }
        }
    }
}

/// The floor under a health change: one destination's weight set, timed from the request to
/// its ACK (the family is looked up before).
fn edit(vip: &str, rip: &str, weight: &str) {
    let vip: SocketAddrV4 = vip.parse().unwrap_or_else(|_| die(vip));
    let rip: SocketAddrV4 = rip.parse().unwrap_or_else(|_| die(rip));
    let weight: u32 = weight.parse().unwrap_or_else(|_| die(weight));
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let mut nl = Nl::open(1 << 16);
    let fam = family(&mut nl);
    for _ in 0..rounds {
        let start = Instant::now();
        nl.begin(fam, NLM_F_ACK, CMD_SET_DEST);
        let s = nl.nest_begin(ATTR_SERVICE);
        service_key(&mut nl, vip);
        nl.nest_end(s);
        dest(&mut nl, rip, weight);
        nl.exchange(|_| {});
        println!("us={}", start.elapsed().as_micros());
    }
}

/// A masq destination's attributes.
fn dest(nl: &mut Nl, rip: SocketAddrV4, weight: u32) {
    let d = nl.nest_begin(ATTR_DEST);
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&rip.ip().octets());
    nl.attr(1, &a);
    nl.attr(2, &rip.port().to_be_bytes());
    nl.attr(3, &0u32.to_ne_bytes()); // masq
    nl.attr(4, &weight.to_ne_bytes());
    nl.attr(5, &0u32.to_ne_bytes());
    nl.attr(6, &0u32.to_ne_bytes());
    nl.attr(11, &2u16.to_ne_bytes());
    nl.nest_end(d);
}

/// `read N`: the destination dumps go over a second socket that offers N bytes to each recv
/// (default: the same socket, 1 MiB, as most clients do). The kernel sizes each
/// dump buffer to the largest recv the socket has seen (up to 32 KiB) and zeroes it
/// (init_on_alloc), so page-sized receives are cheaper per destination dump, while the one
/// services dump wants large buffers (the kernel walks its table from the start for each).
fn read(dest_recv: Option<usize>) {
    let mut nl = Nl::open(1 << 20);
    let fam = family(&mut nl);
    // Each service's nested attribute block, kept to ask for its destinations.
    let mut services: Vec<Vec<u8>> = Vec::new();
    nl.begin(fam, NLM_F_DUMP, CMD_GET_SERVICE);
    nl.exchange(|p| {
        for (k, v) in attrs(p) {
            if k == ATTR_SERVICE {
                services.push(v.to_vec());
            }
        }
    });
    let mut dests = 0usize;
    if let Some(n) = dest_recv {
        nl = Nl::open(n);
    }
    for s in &services {
        nl.begin(fam, NLM_F_DUMP, CMD_GET_DEST);
        let at = nl.nest_begin(ATTR_SERVICE);
        for (k, v) in attrs(s) {
            if (1..=5).contains(&k) {
                nl.attr(k, v);
            }
        }
        nl.nest_end(at);
        nl.exchange(|_| dests += 1);
    }
    println!("services={} destinations={dests}", services.len());
}

fn time(cmd: &[String]) {
    let start = Instant::now();
    let status = std::process::Command::new(&cmd[0]).args(&cmd[1..]).status();
    let us = start.elapsed().as_micros();
    // SAFETY: getrusage into a zeroed struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    eprintln!("us={us} minflt={} rss_kb={}", ru.ru_minflt, ru.ru_maxrss);
    let code = status.map(|s| s.code().unwrap_or(1)).unwrap_or(127);
    exit(code);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("write") if args.len() == 3 => write(&args[2]),
        Some("read") if args.len() == 2 => read(None),
        Some("read") if args.len() == 3 => match args[2].parse() {
            Ok(n) => read(Some(n)),
            Err(_) => {
                eprintln!("raw-ipvs: read takes a receive size in bytes");
                exit(2);
            }
        },
        Some("edit") if args.len() == 5 => edit(&args[2], &args[3], &args[4]),
        Some("time") if args.len() > 2 => time(&args[2..]),
        Some("start") if args.len() == 2 => {}
        _ => {
            eprintln!(
                "usage: raw-ipvs write RULES | read [RECV_BYTES] | edit VIP RIP WEIGHT | time CMD... | start"
            );
            exit(2);
        }
    }
}
