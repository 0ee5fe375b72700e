//! What the public listener must not show: `/metrics` is answered only on
//! the admin listener, and probes stay open on both.

#[path = "guard/mod.rs"]
mod common;

use adserver::access::Access;
use adserver::server::ServerOptions;
use common::{get, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_only_on_the_admin_listener() {
    let server = start(ServerOptions::default(), Access::default()).await;
    assert_eq!(get(server.public, "/metrics", &[]).await.status, 404);
    let admin = get(server.admin, "/metrics", &[]).await;
    assert_eq!(admin.status, 200);
    assert!(admin.body.contains("adserver_requests_total"));
    for addr in [server.public, server.admin] {
        assert_eq!(get(addr, "/healthz", &[]).await.status, 200);
    }
}
