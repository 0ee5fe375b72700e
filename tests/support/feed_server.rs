//! A one-route HTTP server standing in for the campaign service, whose
//! answers (status, headers, body, delay, an endless body) the test sets
//! and changes, and the feed documents it serves.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub use adserver::synthetic::ad_json;

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

/// A feed document holding `ads` (from [`ad_json`]).
pub fn feed_of_ads(ads: &[String]) -> String {
    format!(r#"{{"ads":[{}]}}"#, ads.join(","))
}

/// The budget tests' feed: ad `id` for `us`/`eng` all day with `budget`
/// (feed fields, each after a comma), and an unlimited `house` ad for
/// every pair to fall back on (README "Budgets").
pub fn budgeted_and_house(id: &str, budget: &str) -> String {
    feed_of_ads(&[
        ad_json(id, "us", "eng", 0, 0, budget),
        ad_json("house", "*", "*", 0, 0, ""),
    ])
}

/// A feed document from `(id, country, lang, start, end)` rows.
pub fn feed_json(ads: &[(&str, &str, &str, u8, u8)]) -> String {
    let ads: Vec<String> = ads
        .iter()
        .map(|&(id, country, lang, start, end)| ad_json(id, country, lang, start, end, ""))
        .collect();
    feed_of_ads(&ads)
}
