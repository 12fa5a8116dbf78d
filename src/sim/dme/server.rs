//! Serving one device's router on its listener, over TLS or plain TCP, with HTTP/1.1 upgrades for
//! the WebSocket. Each connection (TLS handshake included) runs in its own task, so a slow or
//! stalled handshake never holds up the accept loop.

use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::lenient::LenientTarget;

/// A client that has not finished its TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (typically out of file descriptors) before trying again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accepts connections until `shutdown`; connection tasks are tracked by `tracker`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    acceptor: Option<TlsAcceptor>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    device: String,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let connection =
                    serve_connection(stream, router.clone(), acceptor.clone(), shutdown.clone());
                tracker.spawn(connection);
            }
            Err(error) => {
                warn!(device, %error, "accept failed");
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
    router: Router,
    acceptor: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) {
    // Pushes are small frames that must leave at once.
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = acceptor else {
        serve_http(stream, router, shutdown).await;
        return;
    };
    let handshake = tokio::select! {
        () = shutdown.cancelled() => return,
        handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => handshake,
    };
    match handshake {
        Ok(Ok(tls)) => serve_http(tls, router, shutdown).await,
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
        .serve_connection(TokioIo::new(LenientTarget::new(io)), service)
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
