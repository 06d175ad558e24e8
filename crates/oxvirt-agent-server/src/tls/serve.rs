//! The accept loop: TLS handshake with the identity's current configuration, then HTTP/1.1 or
//! HTTP/2 (ALPN) into the axum router, with the handshake's outcome in every request.

use super::middleware::EnrolledAtHandshake;
use super::{AgentIdentity, Peer};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// A client that connects and does not finish its handshake within this gives its slot back.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after an accept error that is not the client's (e.g. out of file descriptors), so the
/// loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(200);

/// Serves `router` over TLS on `listener` until `shutdown` resolves.
///
/// Each accepted connection is handshaken with the identity's configuration *current at that
/// moment* (so enrollment takes effect for the next connection, without a restart), and every
/// request on it carries a [`Peer`] extension saying whether the client presented a
/// certificate of the engine's CA. Put [`super::require_engine`] in front of the API routes.
///
/// A failed or slow handshake only ends that connection (logged at debug level). When
/// `shutdown` resolves, the listener is closed and connections still open are dropped,
/// in-flight requests included: the engine retries, and long-held streams (`/v1/events`)
/// would otherwise hold the shutdown up indefinitely.
///
/// Errors: none today (accept errors are logged and retried); the `Result` leaves room for
/// setup that can fail.
pub async fn serve(
    listener: TcpListener,
    identity: Arc<AgentIdentity>,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => {
                    // Replies and event lines go out at once, not held back by Nagle's
                    // algorithm waiting for the peer's delayed ACK (up to 40 ms).
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                    }
                    let (config, enrolled) = identity.handshake_config();
                    connections.spawn(connection(tcp, remote, TlsAcceptor::from(config), enrolled, router.clone()));
                }
                Err(e) if is_connection_error(&e) => tracing::debug!(error = %e, "accepting a connection failed"),
                Err(e) => {
                    tracing::error!(error = %e, "cannot accept connections; retrying");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                    }
                }
            },
        }
    }
    drop(listener);
    connections.shutdown().await;
    tracing::debug!("agent API server stopped");
    Ok(())
}

async fn connection(tcp: TcpStream, remote: SocketAddr, acceptor: TlsAcceptor, enrolled: bool, router: axum::Router) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, "TLS handshake timed out");
            return;
        }
    };
    // The verifier admitted only certificates of the engine's CA; any certificate at all
    // therefore proves the engine. Before enrollment no certificate is asked for.
    let peer = if tls.get_ref().1.peer_certificates().is_some_and(|certs| !certs.is_empty()) {
        Peer::Engine
    } else {
        Peer::Anonymous
    };
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(peer);
        req.extensions_mut().insert(EnrolledAtHandshake(enrolled));
        req.extensions_mut().insert(axum::extract::ConnectInfo(remote));
        router.clone().oneshot(req)
    });
    if let Err(e) = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(TokioIo::new(tls), service)
        .await
    {
        tracing::debug!(%remote, error = %e, "connection ended with an error");
    }
}

/// Errors of one incoming connection (the client gave up before we accepted it), as opposed
/// to errors of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset)
}
