//! Test harness: a real adserver on 127.0.0.1 with a hand-set clock, a raw
//! HTTP/1.1 client, and a feed server whose answers the test controls.

#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adserver::clock::{HourBasis, ManualClock};
use adserver::server::{serve, ServerOptions};
use adserver::state::State;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SAMPLE_FEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/ads.json");

pub struct TestServer {
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub state: Arc<State>,
    pub clock: Arc<ManualClock>,
    stop: Option<oneshot::Sender<()>>,
    done: JoinHandle<bool>,
}

impl TestServer {
    /// A server with no catalog yet, its clock at `hour`.
    pub async fn start(hour: u8) -> TestServer {
        TestServer::start_with(hour, ServerOptions::default()).await
    }

    pub async fn start_with(hour: u8, options: ServerOptions) -> TestServer {
        TestServer::launch(hour, HourBasis::Server, options).await
    }

    /// A server whose campaign hours are read on the player's clock.
    pub async fn start_player_basis(hour: u8) -> TestServer {
        TestServer::launch(hour, HourBasis::Player, ServerOptions::default()).await
    }

    async fn launch(hour: u8, basis: HourBasis, options: ServerOptions) -> TestServer {
        let clock = Arc::new(ManualClock::new(hour));
        let mut state = State::new(Arc::clone(&clock));
        state.hour_basis = basis;
        let state = Arc::new(state);
        let public = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (public_addr, admin_addr) = (public.local_addr().unwrap(), admin.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel();
        let done = tokio::spawn(serve(public, admin, Arc::clone(&state), options, async {
            let _ = stopped.await;
        }));
        TestServer {
            public: public_addr,
            admin: admin_addr,
            state,
            clock,
            stop: Some(stop),
            done,
        }
    }

    /// Signals shutdown and returns whether every connection drained.
    pub async fn shutdown(mut self) -> bool {
        let _ = self.stop.take().unwrap().send(());
        self.done.await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Reply {
        get(self.public, path).await
    }
}

/// One parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The status line and header lines, as sent.
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `id` of a 200 ad answer.
    pub fn ad_id(&self) -> String {
        assert_eq!(self.status, 200, "{self:?}");
        let prefix = r#"{"id":""#;
        let rest = self.body.strip_prefix(prefix).expect("ad body");
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path).await
}

pub async fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    raw(
        addr,
        &format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// `GET target` with extra header lines, `Connection: close`.
pub async fn get_with(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    raw(addr, &req).await
}

/// Sends `text` as is and reads the answer until the server closes.
pub async fn raw(addr: SocketAddr, text: &str) -> Reply {
    exchange(addr, text.as_bytes()).await
}

/// Sends `bytes` on a new connection and reads the answer until close.
pub async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_reply(&mut stream).await
}

pub async fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut bytes))
        .await
        .expect("server answered within 5 s")
        .unwrap();
    parse_reply(&String::from_utf8_lossy(&bytes))
}

pub fn parse_reply(text: &str) -> Reply {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_owned(), v.trim().to_owned())
        })
        .collect();
    Reply {
        status,
        head: head.to_owned(),
        headers,
        body: body.to_owned(),
    }
}

/// What the feed server answers next.
#[derive(Debug, Clone)]
pub struct FeedAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Ignore `body`: stream bytes without a length until the client
    /// hangs up (or 1 GiB, so the test server itself is bounded).
    pub endless: bool,
}

impl FeedAnswer {
    pub fn ok(body: impl Into<Vec<u8>>) -> FeedAnswer {
        FeedAnswer {
            status: 200,
            headers: vec![],
            body: body.into(),
            delay: Duration::ZERO,
            endless: false,
        }
    }

    pub fn status(status: u16) -> FeedAnswer {
        FeedAnswer {
            status,
            ..FeedAnswer::ok("")
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> FeedAnswer {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A one-route HTTP server standing in for the campaign service.
pub struct FeedServer {
    pub url: String,
    answer: Arc<Mutex<FeedAnswer>>,
    /// Request heads received, oldest first.
    pub requests: Arc<Mutex<Vec<String>>>,
    /// Body bytes the server managed to send, over all requests.
    pub bytes_sent: Arc<AtomicU64>,
}

impl FeedServer {
    pub async fn start(answer: FeedAnswer) -> FeedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/ads.json", listener.local_addr().unwrap());
        let answer = Arc::new(Mutex::new(answer));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let bytes_sent = Arc::new(AtomicU64::new(0));
        let (a, r, sent) = (
            Arc::clone(&answer),
            Arc::clone(&requests),
            Arc::clone(&bytes_sent),
        );
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (a, r, sent) = (Arc::clone(&a), Arc::clone(&r), Arc::clone(&sent));
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    r.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    let answer = a.lock().unwrap().clone();
                    tokio::time::sleep(answer.delay).await;
                    let mut out = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", answer.status);
                    if !answer.endless && answer.status != 304 {
                        out.push_str(&format!("Content-Length: {}\r\n", answer.body.len()));
                    }
                    for (n, v) in &answer.headers {
                        out.push_str(&format!("{n}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    let _ = stream.write_all(out.as_bytes()).await;
                    if answer.endless {
                        let chunk = vec![b' '; 64 * 1024];
                        for _ in 0..(1 << 30) / chunk.len() {
                            if stream.write_all(&chunk).await.is_err() {
                                break;
                            }
                            sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        }
                    } else if stream.write_all(&answer.body).await.is_ok() {
                        sent.fetch_add(answer.body.len() as u64, Ordering::Relaxed);
                    }
                });
            }
        });
        FeedServer {
            url,
            answer,
            requests,
            bytes_sent,
        }
    }

    pub fn set(&self, answer: FeedAnswer) {
        *self.answer.lock().unwrap() = answer;
    }

    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

/// Loads a feed document into the server's catalog.
pub async fn load_json(server: &TestServer, json: &str) {
    let feed = adserver::feed::parse(json.as_bytes().to_vec()).unwrap();
    let _ = server
        .state
        .publish(adserver::catalog::Catalog::compile(&feed));
}

/// One ad as feed JSON; `extra` is appended inside the object verbatim
/// (`r#","weight":3"#`).
pub fn ad_json(id: &str, country: &str, lang: &str, start: u8, end: u8, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","video_url":"https://cdn.example.com/{id}.mp4","country":"{country}","lang":"{lang}","start_hour":{start},"end_hour":{end}{extra}}}"#
    )
}

/// A feed document holding `ads` (from [`ad_json`]).
pub fn feed_of_ads(ads: &[String]) -> String {
    format!(r#"{{"ads":[{}]}}"#, ads.join(","))
}

/// A feed document from `(id, country, lang, start, end)` rows.
pub fn feed_json(ads: &[(&str, &str, &str, u8, u8)]) -> String {
    let ads: Vec<String> = ads
        .iter()
        .map(|&(id, country, lang, start, end)| ad_json(id, country, lang, start, end, ""))
        .collect();
    feed_of_ads(&ads)
}
