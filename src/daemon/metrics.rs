//! The daemon's Prometheus metrics (prometheus-client keeps them and writes the text
//! format) and the `--metrics` HTTP endpoint that serves them on `GET /metrics`.
//! Labels carry a forward's name and a backend as `ADDR:PORT`, nothing else of the config.

use super::Query;
use http_body_util::Full;
use hyper::body::Bytes;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use tokio::sync::{mpsc, oneshot};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    pub forward: String,
    pub backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    pub forward: String,
    pub backend: String,
    pub to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    pub check: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckResultLabels {
    pub check: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    pub op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AddressLabels {
    pub address: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabels {
    pub role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

fn check_buckets() -> Histogram {
    // 1 ms to about 4 s: a check's time is bounded by its timeout.
    Histogram::new(exponential_buckets(0.001, 2.0, 13))
}

/// Every metric the daemon keeps, registered once in `registry`.
pub struct Metrics {
    registry: Registry,
    pub backend_up: Family<BackendLabels, Gauge>,
    pub backend_weight: Family<BackendLabels, Gauge>,
    pub connections_active: Family<BackendLabels, Gauge>,
    pub connections_inactive: Family<BackendLabels, Gauge>,
    pub transitions: Family<TransitionLabels, Counter>,
    pub check_duration: Family<CheckLabels, Histogram, fn() -> Histogram>,
    pub checks: Family<CheckResultLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub health_change: Histogram,
    pub last_reconcile: Gauge<f64, AtomicU64>,
    pub drift_repairs: Family<KindLabels, Counter>,
    pub kernel_operations: Family<OpLabels, Counter>,
    pub reloads: Family<ResultLabels, Counter>,
    pub config_valid: Gauge,
    pub forwards: Gauge,
    pub backends: Gauge,
    pub floating_held: Family<AddressLabels, Gauge>,
    pub sync_daemon_running: Family<RoleLabels, Gauge>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            backend_up: Family::default(),
            backend_weight: Family::default(),
            connections_active: Family::default(),
            connections_inactive: Family::default(),
            transitions: Family::default(),
            check_duration: Family::new_with_constructor(check_buckets),
            checks: Family::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            health_change: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            last_reconcile: Gauge::default(),
            drift_repairs: Family::default(),
            kernel_operations: Family::default(),
            reloads: Family::default(),
            config_valid: Gauge::default(),
            forwards: Gauge::default(),
            backends: Gauge::default(),
            floating_held: Family::default(),
            sync_daemon_running: Family::default(),
            registry: Registry::with_prefix("portfwd"),
        };
        let r = &mut m.registry;
        r.register(
            "floating_address_held",
            "1 while this host holds the floating address (VRRP made it the active one), 0 otherwise",
            m.floating_held.clone(),
        );
        r.register(
            "sync_daemon_running",
            "1 while the IPVS connection sync daemon of that role runs here, 0 when sync asks for it and it does not",
            m.sync_daemon_running.clone(),
        );
        r.register(
            "backend_up",
            "1 when the backend passes its checks (or has none), 0 while held down",
            m.backend_up.clone(),
        );
        r.register(
            "backend_weight",
            "The backend's weight in the kernel's IPVS table",
            m.backend_weight.clone(),
        );
        r.register(
            "backend_connections_active",
            "Active connections to the backend (IPVS destination stats)",
            m.connections_active.clone(),
        );
        r.register(
            "backend_connections_inactive",
            "Inactive connections to the backend (IPVS destination stats)",
            m.connections_inactive.clone(),
        );
        r.register(
            "backend_transitions",
            "Up/down changes of a backend's health",
            m.transitions.clone(),
        );
        r.register_with_unit(
            "health_check_duration",
            "How long health checks took, by check type",
            Unit::Seconds,
            m.check_duration.clone(),
        );
        r.register(
            "health_checks",
            "Health checks run, by check type and result",
            m.checks.clone(),
        );
        r.register_with_unit(
            "sync_duration",
            "How long a reconcile round (read the kernel, plan, apply) took",
            Unit::Seconds,
            m.reconcile_duration.clone(),
        );
        r.register_with_unit(
            "health_change_duration",
            "From a check deciding a backend is up or down to the kernel holding it",
            Unit::Seconds,
            m.health_change.clone(),
        );
        r.register(
            "last_sync_timestamp_seconds",
            "When the kernel was last found or made to match (Unix time)",
            m.last_reconcile.clone(),
        );
        r.register(
            "drift_repairs",
            "Differences between kernel and config repaired by a resync, by kind",
            m.drift_repairs.clone(),
        );
        r.register(
            "kernel_operations",
            "Changes written to the kernel, by operation",
            m.kernel_operations.clone(),
        );
        r.register(
            "config_reloads",
            "Config reloads, by result (applied, refused)",
            m.reloads.clone(),
        );
        r.register(
            "config_valid",
            "0 while the last reload was refused (the daemon runs the previous config)",
            m.config_valid.clone(),
        );
        r.register(
            "forwards",
            "Forwards in the running config",
            m.forwards.clone(),
        );
        r.register(
            "backends",
            "Backends (forward and destination) in the running config",
            m.backends.clone(),
        );
        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        r.register("build_info", "portfwd's version (always 1)", build_info);
        m.config_valid.set(1);
        m
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// Serves `GET /metrics` on `addr`; each scrape asks the daemon's loop (which reads the
/// kernel's weights and connection counts first) for the text.
pub async fn serve(listener: tokio::net::TcpListener, queries: mpsc::Sender<Query>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let queries = queries.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let queries = queries.clone();
                async move { Ok::<_, std::convert::Infallible>(respond(request, queries).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

async fn respond(
    request: hyper::Request<hyper::body::Incoming>,
    queries: mpsc::Sender<Query>,
) -> hyper::Response<Full<Bytes>> {
    let reply = |status: u16, content_type: &str, body: String| {
        let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() =
            hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
        if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, value);
        }
        response
    };
    if request.method() != hyper::Method::GET || request.uri().path() != "/metrics" {
        return reply(404, "text/plain", "not found: try GET /metrics\n".into());
    }
    let (tx, rx) = oneshot::channel();
    if queries.send(Query::Metrics(tx)).await.is_err() {
        return reply(503, "text/plain", "the daemon is stopping\n".into());
    }
    match rx.await {
        Ok(text) => reply(
            200,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            text,
        ),
        Err(_) => reply(503, "text/plain", "the daemon is stopping\n".into()),
    }
}

/// Binds the metrics address, with the address in the error.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("--metrics {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_parses_with_the_values_set() {
        let m = Metrics::new();
        let labels = BackendLabels {
            forward: "web".into(),
            backend: "10.0.0.2:80".into(),
        };
        m.backend_up.get_or_create(&labels).set(0);
        m.backend_weight.get_or_create(&labels).set(0);
        m.transitions
            .get_or_create(&TransitionLabels {
                forward: "web".into(),
                backend: "10.0.0.2:80".into(),
                to: "down",
            })
            .inc();
        m.check_duration
            .get_or_create(&CheckLabels { check: "tcp" })
            .observe(0.002);
        m.reloads
            .get_or_create(&ResultLabels { result: "refused" })
            .inc();
        m.config_valid.set(0);
        m.last_reconcile.set(1_700_000_000.5);
        let text = m.encode();
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");
        let value = |name: &str, labels: &[(&str, &str)]| {
            scrape
                .samples
                .iter()
                .find(|s| {
                    s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
                })
                .map(|s| match s.value {
                    prometheus_parse::Value::Gauge(v)
                    | prometheus_parse::Value::Counter(v)
                    | prometheus_parse::Value::Untyped(v) => v,
                    _ => f64::NAN,
                })
        };
        let backend = [("forward", "web"), ("backend", "10.0.0.2:80")];
        assert_eq!(value("portfwd_backend_up", &backend), Some(0.0));
        assert_eq!(value("portfwd_backend_weight", &backend), Some(0.0));
        assert_eq!(
            value(
                "portfwd_backend_transitions_total",
                &[("backend", "10.0.0.2:80"), ("to", "down")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value("portfwd_config_reloads_total", &[("result", "refused")]),
            Some(1.0)
        );
        assert_eq!(value("portfwd_config_valid", &[]), Some(0.0));
        assert_eq!(
            value("portfwd_last_sync_timestamp_seconds", &[]),
            Some(1_700_000_000.5)
        );
        assert_eq!(
            value(
                "portfwd_build_info",
                &[("version", env!("CARGO_PKG_VERSION"))]
            ),
            Some(1.0)
        );
        let histogram = scrape
            .samples
            .iter()
            .find(|s| s.metric == "portfwd_health_check_duration_seconds")
            .expect("the check histogram");
        assert!(matches!(
            histogram.value,
            prometheus_parse::Value::Histogram(_)
        ));
    }
}
