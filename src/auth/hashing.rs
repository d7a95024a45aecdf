//! A bounded pool for password hashing. Each argon2 run takes 19 MiB and tens of
//! milliseconds, so an unbounded number of them at once is a memory-exhaustion attack
//! that needs no account. At most `threads` run at a time, each on one of a fixed set of
//! threads (so freed argon2 memory is reused by the same few malloc arenas instead of
//! piling up in one arena per blocking thread); a caller that cannot get a slot within
//! `wait` is told [`Busy`] before any hashing starts.

use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// No hashing slot came free in time: answer 503 with `Retry-After`.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("too many password checks are running; try again in a moment")]
pub struct Busy;

type Job = Box<dyn FnOnce() + Send>;

pub struct HashPool {
    slots: Arc<Semaphore>,
    jobs: SyncSender<(Job, OwnedSemaphorePermit)>,
    wait: Duration,
}

impl HashPool {
    /// Starts `threads` hashing threads; callers wait at most `wait` for one of them.
    pub fn new(threads: usize, wait: Duration) -> Self {
        let threads = threads.max(1);
        let (jobs, queue) = sync_channel::<(Job, OwnedSemaphorePermit)>(threads);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("consentry-hash-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while taking the next job, not while running it.
                        let next = queue.lock().map(|q| q.recv());
                        match next {
                            Ok(Ok((job, permit))) => {
                                job();
                                // The slot frees when the work is done, even if the request
                                // that asked for it has gone away meanwhile.
                                drop(permit);
                            }
                            _ => return,
                        }
                    }
                })
                .expect("the OS can start a hashing thread");
        }
        Self {
            slots: Arc::new(Semaphore::new(threads)),
            jobs,
            wait,
        }
    }

    /// Runs `work` on a hashing thread, or answers [`Busy`] when no slot frees within the wait.
    pub async fn run<T, F>(&self, work: F) -> Result<T, Busy>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
        });
        // A permit is held per queued job and the queue holds as many jobs as there are
        // permits, so this never blocks.
        self.jobs.try_send((job, permit)).map_err(|_| Busy)?;
        rx.await.map_err(|_| Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn never_runs_more_than_its_slots_and_refuses_when_full() {
        let pool = Arc::new(HashPool::new(2, Duration::from_millis(50)));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        let mut done = 0;
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => done += 1,
                Err(Busy) => busy += 1,
            }
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(done, 2, "only the two that got a slot within 50 ms ran");
        assert_eq!(busy, 18);
    }
}
