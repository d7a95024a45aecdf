//! Group commit for client-credentials tokens. Requests that arrive together share one
//! transaction: a writer thread takes whatever is queued (at most [`MAX_BATCH`]), stores
//! the grants and tokens in three statements and one commit, and only then answers each
//! request, so no response carries a token whose row is not committed. Nothing waits to
//! fill a batch: under light load a batch holds one token; under heavy load the queue
//! fills while the previous commit runs.
//!
//! Bounded: at most [`QUEUE`] tokens wait; past that, or when no commit comes within the
//! database wait, the request answers 503 with `Retry-After`.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use crate::db::models::grants::{self, IssuedToken};
use crate::db::{self, DbError, DbPool};
use crate::oauth::live::{Live, TokenFacts};

/// The most tokens one transaction stores.
pub const MAX_BATCH: usize = 256;
/// The most tokens waiting for the writer.
pub const QUEUE: usize = 4096;

struct Job {
    token: IssuedToken,
    reply: SyncSender<Result<i64, Failure>>,
}

/// Why a token was not stored, as the waiting request needs it.
#[derive(Debug, Clone)]
enum Failure {
    /// Its client was deleted meanwhile (a foreign key failed): `invalid_client`.
    Vanished(String),
    /// Anything else: 503.
    Other(String),
}

pub struct Writer {
    queue: SyncSender<Job>,
    wait: Duration,
}

impl Writer {
    /// Starts the writer thread; `wait` bounds how long a request waits for its commit.
    pub fn start(pool: DbPool, live: Arc<Live>, wait: Duration) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("consentry-writer".into())
            .spawn(move || supervise(&pool, &live, &jobs))?;
        Ok(Self { queue, wait })
    }

    /// Stores `token` with its grant; returns the grant id once the row is committed.
    pub fn write(&self, token: IssuedToken) -> Result<i64, DbError> {
        let (reply, answer) = mpsc::sync_channel(1);
        match self.queue.try_send(Job { token, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(DbError::Unavailable("the token write queue is full".into()));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(DbError::Unavailable("the token writer has stopped".into()));
            }
        }
        match answer.recv_timeout(self.wait) {
            Ok(Ok(grant_id)) => Ok(grant_id),
            Ok(Err(Failure::Vanished(e))) => Err(DbError::Vanished(e)),
            Ok(Err(Failure::Other(e))) => Err(DbError::Unavailable(format!(
                "storing the token failed: {e}"
            ))),
            // The row may still be committed later; this response carries no token.
            Err(RecvTimeoutError::Timeout) => Err(DbError::Unavailable(format!(
                "the token was not stored within {} ms",
                self.wait.as_millis()
            ))),
            Err(RecvTimeoutError::Disconnected) => {
                Err(DbError::Unavailable("the token writer has stopped".into()))
            }
        }
    }
}

/// Runs the writer until the server is gone; a panic in a batch (a bug) is logged and the
/// writer goes on with the next one, so issuance does not stop for good. The requests of
/// the lost batch hear that the writer stopped (503).
fn supervise(pool: &DbPool, live: &Live, jobs: &Receiver<Job>) {
    loop {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_batches(pool, live, jobs)
        }));
        match run {
            Ok(()) => return,
            Err(_) => tracing::error!("the token writer panicked; restarting it"),
        }
    }
}

fn write_batches(pool: &DbPool, live: &Live, jobs: &Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match store(pool, &batch) {
            Ok(grant_ids) => answer(live, batch, grant_ids),
            // A client deleted meanwhile fails the whole statement: the others are stored
            // one by one, and only its own requests hear that it is gone.
            Err(DbError::Vanished(_)) if batch.len() > 1 => {
                for job in batch {
                    match store(pool, std::slice::from_ref(&job)) {
                        Ok(ids) => answer(live, vec![job], ids),
                        Err(e) => refuse(vec![job], &e),
                    }
                }
            }
            Err(e) => refuse(batch, &e),
        }
    }
}

fn store(pool: &DbPool, batch: &[Job]) -> Result<Vec<i64>, DbError> {
    let tokens: Vec<IssuedToken> = batch.iter().map(|job| job.token.clone()).collect();
    let mut conn = pool
        .get()
        .map_err(|e| DbError::Unavailable(e.to_string()))?;
    db::transaction(&mut conn, |c| grants::insert_issued(c, &tokens))
}

fn answer(live: &Live, batch: Vec<Job>, grant_ids: Vec<i64>) {
    for (job, grant_id) in batch.into_iter().zip(grant_ids) {
        // Known at once to this server's introspection and API, without a read.
        live.issued(
            &job.token.jti,
            TokenFacts {
                grant_id,
                client_pk: job.token.client_id,
                user_id: job.token.user_id,
                expires_at: job.token.expires_at,
                revoked: false,
            },
        );
        let _ = job.reply.send(Ok(grant_id));
    }
}

fn refuse(batch: Vec<Job>, e: &DbError) {
    let failure = match e {
        DbError::Vanished(m) => Failure::Vanished(m.clone()),
        other => {
            tracing::warn!(error = %other, tokens = batch.len(), "a batch of tokens could not be stored");
            Failure::Other(other.to_string())
        }
    };
    for job in batch {
        let _ = job.reply.send(Err(failure.clone()));
    }
}
