//! Stopping the background loops (feed refresh, JWKS refresh, SIGHUP) when
//! the server drains, the way mini-redis's `DbDropGuard` stops its purge
//! task and linkerd's `drain::Watch` its workers.
//!
//! [`Loops`] spawns the tasks and owns the one signal; each loop holds a
//! [`Shutdown`] and selects on it wherever it waits. Dropping [`Loops`]
//! aborts them, so a loop cannot outlive whoever started it by accident.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

/// A loop's ear for the stop signal. Cheap to clone; one per loop.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Waits until the loops are told to stop (at once if they were).
    /// Cancel-safe, so it can sit in a `select!` that runs many times.
    pub async fn recv(&mut self) {
        // An error means the sender is gone: that is a stop as well.
        let _ = self.0.wait_for(|&stop| stop).await;
    }

    #[cfg(test)]
    pub(crate) fn is_shutdown(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }
}

/// The background loops of one server, and the signal that stops them.
#[derive(Debug)]
pub struct Loops {
    stop: watch::Sender<bool>,
    tasks: JoinSet<&'static str>,
    names: Vec<&'static str>,
}

impl Default for Loops {
    fn default() -> Self {
        Loops {
            stop: watch::Sender::new(false),
            tasks: JoinSet::new(),
            names: Vec::new(),
        }
    }
}

impl Loops {
    pub fn new() -> Loops {
        Loops::default()
    }

    /// A [`Shutdown`] for a loop about to be spawned.
    pub fn shutdown(&self) -> Shutdown {
        Shutdown(self.stop.subscribe())
    }

    /// Runs `task`, which must return soon after its [`Shutdown`] fires;
    /// `name` is what the log says if it does not.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.names.push(name);
        self.tasks.spawn(async move {
            task.await;
            name
        });
    }

    /// Tells every loop to stop and waits up to `deadline` for them. A
    /// loop still running then is aborted and named in the result, which
    /// is empty when every loop stopped by itself.
    pub async fn stop(mut self, deadline: Duration) -> Vec<&'static str> {
        self.stop.send_replace(true);
        let mut running = std::mem::take(&mut self.names);
        let all_done = async {
            while let Some(done) = self.tasks.join_next().await {
                match done {
                    Ok(name) => running.retain(|&n| n != name),
                    Err(e) if e.is_panic() => {
                        tracing::error!(error = %e, "a background loop panicked")
                    }
                    Err(_) => {}
                }
            }
        };
        if tokio::time::timeout(deadline, all_done).await.is_err() {
            tracing::warn!(?running, "background loops did not stop in time; aborted");
            self.tasks.abort_all();
        }
        running
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    /// A loop shaped like the real ones: wakes on a short interval,
    /// does a step, listens for the signal while it waits.
    async fn ticking(ticks: Arc<AtomicU32>, mut shutdown: Shutdown) {
        loop {
            tokio::select! {
                biased;
                () = shutdown.recv() => return,
                () = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
            ticks.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[tokio::test]
    async fn signalled_loops_stop_and_are_waited_for() {
        let mut loops = Loops::new();
        let ticks = Arc::new(AtomicU32::new(0));
        for name in ["a", "b"] {
            loops.spawn(name, ticking(Arc::clone(&ticks), loops.shutdown()));
        }
        while ticks.load(Ordering::Relaxed) < 4 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Generous: a stop that works takes microseconds, one that does
        // not never ends.
        let stuck = loops.stop(Duration::from_secs(10)).await;
        assert!(stuck.is_empty(), "{stuck:?}");
        let after = ticks.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(ticks.load(Ordering::Relaxed), after, "a loop kept ticking");
    }

    #[tokio::test(start_paused = true)]
    async fn a_loop_that_ignores_the_signal_is_named_and_aborted() {
        let mut loops = Loops::new();
        loops.spawn("deaf", std::future::pending());
        let mut shutdown = loops.shutdown();
        loops.spawn("good", async move { shutdown.recv().await });
        assert_eq!(loops.stop(Duration::from_secs(1)).await, ["deaf"]);
    }

    #[tokio::test]
    async fn dropping_the_loops_is_a_stop_too() {
        let loops = Loops::new();
        let mut shutdown = loops.shutdown();
        assert!(!shutdown.is_shutdown());
        drop(loops);
        assert!(shutdown.is_shutdown());
        shutdown.recv().await;
    }
}
