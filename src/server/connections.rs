//! The open connections of one listener, and which of them may be closed to
//! make room for a new client when the listener is at its cap.
//!
//! A connection is *sheddable* while it waits for a request head: an idle
//! keep-alive connection between requests, or a slowloris still dribbling
//! its head (hyper's own "head started" state cannot tell those apart from a
//! real request, so it is not used). It stops being sheddable when a
//! request reaches the handler and becomes sheddable again once the
//! response has been flushed to the socket. A listener at its cap closes
//! the connection that has been sheddable the longest; one with a request
//! in flight is never closed. This module knows nothing of what a request
//! means: it sees only "a request began" and "the response was flushed".
//!
//! The request path pays one compare-and-swap per request and one clock
//! read per flushed response; the registry's lock is taken only when a
//! connection opens or closes, and when a listener at its cap looks for a
//! connection to shed.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// A request has reached the handler and its response is not flushed yet.
const BUSY: u64 = 0;
/// Chosen to be closed; the connection's task drops it on its next poll.
const SHED: u64 = 1;
/// Any value from here up: waiting for a request head since
/// `IDLE + nanoseconds after the registry's epoch`, so the smallest value
/// is the connection that has waited longest.
const IDLE: u64 = 2;

/// How often a listener at its cap with nothing to shed looks again (a
/// busy connection may have become idle since).
const RESCAN: Duration = Duration::from_millis(50);

/// Shedding gives up after this many connections turned busy under it in
/// a row, and tries again at the next [`RESCAN`].
const SHED_ATTEMPTS: usize = 8;

/// The open connections of one listener, at most `cap` of them.
pub(crate) struct Connections {
    slots: Arc<Semaphore>,
    open: Mutex<Registry>,
    epoch: Instant,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    by_id: HashMap<u64, Arc<Activity>>,
}

impl Connections {
    pub(crate) fn new(cap: usize) -> Arc<Connections> {
        Arc::new(Connections {
            slots: Arc::new(Semaphore::new(cap.max(1))),
            open: Mutex::new(Registry::default()),
            epoch: Instant::now(),
        })
    }

    /// A place for one more connection: at once while under the cap; at
    /// the cap, after closing the connection idle the longest; with none
    /// idle, once some connection closes or turns idle.
    pub(crate) async fn admit(self: &Arc<Self>) -> Slot {
        let permit = loop {
            if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
                break permit;
            }
            self.shed_oldest_idle();
            tokio::select! {
                permit = Arc::clone(&self.slots).acquire_owned() => {
                    break permit.expect("the connection semaphore is never closed");
                }
                () = tokio::time::sleep(RESCAN) => {}
            }
        };
        let activity = Arc::new(Activity {
            state: AtomicU64::new(idle_since(self.epoch)),
            shed: Notify::new(),
            epoch: self.epoch,
        });
        let mut open = self.lock();
        let id = open.next_id;
        open.next_id += 1;
        open.by_id.insert(id, Arc::clone(&activity));
        drop(open);
        Slot {
            connections: Arc::clone(self),
            id,
            activity,
            _permit: permit,
        }
    }

    /// Asks the connection that has waited longest for a request head to
    /// close; `false` when every open connection has a request in flight.
    pub(crate) fn shed_oldest_idle(&self) -> bool {
        let open = self.lock();
        for _ in 0..SHED_ATTEMPTS {
            let oldest = open
                .by_id
                .values()
                .map(|activity| (activity.state.load(Ordering::Acquire), activity))
                .filter(|(state, _)| *state >= IDLE)
                .min_by_key(|(state, _)| *state);
            let Some((state, activity)) = oldest else {
                return false;
            };
            // Fails only if a request reached the handler meanwhile: that
            // connection is no longer sheddable, so look again.
            if activity
                .state
                .compare_exchange(state, SHED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                activity.shed.notify_one();
                return true;
            }
        }
        false
    }

    /// How many connections are open.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // The registry is a plain map: a panic elsewhere cannot leave it
        // half-updated, so a poisoned lock is still good.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn idle_since(epoch: Instant) -> u64 {
    IDLE.saturating_add(u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - IDLE))
}

/// One admitted connection's place under the cap; dropping it frees the
/// place.
pub(crate) struct Slot {
    connections: Arc<Connections>,
    id: u64,
    activity: Arc<Activity>,
    // Released after `drop` has removed the entry, so the registry never
    // holds more than the cap.
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    pub(crate) fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.lock().by_id.remove(&self.id);
    }
}

/// What one connection is doing, as far as shedding cares.
pub(crate) struct Activity {
    state: AtomicU64,
    shed: Notify,
    epoch: Instant,
}

impl Activity {
    /// A request reached the handler: not sheddable until its response is
    /// flushed. If the connection was chosen to be shed a moment before,
    /// it stays chosen: the request had not reached the handler then.
    #[inline]
    pub(crate) fn request_started(&self) {
        let state = self.state.load(Ordering::Acquire);
        if state >= IDLE {
            let _ = self
                .state
                .compare_exchange(state, BUSY, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// Everything written so far reached the socket: idle again from now.
    #[inline]
    fn response_flushed(&self) {
        if self.state.load(Ordering::Relaxed) == BUSY {
            // Only this connection's own task leaves BUSY, so a plain CAS
            // cannot race with the shedder (which only takes idle ones).
            let _ = self.state.compare_exchange(
                BUSY,
                idle_since(self.epoch),
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    /// Completes once this connection has been chosen to be shed.
    pub(crate) async fn shed_requested(&self) {
        self.shed.notified().await;
    }
}

/// `inner` with each completed flush reported to the connection's
/// [`Activity`]: hyper flushes once a response is fully written.
pub(crate) struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Tracked<T> {
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Tracked<T> {
        Tracked { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            self.activity.response_flushed();
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_shed(slot: &Slot) -> bool {
        slot.activity.state.load(Ordering::Acquire) == SHED
    }

    #[tokio::test]
    async fn under_the_cap_admits_without_shedding() {
        let connections = Connections::new(2);
        let a = connections.admit().await;
        let b = connections.admit().await;
        assert!(!is_shed(&a) && !is_shed(&b));
        assert_eq!(connections.len(), 2);
        drop(a);
        assert_eq!(connections.len(), 1);
    }

    #[tokio::test]
    async fn the_longest_idle_is_shed_first_and_busy_ones_never() {
        let connections = Connections::new(3);
        let oldest_busy = connections.admit().await;
        let older = connections.admit().await;
        let newer = connections.admit().await;
        oldest_busy.activity.request_started();
        assert!(connections.shed_oldest_idle());
        assert!(is_shed(&older), "the longest-idle connection goes first");
        assert!(!is_shed(&oldest_busy) && !is_shed(&newer));
        // The shed one is still open until its task drops it; it is not
        // chosen twice.
        assert!(connections.shed_oldest_idle());
        assert!(is_shed(&newer));
        assert!(!connections.shed_oldest_idle(), "only a busy one is left");
        assert!(!is_shed(&oldest_busy));
    }

    #[tokio::test]
    async fn a_flushed_response_makes_a_connection_idle_again_and_youngest() {
        let connections = Connections::new(2);
        let first = connections.admit().await;
        let second = connections.admit().await;
        first.activity.request_started();
        std::thread::sleep(Duration::from_millis(2));
        first.activity.response_flushed();
        // `first` is idle again, but only since now: `second` has waited longer.
        assert!(connections.shed_oldest_idle());
        assert!(is_shed(&second) && !is_shed(&first));
    }

    #[tokio::test]
    async fn a_request_after_the_choice_does_not_save_the_connection() {
        let connections = Connections::new(1);
        let slot = connections.admit().await;
        assert!(connections.shed_oldest_idle());
        slot.activity.request_started();
        assert!(is_shed(&slot));
        tokio::time::timeout(Duration::from_secs(1), slot.activity.shed_requested())
            .await
            .expect("the shed connection's task is told");
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_a_new_one_waits_while_all_are_busy() {
        let connections = Connections::new(1);
        let busy = connections.admit().await;
        busy.activity.request_started();
        let waiting = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move { connections.admit().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished(), "admitted past the cap");
        assert!(!is_shed(&busy));
        // Once the response is flushed the busy one is idle, and the next
        // rescan sheds it for the waiting client.
        busy.activity.response_flushed();
        tokio::time::sleep(RESCAN * 2).await;
        assert!(is_shed(&busy));
        drop(busy);
        let admitted = waiting.await.unwrap();
        assert!(!is_shed(&admitted));
    }
}
