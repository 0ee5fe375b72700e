//! Sockets: accepting connections on the public and admin listeners,
//! running HTTP/1.1 on each, and draining them on shutdown.
//!
//! Everything a request means is decided in [`crate::http`]; this module
//! only owns connections, their timeouts and their lifetime.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::deadline::WriteDeadline;
use crate::http::{handle_from, Listener, State};
use crate::limits::MAX_HEAD_BYTES;

/// Connection settings shared by both listeners.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// A client must send a whole request head within this.
    pub header_timeout: Duration,
    /// In-flight requests get this long to finish after a shutdown signal.
    pub drain_timeout: Duration,
    /// Public connections open at once; beyond it the next `accept` waits
    /// (the kernel's backlog holds new clients) until one closes.
    pub max_connections: usize,
    /// A response write that makes no progress this long closes the
    /// connection (the client stopped reading).
    pub write_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            header_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// The HTTP/1.1 connection settings every listener uses; public so the
/// reference server (`examples/hello.rs`) measures the very same stack.
pub fn http1_builder(options: &ServerOptions) -> http1::Builder {
    let mut http = http1::Builder::new();
    // Without a timer hyper silently ignores header_read_timeout. hyper
    // answers a head over max_buf_size (or over 100 headers) with 431.
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    http
}

/// Serves both listeners until `shutdown` completes, then stops accepting
/// and waits up to `drain_timeout` for open connections to finish.
///
/// Returns `true` when every connection drained in time.
pub async fn serve(
    public: TcpListener,
    admin: TcpListener,
    state: Arc<State>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> bool {
    let http = http1_builder(&options);
    let graceful = GracefulShutdown::new();
    // Only the public listener is limited, so operators can still reach
    // the admin listener when the public one is full.
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    tokio::pin!(shutdown);

    loop {
        let (accepted, listener, permit) = tokio::select! {
            (accepted, permit) = accept_within(&public, &slots) => (accepted, Listener::Public, Some(permit)),
            accepted = admin.accept() => (accepted, Listener::Admin, None),
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: pause instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        let service = {
            let state = Arc::clone(&state);
            let peer = peer.ip();
            service_fn(move |req| {
                std::future::ready(Ok::<_, Infallible>(handle_from(
                    &state, listener, peer, &req,
                )))
            })
        };
        let connection = graceful.watch(http.serve_connection(
            TokioIo::new(WriteDeadline::new(stream, options.write_timeout)),
            service,
        ));
        state.metrics.connection_opened();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            state.metrics.connection_closed();
            drop(permit);
        });
    }

    drop((public, admin));
    let open = graceful.count();
    tracing::info!(open, "shutting down: draining connections");
    tokio::select! {
        () = graceful.shutdown() => {
            tracing::info!("all connections drained");
            true
        }
        () = tokio::time::sleep(options.drain_timeout) => {
            tracing::warn!(timeout = ?options.drain_timeout, "drain deadline passed; closing the rest");
            false
        }
    }
}

/// Waits for a free connection slot, then for a client. Dropping this
/// future (another branch won) gives the slot back; `accept` is
/// cancel-safe, so no client is lost.
async fn accept_within(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (
    std::io::Result<(TcpStream, std::net::SocketAddr)>,
    OwnedSemaphorePermit,
) {
    let permit = Arc::clone(slots)
        .acquire_owned()
        .await
        .expect("the connection semaphore is never closed");
    (listener.accept().await, permit)
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
