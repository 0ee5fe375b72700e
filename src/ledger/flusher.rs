//! The thread that writes the ledger every `--ledger-flush-interval`, and
//! the handle that stops it (with a last flush) at shutdown.

use std::sync::Arc;
use std::time::Duration;

use super::Ledger;
use crate::background::Periodic;

/// Owns the flusher thread. [`Flusher::shutdown`] (or dropping it) wakes
/// the thread, which flushes once more and exits; the caller waits for it.
pub struct Flusher(Periodic);

impl Flusher {
    pub(super) fn spawn(ledger: Arc<Ledger>, interval: Duration) -> std::io::Result<Flusher> {
        Periodic::spawn("ledger-flush", move |sleeper| loop {
            // Sleeps one interval unless stopped; the stop flag is not held
            // while flushing, so `shutdown` never waits on a write.
            let last = sleeper.sleep(interval);
            ledger.flush_logged();
            if last {
                return;
            }
        })
        .map(Flusher)
    }

    /// Stops the thread after one last flush (SIGTERM) and waits for it.
    /// Counts the last flush could not write stay pending in the ledger;
    /// the caller may try [`Ledger::flush_now`] again.
    pub fn shutdown(self) {
        self.0.shutdown();
    }
}
