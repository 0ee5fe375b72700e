//! Sockets: binding the public and admin listeners, keeping each under its
//! connection cap, running HTTP/1.1 on every connection, and draining them
//! on shutdown; also raising the process's open-file limit to what the caps
//! need.
//!
//! Everything a request means is decided in [`crate::router`]; this module
//! only owns connections, their timeouts and their lifetime.

mod connections;

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::answer::Body;
use crate::deadline::WriteDeadline;
use crate::limits::{listen_backlog, open_file_plan, OpenFileLimitError, MAX_HEAD_BYTES};
use crate::router::{handle_wire, respond, stats, Listener, Route};
use crate::state::State;
use connections::{Connections, Slot, Tracked};

/// The future a connection's service returns: ready at once for every
/// route but `/stats`, which reads the ledger's store off the workers (and
/// is the only one boxed, so the request path allocates nothing). The
/// ready variant is large because a body carries its spliced text inline;
/// boxing it would be the allocation per answer that design avoids.
#[allow(clippy::large_enum_variant)]
enum Reply {
    Ready(Option<hyper::Response<Body>>),
    Stats(Pin<Box<dyn Future<Output = hyper::Response<Body>> + Send>>),
}

impl Reply {
    fn new<B>(state: &Arc<State>, which: Listener, peer: IpAddr, req: &hyper::Request<B>) -> Reply {
        let is_stats = which == Listener::Admin
            && req.uri().path() == "/stats"
            && (req.method() == hyper::Method::GET || req.method() == hyper::Method::HEAD)
            && crate::router::host_is_acceptable(req.version(), req.headers())
            && !crate::limits::uri_too_long(req.uri());
        if !is_stats {
            return Reply::Ready(Some(handle_wire(state, which, peer, req)));
        }
        let state = Arc::clone(state);
        let query = req.uri().query().map(str::to_owned);
        Reply::Stats(Box::pin(async move {
            let started = std::time::Instant::now();
            let answer = stats::answer(Arc::clone(&state), query).await;
            respond(&state, Route::Stats, started, answer)
        }))
    }
}

impl Future for Reply {
    type Output = Result<hyper::Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut *self {
            Reply::Ready(response) => Poll::Ready(Ok(response.take().expect("polled once"))),
            Reply::Stats(future) => future.as_mut().poll(cx).map(Ok),
        }
    }
}

/// Connection settings shared by both listeners.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// A client must send a whole request head within this.
    pub header_timeout: Duration,
    /// In-flight requests get this long to finish after a shutdown signal.
    pub drain_timeout: Duration,
    /// Public connections open at once. At the cap a new client takes the
    /// place of the connection idle the longest; with none idle it waits
    /// (in the kernel's backlog) until one closes or turns idle.
    pub max_connections: usize,
    /// The same cap for the admin listener, so flooding it cannot use up
    /// the process's file descriptors.
    pub admin_max_connections: usize,
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
            admin_max_connections: 64,
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

/// A listener on `addr` whose accept queue suits a cap of `cap`
/// connections (see [`listen_backlog`]).
pub fn bind(addr: SocketAddr, cap: usize) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std and mio do: a restarted server can bind while old connections
    // sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(listen_backlog(cap))
}

/// Raises the soft `RLIMIT_NOFILE` to what the two connection caps need,
/// or says which limit is too low and what to do. Returns the soft limit
/// now in force.
pub fn raise_open_file_limit(options: &ServerOptions) -> Result<u64, OpenFileLimitError> {
    use rlimit::Resource;
    let (soft, hard) = Resource::NOFILE.get()?;
    match open_file_plan(
        soft,
        hard,
        options.max_connections,
        options.admin_max_connections,
    )? {
        None => Ok(soft),
        Some(raised) => {
            Resource::NOFILE.set(raised, hard)?;
            tracing::info!(from = soft, to = raised, hard, "raised the open-file limit");
            Ok(raised)
        }
    }
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
    let connections = Shared {
        http: http1_builder(&options),
        graceful: GracefulShutdown::new(),
        state,
        options,
    };
    // Each listener has its own cap, so operators can still reach the
    // admin listener when the public one is full, and the other way round.
    let public_open = Connections::new(connections.options.max_connections);
    let admin_open = Connections::new(connections.options.admin_max_connections);
    tokio::select! {
        () = connections.accept(&public, Listener::Public, &public_open) => {}
        () = connections.accept(&admin, Listener::Admin, &admin_open) => {}
        () = shutdown => {}
    }

    drop((public, admin));
    let Shared {
        graceful, options, ..
    } = connections;
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

/// What every connection of both listeners is served with.
struct Shared {
    http: http1::Builder,
    graceful: GracefulShutdown,
    state: Arc<State>,
    options: ServerOptions,
}

impl Shared {
    /// Accepts clients on `listener` for ever, each once it has a place
    /// under the cap. A client accepted at the cap with nothing to shed is
    /// held until a place frees, and no other is accepted meanwhile: the
    /// rest wait in the kernel's backlog, costing no descriptor.
    async fn accept(&self, listener: &TcpListener, which: Listener, open: &Arc<Connections>) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(error = %e, listener = ?which, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let slot = open.admit().await;
            self.serve_connection(stream, peer, which, slot);
        }
    }

    fn serve_connection(&self, stream: TcpStream, peer: SocketAddr, which: Listener, slot: Slot) {
        let _ = stream.set_nodelay(true);
        let activity = Arc::clone(slot.activity());
        let service = {
            let state = Arc::clone(&self.state);
            let activity = Arc::clone(&activity);
            let peer = peer.ip();
            service_fn(move |req| {
                activity.request_started();
                Reply::new(&state, which, peer, &req)
            })
        };
        let io = Tracked::new(
            WriteDeadline::new(stream, self.options.write_timeout),
            Arc::clone(&activity),
        );
        let connection = self
            .graceful
            .watch(self.http.serve_connection(TokioIo::new(io), service));
        let state = Arc::clone(&self.state);
        state.metrics.connection_opened();
        tokio::spawn(async move {
            tokio::select! {
                // Dropping the connection closes the socket at once, even
                // mid-head: only a connection with no request in flight
                // is ever asked to go.
                biased;
                () = activity.shed_requested() => {
                    tracing::debug!(%peer, listener = ?which, "closed an idle connection to make room");
                }
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
            }
            state.metrics.connection_closed();
            drop(slot);
        });
    }
}

/// Completes on SIGTERM or SIGINT.
///
/// The handlers are installed when this is called, not when the future is
/// first polled: a SIGTERM that arrives between the first answer and the
/// first poll must start a drain, not kill the process (it did, in CI).
pub fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    }
}
