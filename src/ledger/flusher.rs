//! The thread that writes the ledger every `--ledger-flush-interval`, and
//! the handle that stops it (with a last flush) at shutdown.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::Ledger;

/// Owns the flusher thread. [`Flusher::shutdown`] (or dropping it) wakes
/// the thread, which flushes once more and exits; the caller waits for it.
pub struct Flusher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    pub(super) fn spawn(ledger: Arc<Ledger>, interval: Duration) -> std::io::Result<Flusher> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ledger-flush".into())
            .spawn(move || {
                let (lock, cvar) = &*signal;
                loop {
                    let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                    // Sleeps one interval unless stopped; the lock is released
                    // before flushing, so `shutdown` never waits on a write.
                    let (guard, _) = cvar
                        .wait_timeout_while(guard, interval, |stopped| !*stopped)
                        .unwrap_or_else(|p| p.into_inner());
                    let last = *guard;
                    drop(guard);
                    ledger.flush_logged();
                    if last {
                        return;
                    }
                }
            })?;
        Ok(Flusher {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread after one last flush (SIGTERM) and waits for it.
    /// Counts the last flush could not write stay pending in the ledger;
    /// the caller may try [`Ledger::flush_now`] again.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cvar.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
