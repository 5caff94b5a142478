//! The HTTP/1.1 listener of `sluice serve`.
//!
//! `axum::serve` (axum 0.8) sets no timer on hyper's connection builder, so
//! hyper's header read timeout never fires and a client that opens a
//! connection and sends nothing keeps it open forever. This listener builds
//! each connection with hyper's builder itself: limits on the request head,
//! a deadline for sending it, a cap on open connections, and graceful
//! shutdown that lets requests in progress finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service as _;

/// Limits on what a client may send before the router receives a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Maximum number of header fields in a request; more get 431.
    pub max_headers: usize,
    /// Maximum size of a request head, request line and headers together,
    /// in bytes; a larger head gets 431.
    pub max_header_bytes: usize,
    /// Time a client has to send a whole request head. It runs from the
    /// moment the connection is ready for a request, so it also closes idle
    /// keep-alive connections.
    pub header_read_timeout: Duration,
    /// Maximum number of open connections. At the limit the listener stops
    /// accepting, so new connections wait in the operating system's backlog
    /// until one closes.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_headers: 100,
            max_header_bytes: 32 * 1024,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1_000,
        }
    }
}

/// Pause after a failed `accept`, such as when the process is out of file
/// descriptors, so the loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting connections and waits for the requests in progress.
///
/// Handlers can read the client address through
/// `ConnectInfo<SocketAddr>`, as with `axum::serve`.
pub async fn serve_http(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes)
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let open_connections = Arc::new(Semaphore::new(limits.max_connections));
    let mut at_limit = false;
    loop {
        let permit = match Arc::clone(&open_connections).try_acquire_owned() {
            Ok(permit) => {
                at_limit = false;
                permit
            }
            Err(_) => {
                if !at_limit {
                    at_limit = true;
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "All connections allowed by `max_connections` are open; new ones wait until one closes"
                    );
                }
                tokio::select! {
                    acquired = Arc::clone(&open_connections).acquire_owned() => match acquired {
                        Ok(permit) => permit,
                        // The semaphore is never closed, so this does not happen.
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "Accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = match make_service.call(remote).await {
            Ok(service) => service,
            Err(never) => match never {},
        };
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _permit = permit;
            // Errors here are the client's: a head over the limits, a
            // header read timeout, a reset connection. hyper has already
            // sent a response or closed the connection.
            if let Err(err) = connection.await {
                tracing::debug!(client.address = %remote, error = %err, "Connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
