//! Serving a router on a listener, over TLS or plain TCP, with HTTP/1.1 upgrades for WebSockets:
//! the gateway's own server and every simulator's. Each connection (TLS handshake included) runs in
//! its own task, so a slow or stalled handshake never holds up the accept loop, and each request
//! sees the peer's address as [`axum::extract::ConnectInfo`].

use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

/// The certificate a TLS client presented and the server verified, if any: a request extension
/// for handlers that authenticate clients by certificate.
#[derive(Debug, Clone, Default)]
pub struct ClientCertificate(pub Option<rustls_pki_types::CertificateDer<'static>>);

/// A transformation of each connection's byte stream before HTTP parsing (the DME simulator
/// tolerates request targets that hyper would refuse); [`Plain`] leaves it alone.
pub trait WrapIo: Clone + Send + Sync + 'static {
    fn wrap<Io>(&self, io: Io) -> impl AsyncRead + AsyncWrite + Unpin + Send + 'static
    where
        Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
}

/// No transformation.
#[derive(Debug, Clone, Copy)]
pub struct Plain;

impl WrapIo for Plain {
    fn wrap<Io>(&self, io: Io) -> impl AsyncRead + AsyncWrite + Unpin + Send + 'static
    where
        Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        io
    }
}

/// What [`serve`] needs besides the listener and the router.
#[derive(Clone)]
pub struct ServeOptions<W> {
    pub acceptor: Option<TlsAcceptor>,
    pub shutdown: CancellationToken,
    /// Connection tasks are spawned here, so a caller can wait for them to finish.
    pub tracker: TaskTracker,
    /// Who serves, for log lines.
    pub name: String,
    pub wrap: W,
}

/// A client that has not finished its TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (typically out of file descriptors) before trying again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accepts connections until `shutdown`.
pub async fn serve<W: WrapIo>(listener: TcpListener, router: Router, options: ServeOptions<W>) {
    let ServeOptions {
        acceptor,
        shutdown,
        tracker,
        name,
        wrap,
    } = options;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let router = router.clone().layer(axum::Extension(ConnectInfo(peer)));
                let connection = serve_connection(
                    stream,
                    router,
                    acceptor.clone(),
                    shutdown.clone(),
                    wrap.clone(),
                );
                tracker.spawn(connection);
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

async fn serve_connection<W: WrapIo>(
    stream: TcpStream,
    router: Router,
    acceptor: Option<TlsAcceptor>,
    shutdown: CancellationToken,
    wrap: W,
) {
    // Pushes and answers are small and must leave at once.
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = acceptor else {
        let router = router.layer(axum::Extension(ClientCertificate(None)));
        serve_http(wrap.wrap(stream), router, shutdown).await;
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
            let router = router.layer(axum::Extension(ClientCertificate(certificate)));
            serve_http(wrap.wrap(tls), router, shutdown).await
        }
        Ok(Err(error)) => debug!(%error, "TLS handshake failed"),
        Err(_) => debug!("TLS handshake timed out"),
    }
}

async fn serve_http<Io>(io: Io, router: Router, shutdown: CancellationToken)
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(router);
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        debug!(%error, "HTTP connection ended with an error");
    }
}
