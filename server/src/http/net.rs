//! The relay's network edge: accepts TCP connections under a global and a per-address cap, serves
//! each with hyper's HTTP/1.1 under a header-read timeout (which also ends idle keep-alive
//! connections), and tells handlers the client's address — the peer's, or, behind a configured
//! trusted proxy, the one that proxy reports in `X-Forwarded-For`. With a certificate it speaks
//! TLS itself (the handshake under the same timeout as a request's headers); otherwise it expects a
//! load balancer in front to terminate TLS.

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How the relay meets the network.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Connections open at once; beyond, new ones are closed as soon as accepted.
    pub max_connections: usize,
    /// Connections open at once from one peer address (trusted proxies are not capped).
    pub max_connections_per_address: usize,
    /// Time a client has to send a request's headers — and, between requests, to start the next
    /// one (an idle keep-alive connection is closed after it).
    pub header_read_timeout: Duration,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Serves HTTPS with this certificate instead of plain HTTP.
    pub tls: Option<Tls>,
}

/// The relay's TLS certificate chain and key.
#[derive(Clone)]
pub struct Tls(Arc<tokio_rustls::rustls::ServerConfig>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(..)")
    }
}

impl Tls {
    /// From PEM: the certificate chain (the relay's own first) and its private key.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<Tls, String> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("certificate chain: {e}"))?;
        if certs.is_empty() {
            return Err("the certificate file holds no certificate".into());
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("private key: {e}"))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("certificate and key: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls(Arc::new(config)))
    }

    /// From PEM files.
    pub fn from_pem_files(chain: &std::path::Path, key: &std::path::Path) -> Result<Tls, String> {
        let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        Tls::from_pem(&read(chain)?, &read(key)?)
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            max_connections: 16_384,
            max_connections_per_address: 256,
            header_read_timeout: Duration::from_secs(10),
            trusted_proxies: Vec::new(),
            tls: None,
        }
    }
}

/// Largest request head (request line and headers) read: 16 KiB (a phone's are under 1 KiB).
pub const MAX_HEAD_BYTES: usize = 16 << 10;
/// Largest read buffer of a connection: with the head limit, bounds what a connection that never
/// finishes its head holds.
pub const MAX_READ_BUFFER: usize = 32 << 10;

/// An IP network, `10.0.0.0/8` or `2001:db8::/32` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = a.trim().parse().map_err(|_| format!("not an IP address: {a}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("bad prefix: {p}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (canonical(self.addr), ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address: the peer, unless the peer is a trusted proxy — then the right-most address
/// of `X-Forwarded-For` that is not itself a trusted proxy (the left part of that header is written
/// by the client and proves nothing).
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    let hops: Vec<&str> = hops.collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// An address as a proxy writes it into `X-Forwarded-For`: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`
/// or `[2001:db8::1]:5678` (some proxies add the port).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = hop.parse::<SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    hop.strip_prefix('[')?.strip_suffix(']')?.parse::<IpAddr>().ok().map(canonical)
}

/// The address a request came from, as `client_addr` judges it. Needs the relay's state (for the
/// trusted proxies) and the connection's `ConnectInfo`; without one (a request built in a test), the
/// unspecified address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<Arc<crate::AppState>> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<crate::AppState>) -> Result<Self, Infallible> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        Ok(ClientAddr(client_addr(peer, &parts.headers, &state.trusted_proxies)))
    }
}

/// Open connections, in all and per peer address.
struct Connections {
    max: usize,
    per_address: usize,
    trusted: Vec<Cidr>,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// A connection counted in `Connections`, uncounted when dropped.
struct Admitted {
    connections: Arc<Connections>,
    ip: IpAddr,
}

impl Connections {
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let ip = canonical(ip);
        let capped = !self.trusted.iter().any(|c| c.contains(ip));
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let from_ip = open.1.get(&ip).copied().unwrap_or(0);
        if open.0 >= self.max || (capped && from_ip >= self.per_address) {
            return None;
        }
        open.0 += 1;
        open.1.insert(ip, from_ip + 1);
        Some(Admitted { connections: self.clone(), ip })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.connections.open.lock().unwrap_or_else(|p| p.into_inner());
        open.0 -= 1;
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

/// Connections the kernel may hold for the relay before it accepts them. A burst of reconnecting
/// phones (or of an attacker's connections) past the default 1,024 would have new connections'
/// first packets dropped and retried a second later, health checks included.
pub const LISTEN_BACKLOG: u32 = 8192;

/// Listens on `addr` with `LISTEN_BACKLOG` (the kernel may cap it at `net.core.somaxconn`).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Time open connections get to finish their requests once shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` completes, then lets open requests finish (up to
/// `SHUTDOWN_GRACE`). Connections beyond the caps are closed at once and counted in
/// `zhuqi_connections_refused_total` (through `refused`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: NetConfig,
    refused: impl Fn() + Send + 'static,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let connections = Arc::new(Connections {
        max: config.max_connections,
        per_address: config.max_connections_per_address,
        trusted: config.trusted_proxies.clone(),
        open: Mutex::default(),
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_READ_BUFFER)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted: the
                    // listener itself is fine; wait a little instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(admitted) = connections.admit(peer.ip()) else {
            refused();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        match &config.tls {
            None => {
                let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = connection.await;
                    drop(admitted);
                });
            }
            Some(Tls(tls)) => {
                let (acceptor, watcher, http) = (tokio_rustls::TlsAcceptor::from(tls.clone()), graceful.watcher(), http.clone());
                let handshake_timeout = config.header_read_timeout;
                tokio::spawn(async move {
                    // A client that never finishes its handshake holds its slot no longer than one
                    // that never finishes its headers.
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let _ = watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await;
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                    }
                    drop(admitted);
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_match() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.200.3.4")) && !c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.1.2.3")));
        let one: Cidr = "192.168.1.7".parse().unwrap();
        assert!(one.contains(ip("192.168.1.7")) && !one.contains(ip("192.168.1.8")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("2001:db8::1")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "1.1.1.1, 2.2.2.2, 10.0.0.5".parse().unwrap());
        // A stranger's header is ignored.
        assert_eq!(client_addr(ip("3.3.3.3"), &h, &trusted), ip("3.3.3.3"));
        // Behind the proxy: the right-most untrusted hop; the left part is the client's own claim.
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &trusted), ip("2.2.2.2"));
        // No proxies configured: the header means nothing.
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &[]), ip("10.0.0.1"));
        // A proxy that adds the port is understood.
        h.insert("x-forwarded-for", "1.1.1.1, 4.4.4.4:443".parse().unwrap());
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &trusted), ip("4.4.4.4"));
        h.insert("x-forwarded-for", "[2001:db8::7]:443".parse().unwrap());
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &trusted), ip("2001:db8::7"));
        // Garbage in the header stops the walk at the last address it could read.
        h.insert("x-forwarded-for", "nonsense, 10.0.0.9".parse().unwrap());
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.9"));
        assert_eq!(client_addr(ip("10.0.0.1"), &HeaderMap::new(), &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn connections_are_capped_in_all_and_per_address() {
        let c = Arc::new(Connections {
            max: 3,
            per_address: 2,
            trusted: vec!["10.0.0.1".parse().unwrap()],
            open: Mutex::default(),
        });
        let a1 = c.admit(ip("1.1.1.1")).unwrap();
        let _a2 = c.admit(ip("::ffff:1.1.1.1")).unwrap();
        assert!(c.admit(ip("1.1.1.1")).is_none(), "per address");
        let _b = c.admit(ip("2.2.2.2")).unwrap();
        assert!(c.admit(ip("10.0.0.1")).is_none(), "in all");
        drop(a1);
        assert!(c.admit(ip("1.1.1.1")).is_some());
        let c = Arc::new(Connections { max: 10, per_address: 1, trusted: c.trusted.clone(), open: Mutex::default() });
        let _p = (c.admit(ip("10.0.0.1")).unwrap(), c.admit(ip("10.0.0.1")).unwrap());
    }
}
