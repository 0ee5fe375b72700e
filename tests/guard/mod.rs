//! The harness of the hardening tests (auth, limits, rate limits,
//! exposure): a real server on 127.0.0.1 with the sample feed loaded and
//! access control set, and a raw client that sends exactly the bytes a test
//! wants and reads until the server closes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

#[allow(unused_imports)] // each test binary uses a different part
pub use base::{exchange, get_with as get, Reply};

// The raw client is the black-box tests' own; this module adds a server
// with access control and a sample catalog, and timed reads.
#[path = "../common/mod.rs"]
mod base;

use adserver::access::Access;
use adserver::catalog::Catalog;
use adserver::clock::ManualClock;
use adserver::feed;
use adserver::server::{self, ServerOptions};
use adserver::state::State;

/// A running server; dropping it shuts it down.
pub struct TestServer {
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<bool>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a server with the sample feed loaded, at noon.
pub async fn start(options: ServerOptions, access: Access) -> TestServer {
    // Bound as the binary binds them, so the accept queue is the real one.
    let loopback = "127.0.0.1:0".parse().unwrap();
    let public = server::bind(loopback, options.max_connections).unwrap();
    let admin = server::bind(loopback, options.admin_max_connections).unwrap();
    let (public_addr, admin_addr) = (public.local_addr().unwrap(), admin.local_addr().unwrap());
    let state = Arc::new(State::new(ManualClock::new(12)).with_access(access));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/ads.json");
    let feed = feed::parse(std::fs::read(path).unwrap()).unwrap();
    let _ = state.publish(Catalog::compile(&feed));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(
        public,
        admin,
        Arc::clone(&state),
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    TestServer {
        public: public_addr,
        admin: admin_addr,
        state,
        stop: Some(stop),
        task,
    }
}

/// Reads until the peer closes (or `limit` passes); what arrived.
pub async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return Err(got),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Parses a raw answer, which may not be UTF-8.
pub fn parse_reply(raw: &[u8]) -> Reply {
    base::parse_reply(&String::from_utf8_lossy(raw))
}

pub const AD: &str = "/ad_request?country=us&lang=eng";
