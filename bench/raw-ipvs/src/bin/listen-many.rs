//! The health-check benchmark's backends: `listen-many FIRST COUNT [COUNTFILE]` listens on
//! TCP ports FIRST..FIRST+COUNT on every address and closes each accepted connection. One
//! thread per port: they sleep in accept, so idle ports cost nothing. With COUNTFILE, the
//! number of connections accepted so far is written there every 100 ms (how many checks
//! arrived, whichever tool sent them).
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let numbers: Vec<u16> = args.iter().take(2).filter_map(|a| a.parse().ok()).collect();
    let [first, count] = numbers[..] else {
        eprintln!("usage: listen-many FIRST COUNT [COUNTFILE]");
        std::process::exit(2);
    };
    let accepted = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for port in first..first + count {
        let listener = TcpListener::bind(("0.0.0.0", port)).unwrap_or_else(|e| {
            eprintln!("listen-many: port {port}: {e}");
            std::process::exit(1)
        });
        let accepted = Arc::clone(&accepted);
        threads.push(std::thread::spawn(move || {
            for stream in listener.incoming() {
                accepted.fetch_add(1, Ordering::Relaxed);
                drop(stream);
            }
        }));
    }
    if let Some(file) = args.get(2).cloned() {
        threads.push(std::thread::spawn(move || {
            let tmp = format!("{file}.tmp");
            loop {
                let n = accepted.load(Ordering::Relaxed);
                if std::fs::write(&tmp, format!("{n}\n")).is_ok() {
                    let _ = std::fs::rename(&tmp, &file);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }));
    }
    println!("listening on {count} ports from {first}");
    for t in threads {
        let _ = t.join();
    }
}
