//! A worker thread for bulk work that must not slow requests down.
//!
//! Rebuilding a large catalog is seconds of CPU. On a machine whose cores
//! are busy answering requests, a rebuild at normal priority takes its fair
//! share of a core and request latency doubles (measured with
//! `loadtest/rebuild.sh`). This thread runs at the lowest normal priority
//! (nice 19): the scheduler hands it whatever the workers leave, yet it is
//! never starved outright, so a feed change still lands under full load.

use std::sync::mpsc;
use std::thread;

type Job = Box<dyn FnOnce() + Send>;

/// A handle to one low-priority thread; the thread ends with the handle.
#[derive(Debug)]
pub struct Background {
    jobs: mpsc::Sender<Job>,
}

impl Background {
    /// Starts the thread, named `name`.
    pub fn spawn(name: &str) -> std::io::Result<Background> {
        let (jobs, queue) = mpsc::channel::<Job>();
        thread::Builder::new().name(name.to_owned()).spawn(move || {
            if let Err(e) =
                thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
            {
                tracing::warn!(error = ?e, "cannot lower the priority of the background thread");
            }
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

    /// The nice value of this process's thread called `name`, from /proc.
    fn nice_of(name: &str) -> Option<i64> {
        // Other test threads come and go meanwhile: skip what vanished.
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let dir = task.path();
            let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
                continue;
            };
            if comm.trim() == name {
                let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                // Fields after the ")" that closes the command name; nice is field 19.
                let after = &stat[stat.rfind(')')? + 2..];
                return after.split(' ').nth(16)?.parse().ok();
            }
        }
        None
    }

    #[tokio::test]
    async fn runs_work_at_the_lowest_normal_priority() {
        let background = Background::spawn("bg-test-nice").unwrap();
        assert_eq!(background.run(|| 6 * 7).await, 42);
        assert_eq!(nice_of("bg-test-nice"), Some(19));
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
