//! A named OS thread that works in a loop and sleeps between rounds, and
//! the handle that wakes it from its sleep to stop it and waits for it:
//! the ledger's flusher and the budget sync are both one.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The stop flag a [`Periodic`] thread sleeps on.
#[derive(Default)]
pub struct Sleeper {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Sleeper {
    /// Sleeps `duration` unless stopped meanwhile; true once stopped (the
    /// thread then does its last round and returns).
    pub fn sleep(&self, duration: Duration) -> bool {
        let guard = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = self
            .wake
            .wait_timeout_while(guard, duration, |stopped| !*stopped)
            .unwrap_or_else(|p| p.into_inner());
        *guard
    }

    fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }
}

/// Owns the thread. [`Periodic::shutdown`] (or dropping it) wakes it and
/// waits for it to return.
pub struct Periodic {
    sleeper: Arc<Sleeper>,
    thread: Option<JoinHandle<()>>,
}

impl Periodic {
    /// Runs `body` on a new thread named `name`; `body` sleeps with the
    /// [`Sleeper`] it is given and returns once that says it is stopped.
    pub fn spawn(
        name: &str,
        body: impl FnOnce(&Sleeper) + Send + 'static,
    ) -> std::io::Result<Periodic> {
        let sleeper = Arc::new(Sleeper::default());
        let own = Arc::clone(&sleeper);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(&own))?;
        Ok(Periodic {
            sleeper,
            thread: Some(thread),
        })
    }

    /// Wakes the thread and waits for its last round.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.sleeper.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
