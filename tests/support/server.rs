//! A real adserver for the black-box tests: both listeners on 127.0.0.1
//! (free ports, bound as the binary binds them, so the accept queue is the
//! real one), a hand-set clock, and shutdown when the test says so or drops
//! it.

use std::net::SocketAddr;
use std::sync::Arc;

use adserver::access::Access;
use adserver::clock::{HourBasis, ManualClock};
use adserver::delivery::Delivery;
use adserver::server::{self, ServerOptions};
use adserver::state::State;
use adserver::synthetic;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::client::{get, Reply};

/// The ad request the sample catalog answers with 200.
pub const AD: &str = "/ad_request?country=us&lang=eng";

/// A running server; dropping it shuts it down.
pub struct TestServer {
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub state: Arc<State>,
    pub clock: Arc<ManualClock>,
    stop: Option<oneshot::Sender<()>>,
    /// `serve` itself: finished once the server has stopped; its value says
    /// whether every connection drained.
    pub task: JoinHandle<bool>,
}

impl TestServer {
    /// A server with no catalog yet, its clock at `hour`.
    pub async fn start(hour: u8) -> TestServer {
        TestServer::start_with(hour, ServerOptions::default()).await
    }

    pub async fn start_with(hour: u8, options: ServerOptions) -> TestServer {
        let (clock, state) = at(hour);
        TestServer::launch(clock, state, options).await
    }

    /// A server whose campaign hours are read on the player's clock.
    pub async fn start_player_basis(hour: u8) -> TestServer {
        let (clock, mut state) = at(hour);
        state.hour_basis = HourBasis::Player;
        TestServer::launch(clock, state, ServerOptions::default()).await
    }

    /// A server whose beacons and ledger are `delivery` (README "Delivery").
    pub async fn start_with_delivery(hour: u8, delivery: Delivery) -> TestServer {
        let (clock, state) = at(hour);
        let state = state.with_delivery(delivery);
        TestServer::launch(clock, state, ServerOptions::default()).await
    }

    /// The hardening tests' server (auth, limits, rate limits, exposure):
    /// the sample catalog loaded at noon, so [`AD`] answers 200 unless the
    /// gate refuses it, and `access` in front of it.
    pub async fn start_with_access(options: ServerOptions, access: Access) -> TestServer {
        let (clock, state) = at(12);
        let state = state.with_access(access);
        let _ = state.publish(synthetic::sample_catalog());
        TestServer::launch(clock, state, options).await
    }

    async fn launch(clock: Arc<ManualClock>, state: State, options: ServerOptions) -> TestServer {
        let loopback = "127.0.0.1:0".parse().unwrap();
        let public = server::bind(loopback, options.max_connections).unwrap();
        let admin = server::bind(loopback, options.admin_max_connections).unwrap();
        let (public_addr, admin_addr) = (public.local_addr().unwrap(), admin.local_addr().unwrap());
        let state = Arc::new(state);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server::serve(
            public,
            admin,
            Arc::clone(&state),
            options,
            async {
                let _ = stopped.await;
            },
        ));
        TestServer {
            public: public_addr,
            admin: admin_addr,
            state,
            clock,
            stop: Some(stop),
            task,
        }
    }

    /// Signals shutdown and returns whether every connection drained.
    pub async fn shutdown(mut self) -> bool {
        let _ = self.stop.take().unwrap().send(());
        (&mut self.task).await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Reply {
        get(self.public, path).await
    }

    /// A GET on the admin listener.
    pub async fn admin_get(&self, path: &str) -> Reply {
        get(self.admin, path).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A state with no catalog whose clock, kept by the test, reads `hour`.
fn at(hour: u8) -> (Arc<ManualClock>, State) {
    let clock = Arc::new(ManualClock::new(hour));
    let state = State::new(Arc::clone(&clock));
    (clock, state)
}

/// Loads a feed document into the server's catalog.
pub async fn load_json(server: &TestServer, json: &str) {
    let _ = server.state.publish(synthetic::compile_json(json));
}
