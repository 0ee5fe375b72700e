//! A worker thread for bulk work that must not slow requests down.
//!
//! Rebuilding a large catalog is seconds of CPU. On a machine whose cores
//! are busy answering requests, a rebuild at normal priority takes its fair
//! share of a core and request latency doubles (measured with
//! `loadtest/rebuild.sh`). This thread runs in Linux's `SCHED_IDLE` class
//! (or at nice 19 where that is refused): any worker that wakes preempts
//! it, it gets what the workers leave, and a feed change lands as soon as
//! the server has a spare moment.
//!
//! The async loops that schedule such work stop on one signal:
//! [`Loops`] and [`Shutdown`] (in `loops.rs`). The blocking loops (the
//! ledger's flusher, the budget sync) are each a [`Periodic`] thread.

mod loops;
mod periodic;

use std::sync::mpsc;
use std::thread;

pub use loops::{Loops, Shutdown};
pub use periodic::{Periodic, Sleeper};

type Job = Box<dyn FnOnce() + Send>;

/// Puts the calling thread in Linux's `SCHED_IDLE` class: any runnable
/// normal thread preempts it at once, yet the scheduler still gives it a
/// sliver of the CPU, so it is never starved outright. Where that class is
/// not available, nice 19 is the next best thing.
fn lower_priority() {
    use thread_priority::{
        set_current_thread_priority, set_thread_priority_and_policy, thread_native_id,
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle).is_err() {
        if let Err(e) = set_current_thread_priority(ThreadPriority::Min) {
            tracing::warn!(error = ?e, "cannot lower the priority of the background thread");
        }
    }
}

/// A handle to one low-priority thread; the thread ends with the handle.
#[derive(Debug)]
pub(crate) struct Background {
    jobs: mpsc::Sender<Job>,
}

impl Background {
    /// Starts the thread, named `name`.
    pub fn spawn(name: &str) -> std::io::Result<Background> {
        let (jobs, queue) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                lower_priority();
                for job in queue {
                    job();
                }
            })?;
        Ok(Background { jobs })
    }

    /// Runs `work` on the thread and waits for its result without blocking
    /// the async runtime. Jobs run one at a time, in order.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs
            .send(job)
            .expect("the background thread outlives its handle");
        result.await.expect("background work does not panic")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields of /proc's stat line for this process's thread called `name`,
    /// numbered as in proc(5): 19 is the nice value, 41 the policy.
    fn stat_field(name: &str, field: usize) -> Option<i64> {
        // Other test threads come and go meanwhile: skip what vanished.
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let dir = task.path();
            let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
                continue;
            };
            if comm.trim() == name {
                let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                // Fields after the ")" that closes the command name start at 3.
                let after = &stat[stat.rfind(')')? + 2..];
                return after.split(' ').nth(field - 3)?.parse().ok();
            }
        }
        None
    }

    #[tokio::test]
    async fn runs_work_in_the_idle_scheduling_class() {
        const SCHED_IDLE: i64 = 5;
        let background = Background::spawn("bg-test-idle").unwrap();
        assert_eq!(background.run(|| 6 * 7).await, 42);
        let policy = stat_field("bg-test-idle", 41);
        let nice = stat_field("bg-test-idle", 19);
        assert!(
            policy == Some(SCHED_IDLE) || nice == Some(19),
            "policy {policy:?}, nice {nice:?}: the thread was not demoted"
        );
    }

    #[tokio::test]
    async fn jobs_run_in_order() {
        let background = Background::spawn("bg-test-order").unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        for i in 0..5 {
            let log = log.clone();
            background.run(move || log.lock().unwrap().push(i)).await;
        }
        assert_eq!(*log.lock().unwrap(), [0, 1, 2, 3, 4]);
    }
}
