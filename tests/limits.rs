//! Connection hardening on the wire: raw TCP against a real server.

#[path = "guard/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use adserver::access::Access;
use adserver::server::ServerOptions;
use common::{exchange, get, parse_reply, read_to_close, start};

fn options(header_timeout_ms: u64, max_connections: usize) -> ServerOptions {
    ServerOptions {
        header_timeout: Duration::from_millis(header_timeout_ms),
        drain_timeout: Duration::from_secs(1),
        max_connections,
        write_timeout: Duration::from_millis(300),
    }
}

/// Opens a connection, sends `bytes`, and returns how long the server
/// took to close it.
async fn closed_after(addr: std::net::SocketAddr, bytes: &[u8]) -> (Duration, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let opened = Instant::now();
    stream.write_all(bytes).await.unwrap();
    let got = read_to_close(&mut stream, Duration::from_secs(5))
        .await
        .expect("the server must close a stalled connection");
    (opened.elapsed(), got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_within_the_header_timeout() {
    let server = start(options(500, 100), Access::default()).await;
    let (took, got) = closed_after(server.public, b"").await;
    assert!(
        took >= Duration::from_millis(400),
        "closed too early: {took:?}"
    );
    assert!(
        took < Duration::from_millis(2500),
        "closed too late: {took:?}"
    );
    // hyper closes an idle connection without a response.
    assert!(got.is_empty(), "unexpected bytes {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_request_line_is_closed_within_the_header_timeout() {
    let server = start(options(500, 100), Access::default()).await;
    let (took, got) = closed_after(server.public, b"GET /ad_req").await;
    assert!(
        took >= Duration::from_millis(400),
        "closed too early: {took:?}"
    );
    assert!(
        took < Duration::from_millis(2500),
        "closed too late: {took:?}"
    );
    if !got.is_empty() {
        // hyper answers a timed-out partial head with 408 before closing.
        assert!(
            got.starts_with(b"HTTP/1.1 408"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_too() {
    let server = start(options(500, 100), Access::default()).await;
    let mut stream = TcpStream::connect(server.public).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let got = read_to_close(&mut stream, Duration::from_secs(5))
        .await
        .expect("an idle keep-alive connection must be closed");
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert_eq!(parse_reply(&got).status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_over_8_kib_get_431() {
    let server = start(options(2000, 100), Access::default()).await;
    let big = "a".repeat(9 * 1024);
    let reply = exchange(
        server.public,
        format!("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 431, "{}", reply.head);
    // Just under the limit is still served.
    let fits = "a".repeat(7 * 1024);
    let reply = get(server.public, "/healthz", &[("X-Fits", &fits)]).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_100_headers_get_431() {
    let server = start(options(2000, 100), Access::default()).await;
    let mut req = String::from("GET /healthz HTTP/1.1\r\nHost: t\r\n");
    for i in 0..120 {
        req.push_str(&format!("X-H{i}: v\r\n"));
    }
    req.push_str("\r\n");
    assert_eq!(exchange(server.public, req.as_bytes()).await.status, 431);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_uri_gets_414() {
    let server = start(options(2000, 100), Access::default()).await;
    let target = format!("/ad_request?country=us&lang=eng&pad={}", "x".repeat(4000));
    let reply = exchange(
        server.public,
        format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(
        reply.head.starts_with("HTTP/1.1 414 URI Too Long"),
        "{}",
        reply.head
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.body.contains("uri_too_long"));
    // The same request with a normal URI is served.
    assert_eq!(get(server.public, common::AD, &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_limit_new_clients_wait_and_are_served_after() {
    let server = start(options(3000, 2), Access::default()).await;
    let hold_a = TcpStream::connect(server.public).await.unwrap();
    let hold_b = TcpStream::connect(server.public).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A third client is queued, not served, while both slots are taken...
    let mut waiting = TcpStream::connect(server.public).await.unwrap();
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(
        read_to_close(&mut waiting, Duration::from_millis(300))
            .await
            .is_err(),
        "served beyond the connection limit"
    );
    // ...while the admin listener, which is not limited, still answers.
    assert_eq!(get(server.admin, "/healthz", &[]).await.status, 200);

    drop((hold_a, hold_b));
    let got = read_to_close(&mut waiting, Duration::from_secs(2))
        .await
        .expect("the queued client is served once a slot frees");
    assert_eq!(parse_reply(&got).status, 200);
    let reply = get(server.public, "/healthz", &[]).await;
    assert_eq!(
        reply.status, 200,
        "a fresh connection after the others close"
    );
    assert!(!server.task.is_finished(), "the server is still running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_responses_is_cut_off() {
    // The header timeout is long, so only the write deadline can close it.
    let server = start(options(10_000, 100), Access::default()).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.public).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // Pipeline far more answers than the socket buffers hold, read none.
    let pipelined = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n".repeat(100_000);
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&pipelined).await;
        writer
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Drain what was buffered: the server must have closed by now, so the
    // stream ends instead of flowing again.
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    let drained = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match tokio::io::AsyncReadExt::read(&mut reader, &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
    writing.abort();
    assert!(
        drained.is_ok(),
        "the connection was still open after {total} bytes"
    );
    assert!(
        total < 100_000 * 100,
        "every answer was delivered ({total} bytes)"
    );
    assert_eq!(get(server.public, "/healthz", &[]).await.status, 200);
}
