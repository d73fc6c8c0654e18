//! `promq METRIC [LABEL=VALUE ...] < exposition`: parses the Prometheus text format with
//! prometheus-parse and prints the value of the sample that has the name and every label
//! given (a histogram's or summary's count). Exit 1: the text does not parse; 2: no sample.
use std::io::BufRead;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((metric, labels)) = args.split_first() else {
        eprintln!("usage: promq METRIC [LABEL=VALUE ...] < exposition");
        std::process::exit(2);
    };
    let lines = std::io::stdin().lock().lines();
    let scrape = match prometheus_parse::Scrape::parse(lines) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("promq: the exposition does not parse: {e}");
            std::process::exit(1);
        }
    };
    let wanted: Vec<(&str, &str)> = labels.iter().filter_map(|l| l.split_once('=')).collect();
    let sample = scrape.samples.iter().find(|s| {
        s.metric == *metric && wanted.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
    });
    let Some(sample) = sample else {
        eprintln!("promq: no sample {metric} with {labels:?}");
        std::process::exit(2);
    };
    match &sample.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => println!("{v}"),
        prometheus_parse::Value::Histogram(buckets) => {
            println!("{}", buckets.last().map_or(0.0, |b| b.count))
        }
        prometheus_parse::Value::Summary(_) => println!("summary"),
    }
}
