//! Connection hardening on the wire: raw TCP against a real server.

mod support;

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use adserver::access::Access;
use adserver::server::ServerOptions;
use support::{exchange, get_with, parse_reply, read_to_close, TestServer, AD};

fn options(header_timeout_ms: u64, max_connections: usize) -> ServerOptions {
    ServerOptions {
        header_timeout: Duration::from_millis(header_timeout_ms),
        drain_timeout: Duration::from_secs(1),
        max_connections,
        admin_max_connections: 64,
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
    let server = TestServer::start_with_access(options(500, 100), Access::default()).await;
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
    let server = TestServer::start_with_access(options(500, 100), Access::default()).await;
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
    let server = TestServer::start_with_access(options(500, 100), Access::default()).await;
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
    let server = TestServer::start_with_access(options(2000, 100), Access::default()).await;
    let big = "a".repeat(9 * 1024);
    let reply = exchange(
        server.public,
        format!("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 431, "{}", reply.head);
    // Just under the limit is still served.
    let fits = "a".repeat(7 * 1024);
    let reply = get_with(server.public, "/healthz", &[("X-Fits", &fits)]).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_100_headers_get_431() {
    let server = TestServer::start_with_access(options(2000, 100), Access::default()).await;
    let mut req = String::from("GET /healthz HTTP/1.1\r\nHost: t\r\n");
    for i in 0..120 {
        req.push_str(&format!("X-H{i}: v\r\n"));
    }
    req.push_str("\r\n");
    assert_eq!(exchange(server.public, req.as_bytes()).await.status, 431);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_uri_gets_414() {
    let server = TestServer::start_with_access(options(2000, 100), Access::default()).await;
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
    assert_eq!(get_with(server.public, AD, &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_responses_is_cut_off() {
    // The header timeout is long, so only the write deadline can close it.
    let server = TestServer::start_with_access(options(10_000, 100), Access::default()).await;
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
    // Wait (bounded) for the server to give up on the connection: once the
    // socket buffers are full its write stalls, and the write deadline
    // closes it. How long the buffers take to fill depends on the machine,
    // so the test waits for the close, not for a fixed time.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    tokio::time::sleep(Duration::from_millis(200)).await;
    while open_connections(&server) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the connection was still open after 30 s of not reading"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Drain what was buffered: the server has closed, so the stream ends
    // instead of flowing again.
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    let drained = tokio::time::timeout(Duration::from_secs(20), async {
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
    assert_eq!(get_with(server.public, "/healthz", &[]).await.status, 200);
}

// Connection caps (README "Security"): each listener has a cap; at the cap
// the connection that has waited longest for a request head makes room,
// one with a request in flight never does.

/// A connection that pipelines far more requests than the socket buffers
/// hold and reads no answer: its response write blocks, so it always has
/// a request in flight. Drop both halves to close it.
async fn non_reader(
    addr: std::net::SocketAddr,
) -> (tokio::net::tcp::OwnedReadHalf, tokio::task::JoinHandle<()>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let (reader, mut writer) = socket.connect(addr).await.unwrap().into_split();
    let writing = tokio::spawn(async move {
        let pipelined = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n".repeat(100_000);
        let _ = writer.write_all(&pipelined).await;
        // Keep the write half open until the test aborts this task.
        std::future::pending::<()>().await;
    });
    (reader, writing)
}

/// Open connections on both listeners, from `/metrics`.
fn open_connections(server: &TestServer) -> i64 {
    let rendered = server.state.metrics.render::<adserver::router::Route>();
    let line = rendered
        .lines()
        .find(|l| l.starts_with("adserver_open_connections "))
        .expect("the gauge is rendered");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_connections_with_requests_in_flight_are_not_shed() {
    let mut opts = options(10_000, 2);
    opts.write_timeout = Duration::from_secs(10); // the holders stay busy
    let server = TestServer::start_with_access(opts, Access::default()).await;
    let (reader_a, writing_a) = non_reader(server.public).await;
    let (reader_b, writing_b) = non_reader(server.public).await;
    // Wait until both have filled their socket buffers: their response
    // writes block, and the server stops answering them.
    let served = || {
        server.state.metrics.requests(
            adserver::router::Route::Healthz,
            adserver::metrics::Outcome::Ok,
        )
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = served();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = served();
        if now == last && now > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pipelining clients never blocked"
        );
        last = now;
    }

    // A third client is held, not served, while both have requests in flight...
    let mut waiting = TcpStream::connect(server.public).await.unwrap();
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(
        read_to_close(&mut waiting, Duration::from_millis(500))
            .await
            .is_err(),
        "served beyond the connection cap, or a busy connection was shed"
    );
    // ...while the admin listener, which has its own cap, still answers.
    assert_eq!(get_with(server.admin, "/healthz", &[]).await.status, 200);

    writing_a.abort();
    writing_b.abort();
    drop((reader_a, reader_b));
    let got = read_to_close(&mut waiting, Duration::from_secs(2))
        .await
        .expect("the held client is served once a place frees");
    assert_eq!(parse_reply(&got).status, 200);
    assert_eq!(get_with(server.public, "/healthz", &[]).await.status, 200);
    assert!(!server.task.is_finished(), "the server is still running");
}

/// Sends one keep-alive request and reads its answer, leaving the
/// connection open and idle.
async fn idle_keep_alive(addr: std::net::SocketAddr) -> TcpStream {
    use tokio::io::AsyncReadExt;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(br#"{"status":"ok"}"#) {
        let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_the_longest_idle_keep_alive_connection_makes_room() {
    // The header timeout (also the keep-alive idle timeout) is long: only
    // shedding can free a place in time.
    let server = TestServer::start_with_access(options(30_000, 2), Access::default()).await;
    let mut older = idle_keep_alive(server.public).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut newer = idle_keep_alive(server.public).await;

    let started = Instant::now();
    let reply = get_with(server.public, "/healthz", &[]).await;
    assert_eq!(reply.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the new client waited {:?}",
        started.elapsed()
    );
    assert!(
        read_to_close(&mut older, Duration::from_secs(1))
            .await
            .is_ok(),
        "the longest-idle connection was closed to make room"
    );
    assert!(
        read_to_close(&mut newer, Duration::from_millis(300))
            .await
            .is_err(),
        "only one connection was shed"
    );
}

/// A slowloris client: opens a connection and sends a request head one
/// byte a second, reconnecting a second after the server closes it, until
/// `until`.
async fn slowloris(addr: std::net::SocketAddr, until: Instant) {
    use tokio::io::AsyncReadExt;
    const HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    while Instant::now() < until {
        if let Ok(mut stream) = TcpStream::connect(addr).await {
            let mut buf = [0u8; 256];
            for byte in HEAD.iter().cycle().take(HEAD.len()) {
                if Instant::now() >= until || stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                // Wait a second, or less if the server closes the connection.
                match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
                    Err(_) => continue,
                    Ok(_) => break,
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_flood_does_not_keep_a_new_client_waiting() {
    // Each slowloris connection is one descriptor here and at most one in
    // the server: stay well inside this process's limit.
    let files = rlimit::increase_nofile_limit(4096).unwrap_or(1024);
    let attackers = 1000.min(files.saturating_sub(400) as usize);
    assert!(attackers > 400, "only {files} open files allowed");
    // The header timeout is long, so only shedding can make room in time.
    let server = TestServer::start_with_access(options(20_000, 200), Access::default()).await;
    let until = Instant::now() + Duration::from_secs(8);
    let flood: Vec<_> = (0..attackers)
        .map(|_| tokio::spawn(slowloris(server.public, until)))
        .collect();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(
        open_connections(&server) >= 190,
        "the flood fills the cap: {}",
        open_connections(&server)
    );

    for _ in 0..5 {
        let started = Instant::now();
        let reply = tokio::time::timeout(
            Duration::from_secs(3),
            get_with(server.public, "/healthz", &[]),
        )
        .await
        .expect("answered within 3 s");
        let took = started.elapsed();
        eprintln!("under the flood, a new client was answered in {took:?}");
        assert_eq!(reply.status, 200);
        assert!(
            took < Duration::from_secs(1),
            "a legitimate client waited {took:?}"
        );
        assert!(open_connections(&server) <= 200, "over the cap");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for attacker in flood {
        attacker.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_stays_under_its_cap() {
    let mut opts = options(20_000, 100);
    opts.admin_max_connections = 8;
    let server = TestServer::start_with_access(opts, Access::default()).await;
    let mut flood = Vec::new();
    for _ in 0..8 + 50 {
        flood.push(TcpStream::connect(server.admin).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let open = open_connections(&server);
    assert!(
        open <= 8,
        "{open} admin connections open, over the cap of 8"
    );
    // Probes still get in while the flood is open, and after it.
    assert_eq!(get_with(server.admin, "/healthz", &[]).await.status, 200);
    drop(flood);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get_with(server.admin, "/healthz", &[]).await.status, 200);
    assert!(!server.task.is_finished(), "the server is still running");
}

// The Host rule (README "Endpoints and statuses").

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_1_1_without_exactly_one_host_gets_400_on_both_listeners() {
    let server = TestServer::start_with_access(options(2000, 100), Access::default()).await;
    for addr in [server.public, server.admin] {
        for (case, head) in [
            ("no Host", "GET /healthz HTTP/1.1\r\n\r\n"),
            (
                "two Hosts",
                "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
            ),
            (
                "two different Hosts",
                "GET /healthz HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
            ),
            ("an empty Host", "GET /healthz HTTP/1.1\r\nHost:\r\n\r\n"),
            (
                "no Host, ad request",
                "GET /ad_request?country=us&lang=eng HTTP/1.1\r\n\r\n",
            ),
        ] {
            let reply = exchange(addr, head.as_bytes()).await;
            assert_eq!(reply.status, 400, "{case}: {}", reply.head);
            assert_eq!(
                reply.header("content-type"),
                Some("application/json"),
                "{case}"
            );
            assert!(
                reply
                    .body
                    .starts_with(r#"{"error":"invalid_request","message":""#)
                    && reply.body.contains("Host"),
                "{case}: {}",
                reply.body
            );
        }
        let reply = exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: a:80\r\n\r\n").await;
        assert_eq!(reply.status, 200, "one Host is served");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_1_0_without_host_is_served() {
    let server = TestServer::start_with_access(options(2000, 100), Access::default()).await;
    let reply = exchange(
        server.public,
        format!("GET {} HTTP/1.0\r\n\r\n", AD).as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_answers_a_malformed_head_itself_with_an_empty_400() {
    // README "Endpoints and statuses": these answers are hyper's, not JSON.
    let server = TestServer::start_with_access(options(2000, 100), Access::default()).await;
    let reply = exchange(server.public, b"GET /healthz HTTP/1.1\r\nHost t\r\n\r\n").await;
    assert_eq!(reply.status, 400, "{}", reply.head);
    assert_eq!(reply.header("content-length"), Some("0"));
    assert!(reply.body.is_empty());
}
