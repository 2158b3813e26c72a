//! Accepting connections for both APIs, so that neither many nor slow
//! clients can exhaust the server:
//!
//! - a cap on open connections, overall and per client address (past it the
//!   server stops accepting, or closes the newcomer, instead of running out
//!   of file descriptors);
//! - TLS (rustls, ring provider) with a handshake deadline, done off the
//!   accept loop so a client stalling in its handshake holds up no one;
//!   optionally requiring client certificates signed by a given CA.
//!
//! What comes out is a stream of ready [`Conn`]s: the REST server serves
//! each with hyper (and a header read deadline), tonic takes the stream as is.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::server::TlsStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Bounds on connections; see the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections from one client address.
    pub max_per_client: usize,
    /// Time a client has to finish its TLS handshake, or, without TLS, to
    /// send its first bytes.
    pub handshake_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 1024,
            max_per_client: 256,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// The TLS settings of a server, from PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles<'a> {
    /// The certificate chain, leaf first.
    pub cert: &'a Path,
    pub key: &'a Path,
    /// When given, every client must present a certificate signed by this CA.
    pub client_ca: Option<&'a Path>,
}

/// A rustls server configuration offering `alpn` (`h2`, `http/1.1`).
pub fn tls_config(files: &TlsFiles<'_>, alpn: &[&[u8]]) -> anyhow::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(files.cert)?;
    let key = PrivateKeyDer::from_pem_file(files.key)
        .with_context(|| format!("--tls-key {}: no PEM private key", files.key.display()))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots.add(cert).with_context(|| {
                    format!("--tls-client-ca {}: not a CA certificate", ca.display())
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .with_context(|| format!("--tls-client-ca {}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).with_context(|| {
        format!(
            "--tls-cert {} with --tls-key {}",
            files.cert.display(),
            files.key.display()
        )
    })?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("{}: unreadable PEM certificates", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{}: no PEM certificate in it",
        path.display()
    );
    Ok(certs)
}

/// A bound socket and how to accept on it.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    limits: ConnLimits,
}

impl Listener {
    pub fn new(tcp: TcpListener, tls: Option<Arc<ServerConfig>>, limits: ConnLimits) -> Self {
        Listener {
            tcp,
            tls: tls.map(TlsAcceptor::from),
            limits,
        }
    }

    /// Plain TCP with the default limits.
    pub fn plain(tcp: TcpListener) -> Self {
        Listener::new(tcp, None, ConnLimits::default())
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Starts accepting. Connections come out of the returned channel ready
    /// to serve (TLS done); dropping the receiver stops the accept loop.
    pub fn incoming(self) -> mpsc::Receiver<io::Result<Conn>> {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(accept_loop(self, tx));
        rx
    }
}

async fn accept_loop(listener: Listener, tx: mpsc::Sender<io::Result<Conn>>) {
    let Listener { tcp, tls, limits } = listener;
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let per_client: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let local = tcp.local_addr().ok();
    loop {
        // At the cap, stop accepting: the kernel's backlog holds newcomers.
        let permit = tokio::select! {
            permit = open.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = tx.closed() => return,
        };
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = tx.closed() => return,
        };
        let Some(slot) = ClientSlot::take(&per_client, peer.ip(), limits.max_per_client) else {
            tracing::warn!(%peer, limit = limits.max_per_client, "too many connections from one client: closing the new one");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let io = match tls {
                // A client has as long to start talking as it would have to
                // finish a TLS handshake: a connection that stays silent
                // (no HTTP/2 preface, no request line) is closed instead of
                // holding one of the places forever.
                None => {
                    match tokio::time::timeout(limits.handshake_timeout, stream.peek(&mut [0u8; 1]))
                        .await
                    {
                        Ok(Ok(1..)) => Io::Plain(stream),
                        _ => {
                            tracing::debug!(%peer, "nothing sent in time: closing the connection");
                            return;
                        }
                    }
                }
                Some(acceptor) => {
                    match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(stream)) => Io::Tls(Box::new(stream)),
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, error = %err, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            let conn = Conn {
                io,
                peer,
                local,
                _permit: permit,
                _slot: slot,
            };
            let _ = tx.send(Ok(conn)).await;
        });
    }
}

/// One of a client address's connections; given back when dropped.
struct ClientSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl ClientSlot {
    fn take(
        counts: &Arc<Mutex<HashMap<IpAddr, usize>>>,
        ip: IpAddr,
        max: usize,
    ) -> Option<ClientSlot> {
        let mut map = counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = map.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            counts: counts.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut map = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = map.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An accepted connection, TLS done; holds its place under the limits until dropped.
pub struct Conn {
    io: Io,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    _permit: OwnedSemaphorePermit,
    _slot: ClientSlot,
}

impl Conn {
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// For tonic: the addresses, as `Request::remote_addr` reads them.
impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        TcpConnectInfo {
            local_addr: self.local,
            remote_addr: Some(self.peer),
        }
    }
}
