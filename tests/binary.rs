//! The `adserver` binary as an operator runs it: flags and environment,
//! startup logs, serving the bundled feed, and exit 0 on SIGTERM/SIGINT.

#[path = "support/redis.rs"]
mod redis_support;
mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use adserver::synthetic::SAMPLE_FEED;
use support::get;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(args: &[&str], envs: &[(&str, String)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_adserver"))
        .args(args)
        .env_remove("ADSERVER_LISTEN")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

async fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
            && get(([127, 0, 0, 1], port).into(), "/readyz").await.status == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server on {port} not ready in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn wait_exit(mut child: Child) -> (i32, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut log = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
            return (status.code().unwrap_or(-1), log);
        }
        assert!(Instant::now() < deadline, "no exit within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn serves_the_bundled_feed_and_exits_0_on_sigterm() {
    let (port, admin) = (free_port(), free_port());
    let child = spawn(
        &[
            "--feed",
            SAMPLE_FEED,
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
        ],
        &[("ADSERVER_LISTEN", format!("127.0.0.1:{port}"))],
    );
    wait_ready(port).await;
    let reply = get(
        ([127, 0, 0, 1], port).into(),
        "/ad_request?country=us&lang=eng",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        get(([127, 0, 0, 1], admin).into(), "/metrics").await.status,
        200
    );
    signal(&child, "TERM");
    let (code, log) = wait_exit(child);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains(&format!("127.0.0.1:{port}")),
        "startup names the address: {log}"
    );
    assert!(log.contains("ads.json"), "startup names the feed: {log}");
    assert!(
        log.contains("ads=51") && log.contains("skipped=0"),
        "startup counts ads: {log}"
    );
    // The feed refresh and SIGHUP loops heard the drain and ended by
    // themselves (README "Configuration").
    assert!(log.contains("loops_stopped=true"), "{log}");
}

#[tokio::test]
async fn the_flag_wins_over_the_variable_and_sigint_exits_0() {
    let (flag_port, env_port, admin) = (free_port(), free_port(), free_port());
    let child = spawn(
        &[
            "--listen",
            &format!("127.0.0.1:{flag_port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
        ],
        &[
            ("ADSERVER_LISTEN", format!("127.0.0.1:{env_port}")),
            ("ADSERVER_FEED", SAMPLE_FEED.to_owned()),
            ("ADSERVER_TIMEZONE", "America/New_York".to_owned()),
        ],
    );
    wait_ready(flag_port).await;
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", env_port))
        .await
        .is_err());
    signal(&child, "INT");
    let (code, log) = wait_exit(child);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("America/New_York"), "{log}");
}

#[test]
fn a_bad_option_is_refused_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_adserver"))
        .args(["--timezone", "Mars/Olympus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Mars/Olympus"), "{err}");
}

#[tokio::test]
async fn sighup_reloads_the_feed_at_once() {
    let dir = std::env::temp_dir().join(format!("adserver-sighup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let feed = dir.join("ads.json");
    std::fs::write(&feed, support::feed_json(&[("before", "de", "ger", 0, 0)])).unwrap();
    let (port, admin) = (free_port(), free_port());
    let child = spawn(
        &[
            "--feed",
            feed.to_str().unwrap(),
            "--refresh-interval",
            "3600",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
        ],
        &[],
    );
    wait_ready(port).await;
    let addr = ([127, 0, 0, 1], port).into();
    assert_eq!(
        get(addr, "/ad_request?country=de&lang=ger").await.ad_id(),
        "before"
    );

    std::fs::write(&feed, support::feed_json(&[("after", "de", "ger", 0, 0)])).unwrap();
    signal(&child, "HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(addr, "/ad_request?country=de&lang=ger").await.ad_id() != "after" {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal(&child, "TERM");
    let (code, log) = wait_exit(child);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("SIGHUP"), "{log}");
}

/// `adserver args` run by `sh` with the open-file limit set to `soft:hard`
/// first, as `ulimit` or a container runtime would.
fn spawn_with_open_files(soft: u32, hard: u32, args: &[&str]) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn {soft} && ulimit -Hn {hard} && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_adserver"))
        .args(args)
        .env_remove("ADSERVER_LISTEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_hard_open_file_limit_below_the_caps_refuses_to_start() {
    let child = spawn_with_open_files(
        256,
        256,
        &[
            "--feed",
            SAMPLE_FEED,
            "--max-connections",
            "200",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
    );
    let (code, log) = wait_exit(child);
    assert_eq!(code, 1, "{log}");
    // 200 public + 64 admin (the default) + 128 spare.
    for part in [
        "RLIMIT_NOFILE",
        "hard limit is 256",
        "392 are needed",
        "--max-connections",
    ] {
        assert!(log.contains(part), "the error lacks {part:?}: {log}");
    }
}

#[tokio::test]
async fn the_soft_open_file_limit_is_raised_to_what_the_caps_need() {
    let (port, admin) = (free_port(), free_port());
    let child = spawn_with_open_files(
        100,
        4096,
        &[
            "--feed",
            SAMPLE_FEED,
            "--max-connections",
            "200",
            "--admin-max-connections",
            "8",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
        ],
    );
    wait_ready(port).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>();
    // 200 + 8 + 128 spare; the hard limit is left alone.
    assert_eq!(open_files[3..5], ["336", "4096"], "{limits}");
    signal(&child, "TERM");
    let (code, log) = wait_exit(child);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("raised the open-file limit"), "{log}");
}

/// README "Delivery": with `--ledger sqlite:PATH` a served ad and its
/// beacon, counted less than one flush interval before SIGTERM, are written
/// at shutdown and read back by the next process; the key file created by
/// the first process is reused, so the first process's beacon still
/// verifies on the second.
#[tokio::test]
async fn a_sqlite_ledger_and_event_key_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("adserver-bin-ledger-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ledger = format!("sqlite:{}", dir.join("ledger.db").display());
    let key = dir.join("event.key");
    let run = |port: u16, admin: u16| {
        spawn(
            &[
                "--feed",
                SAMPLE_FEED,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--admin-listen",
                &format!("127.0.0.1:{admin}"),
                "--ledger",
                &ledger,
                "--ledger-flush-interval",
                "3600",
                "--event-key-file",
                key.to_str().unwrap(),
            ],
            &[],
        )
    };
    let (port, admin) = (free_port(), free_port());
    let first = run(port, admin);
    wait_ready(port).await;
    let addr = ([127, 0, 0, 1], port).into();
    let reply = get(addr, "/ad_request?country=us&lang=eng").await;
    let id = reply.ad_id();
    let start = reply.body.find("/event?t=").unwrap();
    let target = &reply.body[start..reply.body.rfind('"').unwrap()];
    assert_eq!(
        get(addr, &format!("{target}&e=impression")).await.status,
        204
    );
    signal(&first, "TERM");
    let (code, log) = wait_exit(first);
    assert_eq!(code, 0, "{log}");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the key file is private");

    let (port, admin) = (free_port(), free_port());
    let second = run(port, admin);
    wait_ready(port).await;
    let addr = ([127, 0, 0, 1], port).into();
    // The first process's token verifies here (same key file); a repeat
    // of its impression is not counted again, a new event is.
    assert_eq!(get(addr, &format!("{target}&e=complete")).await.status, 204);
    let stats = get(([127, 0, 0, 1], admin).into(), "/stats?format=csv").await;
    signal(&second, "TERM");
    let (code, log) = wait_exit(second);
    assert_eq!(code, 0, "{log}");
    let row = stats
        .body
        .lines()
        .find(|l| l.starts_with(&format!("{id},")))
        .unwrap_or_else(|| panic!("no row for {id}: {}", stats.body));
    // served, impression, start, firstQuartile, midpoint, thirdQuartile, complete
    assert!(row.starts_with(&format!("{id},1,1,0,0,0,0,1,")), "{row}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// README "Budgets": two replicas on one Redis hold a daily cap and a
/// frequency cap, and a replica that restarts keeps both from its first
/// answer (its first budget sync runs before it serves).
#[tokio::test]
async fn caps_hold_across_replicas_and_a_restart_on_redis() {
    use adserver::synthetic::ad_json;
    use support::feed_of_ads;
    let redis = redis_support::RedisServer::start();
    let dir = std::env::temp_dir().join(format!("adserver-bin-caps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let feed = dir.join("feed.json");
    let ads = [
        ad_json("daily", "us", "eng", 0, 0, r#","daily_cap":2"#),
        ad_json(
            "freq",
            "de",
            "ger",
            0,
            0,
            r#","frequency_cap":{"count":2,"hours":24}"#,
        ),
        ad_json("house", "*", "*", 0, 0, ""),
    ];
    std::fs::write(&feed, feed_of_ads(&ads)).unwrap();
    let key = dir.join("event.key");
    let url = redis.url();
    let run = || {
        let port = free_port();
        let child = spawn(
            &[
                "--feed",
                feed.to_str().unwrap(),
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--admin-listen",
                &format!("127.0.0.1:{}", free_port()),
                "--ledger",
                &url,
                "--event-key-file",
                key.to_str().unwrap(),
            ],
            &[],
        );
        (child, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
    };
    let (a, a_addr) = run();
    let (b, b_addr) = run();
    wait_ready(a_addr.port()).await;
    wait_ready(b_addr.port()).await;
    let us = "/ad_request?country=us&lang=eng";
    let p1 = "/ad_request?country=de&lang=ger&uid=p1";
    for addr in [a_addr, b_addr] {
        let reply = get(addr, us).await;
        assert_eq!(reply.ad_id(), "daily");
        let beacon = get(addr, &format!("{}&e=impression", reply.event_target())).await;
        assert_eq!(beacon.status, 204);
        assert_eq!(get(addr, p1).await.ad_id(), "freq");
    }
    // One flush and one sync later, both replicas know the fleet's counts.
    let settled = Instant::now() + Duration::from_secs(10);
    for addr in [a_addr, b_addr] {
        while get(addr, us).await.ad_id() != "house" || get(addr, p1).await.ad_id() != "house" {
            assert!(
                Instant::now() < settled,
                "caps not held on {addr} within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // SIGTERM flushes and sends; the restarted replica starts capped.
    signal(&a, "TERM");
    assert_eq!(wait_exit(a).0, 0);
    let (again, again_addr) = run();
    wait_ready(again_addr.port()).await;
    assert_eq!(
        get(again_addr, us).await.ad_id(),
        "house",
        "daily cap after restart"
    );
    assert_eq!(
        get(again_addr, p1).await.ad_id(),
        "house",
        "p1 capped after restart"
    );
    let p2 = "/ad_request?country=de&lang=ger&uid=p2";
    assert_eq!(get(again_addr, p2).await.ad_id(), "freq", "another player");
    for child in [b, again] {
        signal(&child, "TERM");
        assert_eq!(wait_exit(child).0, 0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
