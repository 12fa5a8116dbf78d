//! The simulated device's own accept loop. Each connection, after its TLS handshake, is read
//! through [`LenientTarget`] before hyper parses it, so request lines with a raw `"` (as curl and
//! some Go clients send them) reach the handlers as the device would take them. The gateway's
//! server (`http::server`) knows nothing of this: what only a simulated device tolerates stays
//! on the simulator's side.

use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::lenient::LenientTarget;

/// A client that has not finished its TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The time a client has to send a request's header, and that a kept-alive connection may idle.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed accept (typically out of file descriptors) before trying again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accepts connections until `shutdown`, each served in its own task on `tracker`.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    acceptor: Option<TlsAcceptor>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                tracker.spawn(connection(
                    stream,
                    router.clone(),
                    acceptor.clone(),
                    shutdown.clone(),
                ));
            }
            Err(error) => {
                tracing::warn!(%error, "dme sim: accept failed");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                }
            }
        }
    }
}

async fn connection(
    stream: TcpStream,
    router: Router,
    acceptor: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) {
    // Pushes are small and must leave at once, as a device's do.
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = acceptor else {
        return http(LenientTarget::new(stream), router, shutdown).await;
    };
    let handshake = tokio::select! {
        () = shutdown.cancelled() => return,
        handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => handshake,
    };
    match handshake {
        Ok(Ok(tls)) => http(LenientTarget::new(tls), router, shutdown).await,
        Ok(Err(error)) => tracing::debug!(%error, "dme sim: TLS handshake failed"),
        Err(_) => tracing::debug!("dme sim: TLS handshake timed out"),
    }
}

async fn http<Io>(io: Io, router: Router, shutdown: CancellationToken)
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        tower_service::Service::call(&mut router.clone(), request)
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
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
        tracing::debug!(%error, "dme sim: HTTP connection ended with an error");
    }
}
