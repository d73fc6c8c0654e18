//! One check of one backend: a TCP handshake (SYN, SYN-ACK, then a reset instead of the last
//! ACK, as HAProxy's checks do: no TIME_WAIT here, no connection for the backend to accept),
//! an HTTP(S) GET (hyper, rustls), or a command.
//! The error is the reason logged: `connect: connection refused`, `HTTP 503`,
//! `timeout after 1s`, `exit 2`.

use super::Probe;
use crate::config::model::CheckKind;
use http_body_util::Empty;
use hyper::body::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};

/// Runs `probe` once, within its timeout.
pub async fn run(probe: &Probe) -> Result<(), String> {
    // The HTTP(S) and exec futures are large: boxed, the TCP check (the frequent one)
    // does not copy their space around on every run.
    let work = async {
        match probe.check {
            CheckKind::Tcp => tcp(probe).await,
            CheckKind::Http | CheckKind::Https => Box::pin(http(probe)).await,
            CheckKind::Exec => Box::pin(exec(probe)).await,
            CheckKind::None => Ok(()),
        }
    };
    match tokio::time::timeout(probe.timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(format!("timeout after {}", seconds(probe.timeout))),
    }
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}s")
    } else {
        format!("{s}s")
    }
}

/// A connection to the probe's target that closes with a reset instead of FIN: no
/// TIME_WAIT left on this host per check. `half_open`: quick ACK off, which delays the
/// handshake's last ACK, so the reset on close goes out first and the backend drops its
/// half-open request instead of accepting a connection.
async fn connect(probe: &Probe, half_open: bool) -> Result<TcpStream, String> {
    let socket = match probe.target {
        std::net::SocketAddr::V4(_) => TcpSocket::new_v4(),
        std::net::SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket: {}", io_reason(&e)))?;
    if half_open {
        let _ = socket2::SockRef::from(&socket).set_tcp_quickack(false);
    }
    let _ = socket.set_zero_linger();
    socket
        .connect(probe.target)
        .await
        .map_err(|e| format!("connect: {}", io_reason(&e)))
}

/// The error's text without the "(os error N)" tail.
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_lowercase(),
        None => text.to_lowercase(),
    }
}

async fn tcp(probe: &Probe) -> Result<(), String> {
    connect(probe, true).await.map(drop)
}

async fn http(probe: &Probe) -> Result<(), String> {
    let stream = connect(probe, false).await?;
    let host = probe
        .host
        .clone()
        .unwrap_or_else(|| probe.target.ip().to_string());
    let status = if probe.check == CheckKind::Https {
        let tls = tls_connector(probe.verify_tls)?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("TLS name {host}: {e}"))?;
        let stream = tls
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        get(stream, probe, &host).await?
    } else {
        get(stream, probe, &host).await?
    };
    let (low, high) = probe.expect_status;
    if (low..=high).contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}

async fn get<S>(stream: S, probe: &Probe, host: &str) -> Result<u16, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(conn);
    let request = hyper::Request::get(probe.path.as_str())
        .header(hyper::header::HOST, host)
        .header(hyper::header::USER_AGENT, "portfwd-health-check")
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("HTTP request: {e}"))?;
    let response = sender.send_request(request).await;
    driver.abort();
    let response = response.map_err(|e| format!("HTTP: {e}"))?;
    Ok(response.status().as_u16())
}

/// ring's provider: it builds without cmake, and a health check needs no post-quantum key
/// exchange (what rustls deprecated it for).
#[allow(deprecated)]
fn crypto() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn tls_connector(verify: bool) -> Result<tokio_rustls::TlsConnector, String> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(crypto()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let config = if verify {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate))
            .with_no_client_auth()
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Accepts every certificate: a health check asks whether the backend answers, and
/// backends often have self-signed certificates (`verify_tls` turns verification on).
#[derive(Debug)]
struct AnyCertificate;

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        crypto()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

async fn exec(probe: &Probe) -> Result<(), String> {
    let address = probe.target.ip().to_string();
    let port = probe.target.port().to_string();
    let args: Vec<String> = probe
        .command
        .iter()
        .map(|a| a.replace("{address}", &address).replace("{port}", &port))
        .collect();
    let Some((program, rest)) = args.split_first() else {
        return Err("no command".to_string());
    };
    let status = tokio::process::Command::new(program)
        .args(rest)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| format!("cannot run {program}: {}", io_reason(&e)))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(format!("exit {code}")),
        None => Err("killed by a signal".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(check: CheckKind, port: u16) -> Probe {
        Probe {
            target: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            check,
            interval: Duration::from_secs(2),
            timeout: Duration::from_millis(500),
            rise: 1,
            fall: 1,
            path: "/healthz".into(),
            host: None,
            expect_status: (200, 399),
            command: Vec::new(),
            verify_tls: false,
        }
    }

    /// A loopback server answering every connection with `response`.
    async fn server(response: &'static str) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(response.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn checks_say_why_they_fail() {
        let up = server("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        let sick = server("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").await;
        assert_eq!(run(&probe(CheckKind::Tcp, up)).await, Ok(()));
        assert_eq!(run(&probe(CheckKind::Http, up)).await, Ok(()));
        assert_eq!(
            run(&probe(CheckKind::Http, sick)).await,
            Err("HTTP 503".into())
        );
        // A port nothing listens on: bound but not listening, so no other test gets it.
        let holder = tokio::net::TcpSocket::new_v4().expect("socket");
        holder
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let closed = holder.local_addr().expect("port").port();
        assert_eq!(
            run(&probe(CheckKind::Tcp, closed)).await,
            Err("connect: connection refused".into())
        );
        let mut exec = probe(CheckKind::Exec, up);
        exec.command = vec!["/bin/sh".into(), "-c".into(), "exit {port}".into()];
        exec.target.set_port(3);
        assert_eq!(run(&exec).await, Err("exit 3".into()));
        exec.command = vec!["/bin/sh".into(), "-c".into(), "sleep 5".into()];
        assert_eq!(run(&exec).await, Err("timeout after 0.5s".into()));
    }

    #[tokio::test]
    async fn a_tcp_check_leaves_no_connection_to_accept() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        for _ in 0..10 {
            assert_eq!(run(&probe(CheckKind::Tcp, port)).await, Ok(()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The reset replaces the handshake's last ACK, so the requests die half-open. A
        // thread descheduled past the delayed-ACK timer may let one through.
        let accepted = std::iter::from_fn(|| listener.accept().ok()).count();
        assert!(accepted <= 1, "{accepted} of 10 checks became connections");
    }
}
