//! What the public listener must not show: `/metrics` is answered only on
//! the admin listener, and probes stay open on both.

mod support;

use adserver::access::Access;
use adserver::server::ServerOptions;
use support::{get_with, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_only_on_the_admin_listener() {
    let server = TestServer::start_with_access(ServerOptions::default(), Access::default()).await;
    assert_eq!(get_with(server.public, "/metrics", &[]).await.status, 404);
    let admin = get_with(server.admin, "/metrics", &[]).await;
    assert_eq!(admin.status, 200);
    assert!(admin.body.contains("adserver_requests_total"));
    for addr in [server.public, server.admin] {
        assert_eq!(get_with(addr, "/healthz", &[]).await.status, 200);
    }
}
