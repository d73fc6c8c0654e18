//! The health-check benchmark's backends: `listen-many FIRST COUNT` listens on TCP ports
//! FIRST..FIRST+COUNT on every address and closes each accepted connection. One thread per
//! port: they sleep in accept, so idle ports cost nothing.
use std::net::TcpListener;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let numbers: Vec<u16> = args.iter().take(2).filter_map(|a| a.parse().ok()).collect();
    let [first, count] = numbers[..] else {
        eprintln!("usage: listen-many FIRST COUNT");
        std::process::exit(2);
    };
    let mut threads = Vec::new();
    for port in first..first + count {
        let listener = TcpListener::bind(("0.0.0.0", port)).unwrap_or_else(|e| {
            eprintln!("listen-many: port {port}: {e}");
            std::process::exit(1)
        });
        threads.push(std::thread::spawn(move || {
            for stream in listener.incoming() {
                drop(stream);
            }
        }));
    }
    println!("listening on {count} ports from {first}");
    for t in threads {
        let _ = t.join();
    }
}
