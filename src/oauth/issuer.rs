//! Group commit for client-credentials tokens. Requests that arrive together share one
//! transaction: a writer thread takes whatever is queued (at most [`MAX_BATCH`]), stores
//! the grants and tokens in one round trip and one commit, and only then answers each
//! request, so no response carries a token whose row is not committed. Nothing waits to
//! fill a batch: under light load a batch holds one token; under heavy load the queue
//! fills while a commit runs.
//!
//! [`WRITERS`] threads share the queue, each with a connection of its own, so that one
//! batch is sent while another waits for its commit to reach the disk. A request does not
//! hold a thread while it waits: it gets a [`Ticket`], answered when its batch is
//! committed.
//!
//! Bounded: at most [`QUEUE`] tokens wait; past that, or when no commit comes within the
//! database wait, the request answers 503 with `Retry-After`.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::MysqlConnection;
use diesel::connection::SimpleConnection;
use tokio::sync::oneshot;

use crate::config::DatabaseUrl;
use crate::db::models::grants::{self, IssuedToken};
use crate::db::{self, DbError};
use crate::oauth::live::{Live, TokenFacts};

/// The most tokens one transaction stores.
pub const MAX_BATCH: usize = 256;
/// The most tokens waiting for the writers.
pub const QUEUE: usize = 4096;
/// Writer threads (and connections); two keep one batch in flight while another commits.
pub const WRITERS: usize = 2;
/// A writer's connection idle this long is checked before use: the server may have
/// closed it meanwhile (`wait_timeout`), and a batch must not fail for that.
const IDLE_CHECK: Duration = Duration::from_secs(10);
/// A batch slower than this to store is logged: its requests waited that long.
const SLOW_BATCH: Duration = Duration::from_millis(50);

struct Job {
    token: IssuedToken,
    reply: oneshot::Sender<Result<i64, Failure>>,
}

/// Why a token was not stored, as the waiting request needs it.
#[derive(Debug, Clone)]
enum Failure {
    /// Its client was paused, given a new secret or deleted meanwhile: `invalid_client`.
    ClientChanged,
    /// A row it refers to is gone (its user): as [`DbError::Vanished`].
    Vanished(String),
    /// Anything else: 503.
    Other(String),
}

pub struct Writer {
    queue: SyncSender<Job>,
    wait: Duration,
}

/// A token handed to the writers: [`Ticket::committed`] says when its row is committed.
pub struct Ticket {
    answer: oneshot::Receiver<Result<i64, Failure>>,
    wait: Duration,
}

impl Writer {
    /// Starts the writer threads, each connecting to `url` when it first needs to; `wait`
    /// bounds how long a request waits for its commit and each statement's lock waits.
    pub fn start(url: DatabaseUrl, live: Arc<Live>, wait: Duration) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::sync_channel(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..WRITERS {
            let (live, jobs) = (live.clone(), jobs.clone());
            let mut link = Link::new(url.clone(), wait);
            std::thread::Builder::new()
                .name(format!("consentry-writer-{n}"))
                .spawn(move || supervise(&mut link, &live, &jobs))?;
        }
        Ok(Self { queue, wait })
    }

    /// Queues `token` with its grant; the ticket resolves once the row is committed.
    pub fn submit(&self, token: IssuedToken) -> Result<Ticket, DbError> {
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send(Job { token, reply }) {
            Ok(()) => Ok(Ticket {
                answer,
                wait: self.wait,
            }),
            Err(TrySendError::Full(_)) => {
                Err(DbError::Unavailable("the token write queue is full".into()))
            }
            Err(TrySendError::Disconnected(_)) => {
                Err(DbError::Unavailable("the token writer has stopped".into()))
            }
        }
    }
}

impl Ticket {
    /// The token's grant id once its row is committed; an error when it was not stored,
    /// or not within the database wait (the row may still be committed later, but the
    /// response then carries no token).
    pub async fn committed(self) -> Result<i64, DbError> {
        match tokio::time::timeout(self.wait, self.answer).await {
            Ok(Ok(Ok(grant_id))) => Ok(grant_id),
            Ok(Ok(Err(Failure::ClientChanged))) => Err(DbError::client_changed(
                "the token's client was paused, given a new secret or deleted meanwhile",
            )),
            Ok(Ok(Err(Failure::Vanished(e)))) => Err(DbError::Vanished(e)),
            Ok(Ok(Err(Failure::Other(e)))) => Err(DbError::Unavailable(format!(
                "storing the token failed: {e}"
            ))),
            Ok(Err(_)) => Err(DbError::Unavailable("the token writer has stopped".into())),
            Err(_) => Err(DbError::Unavailable(format!(
                "the token was not stored within {} ms",
                self.wait.as_millis()
            ))),
        }
    }
}

/// A writer's own connection, opened on first use and after a failure.
struct Link {
    url: DatabaseUrl,
    limit: Duration,
    conn: Option<MysqlConnection>,
    last_used: Instant,
}

impl Link {
    fn new(url: DatabaseUrl, limit: Duration) -> Self {
        Self {
            url,
            limit,
            conn: None,
            last_used: Instant::now(),
        }
    }

    fn connection(&mut self) -> Result<&mut MysqlConnection, DbError> {
        let idle = self.last_used.elapsed() > IDLE_CHECK;
        self.last_used = Instant::now();
        if idle
            && let Some(conn) = self.conn.as_mut()
            && conn.batch_execute("DO 0").is_err()
        {
            self.conn = None;
        }
        match self.conn {
            Some(ref mut conn) => Ok(conn),
            None => Ok(self.conn.insert(db::connect(&self.url, self.limit)?)),
        }
    }

    /// Stores a batch, again while it loses a race, and once more on a new connection
    /// when a connection kept from before has broken (a database restart, a proxy that
    /// closed it): that costs no request an answer. Storing twice cannot happen: a try
    /// that did commit makes the next one fail on the unique token ids. After a failure
    /// the connection is closed, which ends whatever the failed text left open.
    fn store(&mut self, tokens: &[IssuedToken]) -> Result<Vec<Option<i64>>, DbError> {
        let kept = self.conn.is_some();
        let stored = self.store_once(tokens);
        match stored {
            Err(e) if kept && e.is_connection_lost() => self.store_once(tokens),
            other => other,
        }
    }

    fn store_once(&mut self, tokens: &[IssuedToken]) -> Result<Vec<Option<i64>>, DbError> {
        db::retry(|| {
            let stored = grants::commit_issued(self.connection()?, tokens);
            if stored.is_err() {
                self.conn = None;
            }
            stored
        })
    }
}

/// Runs a writer until the server is gone; a panic in a batch (a bug) is logged and the
/// writer goes on with the next one, so issuance does not stop for good. The requests of
/// the lost batch hear that the writer stopped (503).
fn supervise(link: &mut Link, live: &Live, jobs: &Mutex<Receiver<Job>>) {
    loop {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_batches(link, live, jobs)
        }));
        match run {
            Ok(()) => return,
            Err(_) => {
                tracing::error!("a token writer panicked; restarting it");
                link.conn = None;
            }
        }
    }
}

fn write_batches(link: &mut Link, live: &Live, jobs: &Mutex<Receiver<Job>>) {
    while let Some(batch) = next_batch(jobs) {
        let tokens: Vec<IssuedToken> = batch.iter().map(|job| job.token.clone()).collect();
        let started = Instant::now();
        let stored = link.store(&tokens);
        if started.elapsed() >= SLOW_BATCH {
            tracing::warn!(
                tokens = tokens.len(),
                ms = started.elapsed().as_millis() as u64,
                "a batch of tokens took long to commit"
            );
        }
        match stored {
            Ok(grant_ids) => answer(live, batch, grant_ids),
            // A row one token refers to is gone (its client's owner was deleted meanwhile):
            // the batch is stored token by token, and only that one's request hears it.
            Err(DbError::Vanished(_)) if batch.len() > 1 => {
                for (job, token) in batch.into_iter().zip(tokens) {
                    match link.store(std::slice::from_ref(&token)) {
                        Ok(grant_ids) => answer(live, vec![job], grant_ids),
                        Err(e) => refuse(vec![job], &e),
                    }
                }
            }
            Err(e) => refuse(batch, &e),
        }
    }
}

/// Waits for a token, then takes what else is queued (at most [`MAX_BATCH`] in all);
/// `None` once the server is gone. The other writers wait meanwhile, so the queue is
/// split into whole batches rather than interleaved.
fn next_batch(jobs: &Mutex<Receiver<Job>>) -> Option<Vec<Job>> {
    // A writer that panicked held no lock across its batch; the receiver is intact.
    let jobs = jobs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut batch = vec![jobs.recv().ok()?];
    while batch.len() < MAX_BATCH {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Answers each request of a committed batch: its grant id, or `invalid_client` when its
/// client was paused, given a new secret or deleted meanwhile (nothing was stored for it).
fn answer(live: &Live, batch: Vec<Job>, grant_ids: Vec<Option<i64>>) {
    for (job, grant_id) in batch.into_iter().zip(grant_ids) {
        let Some(grant_id) = grant_id else {
            let _ = job.reply.send(Err(Failure::ClientChanged));
            continue;
        };
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
