//! Serving a router on a listener, over TLS or plain TCP, with HTTP/1.1 upgrades for WebSockets:
//! the gateway's own server and every simulator's. Each connection (TLS handshake included) runs in
//! its own task, so a slow or stalled handshake never holds up the accept loop, and each request
//! sees the peer's address as [`axum::extract::ConnectInfo`]. [`Limits`] bound what clients can
//! hold: open connections, and the time to send a header or to stay idle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::throttle::Throttle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

/// The certificate a TLS client presented and the server verified, if any: a request extension
/// for handlers that authenticate clients by certificate.
#[derive(Debug, Clone, Default)]
pub struct ClientCertificate(pub Option<rustls_pki_types::CertificateDer<'static>>);

/// Ends the connection a request came on, at once, without a graceful close: for a handler whose
/// response outlives the request (a live feed) and finds that the client stopped reading. A
/// request extension; absent when a router is called without this server (unit tests).
#[derive(Debug, Clone)]
pub struct CloseConnection(CancellationToken);

impl CloseConnection {
    pub fn close(&self) {
        self.0.cancel();
    }
}

/// What [`serve`] needs besides the listener and the router.
#[derive(Clone)]
pub struct ServeOptions {
    pub acceptor: Option<TlsAcceptor>,
    pub shutdown: CancellationToken,
    /// Connection tasks are spawned here, so a caller can wait for them to finish.
    pub tracker: TaskTracker,
    /// Who serves, for log lines.
    pub name: String,
}

/// What one server lets its clients hold: the gateway's come from `http:`, simulators take the
/// defaults.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// The time a client has to send a request's header, and that a kept-alive connection may
    /// stay idle between requests.
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 100_000,
            header_timeout: Duration::from_secs(30),
        }
    }
}

/// The read buffer of one connection, which bounds a request's header: a client sending a huge
/// header gets 431 instead of growing the buffer to hyper's default of ~400 KiB per connection.
/// (hyper checks the bound after a read, which may fill the buffer's spare capacity: a header of
/// up to twice this size can get through when it arrives at once.)
const MAX_READ_BUFFER: usize = 64 * 1024;

/// A client that has not finished its TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (typically out of file descriptors) before trying again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accepts connections until `shutdown`, with the default [`Limits`].
pub async fn serve(listener: TcpListener, router: Router, options: ServeOptions) {
    serve_limited(listener, router, options, Limits::default()).await;
}

/// Accepts connections until `shutdown`; at most `limits.max_connections` at once.
pub async fn serve_limited(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    limits: Limits,
) {
    let ServeOptions {
        acceptor,
        shutdown,
        tracker,
        name,
    } = options;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let open = metrics::gauge!("netpulse_http_connections", "server" => name.clone());
    let refused =
        metrics::counter!("netpulse_http_connections_refused_total", "server" => name.clone());
    let refusal_log = Throttle::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    // Closing at once costs nothing; the client sees a reset and may retry.
                    drop(stream);
                    refused.increment(1);
                    if let Some(left_out) = refusal_log.admit(Instant::now()) {
                        warn!(server = %name, %peer, max_connections = limits.max_connections, refused_since_last_line = left_out, "too many open connections: new ones are closed (http.max_connections)");
                    }
                    continue;
                };
                let connection = serve_connection(
                    stream,
                    peer,
                    router.clone(),
                    acceptor.clone(),
                    shutdown.clone(),
                    limits.header_timeout,
                );
                let open = open.clone();
                open.increment(1.0);
                tracker.spawn(async move {
                    connection.await;
                    open.decrement(1.0);
                    drop(slot);
                });
            }
            Err(error) => {
                warn!(server = %name, %error, "accept failed");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                }
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    acceptor: Option<TlsAcceptor>,
    shutdown: CancellationToken,
    header_timeout: Duration,
) {
    // Pushes and answers are small and must leave at once.
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = acceptor else {
        let connection = Connection {
            router,
            peer,
            certificate: ClientCertificate(None),
            close: CloseConnection(CancellationToken::new()),
        };
        serve_http(stream, connection, shutdown, header_timeout).await;
        return;
    };
    let handshake = tokio::select! {
        () = shutdown.cancelled() => return,
        handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => handshake,
    };
    match handshake {
        Ok(Ok(tls)) => {
            let certificate = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| cert.clone().into_owned());
            let connection = Connection {
                router,
                peer,
                certificate: ClientCertificate(certificate),
                close: CloseConnection(CancellationToken::new()),
            };
            serve_http(tls, connection, shutdown, header_timeout).await
        }
        Ok(Err(error)) => debug!(%error, "TLS handshake failed"),
        Err(_) => debug!("TLS handshake timed out"),
    }
}

/// What every request of one connection gets: the router, and the peer's address and certificate
/// as request extensions ([`ConnectInfo`], [`ClientCertificate`]). Inserting them per request is
/// cheaper than layering a per-connection router, which wraps every route again.
#[derive(Clone)]
struct Connection {
    router: Router,
    peer: SocketAddr,
    certificate: ClientCertificate,
    close: CloseConnection,
}

impl hyper::service::Service<Request<Incoming>> for Connection {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = axum::routing::future::RouteFuture<std::convert::Infallible>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let extensions = request.extensions_mut();
        extensions.insert(ConnectInfo(self.peer));
        extensions.insert(self.certificate.clone());
        extensions.insert(self.close.clone());
        // A router is always ready (its poll_ready returns Ready).
        tower_service::Service::call(&mut self.router.clone(), request)
    }
}

async fn serve_http<Io>(
    io: Io,
    service: Connection,
    shutdown: CancellationToken,
    header_timeout: Duration,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let close = service.close.0.clone();
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        // Runs from the moment the connection waits for a request: it also ends idle keep-alives.
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_READ_BUFFER)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        // Dropping the connection drops what hyper had not written yet.
        () = close.cancelled() => Ok(()),
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        debug!(%error, "HTTP connection ended with an error");
    }
}
