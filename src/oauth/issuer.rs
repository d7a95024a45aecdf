//! Group commit for issued tokens (client credentials, code and refresh). Requests that
//! arrive together share one transaction: a writer thread takes whatever is queued (at
//! most [`MAX_BATCH`]), claims their codes and refresh tokens and stores the grants and
//! tokens in one round trip and one commit, and only then answers each request, so no
//! response carries a token whose row is not committed. Nothing waits to
//! fill a batch: under light load a batch holds one token; under heavy load the queue
//! fills while a commit runs.
//!
//! [`WRITERS`] threads share the queue, each with a connection of its own, so that one
//! batch is sent while another waits for its commit to reach the disk. A request does not
//! hold a thread while it waits: it gets a [`Ticket`], answered when its batch is
//! committed.
//!
//! A token whose code or refresh token another request claimed first is not stored; the
//! writer then runs the request's [`Replay`] (revoking what the first claim issued) in a
//! transaction of its own before it answers, as a lone request would have.
//!
//! Bounded: at most [`QUEUE`] tokens wait; past that, or when no commit comes within the
//! database wait, the request answers 503 with `Retry-After`.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::MysqlConnection;
use diesel::connection::SimpleConnection;
use tokio::sync::oneshot;

use crate::db::DatabaseUrl;
use crate::db::models::issued::{self, IssuedToken};
use crate::db::nodes::Nodes;
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

/// What to do, in a transaction of its own, when a token's claim was lost: the code or
/// refresh token was used twice, so what the other use issued is revoked.
pub type Replay = Box<dyn Fn(&mut MysqlConnection) -> Result<(), DbError> + Send>;

/// A token to store, with what to do when its claim is lost (none for client credentials).
pub struct Issue {
    pub token: IssuedToken,
    pub replay: Option<Replay>,
}

struct Job {
    issue: Issue,
    reply: oneshot::Sender<Result<i64, Failure>>,
}

/// Why a token was not stored, as the waiting request needs it.
#[derive(Debug, Clone)]
enum Failure {
    /// Its client was paused, given a new secret or deleted meanwhile: `invalid_client`.
    ClientChanged,
    /// Its code or refresh token was claimed by another request, and the replay handled.
    Replayed,
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
    pub fn start(urls: &[DatabaseUrl], live: Arc<Live>, wait: Duration) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::sync_channel(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..WRITERS {
            let (live, jobs) = (live.clone(), jobs.clone());
            let mut link = Link::new(Nodes::new(urls), wait);
            std::thread::Builder::new()
                .name(format!("consentry-writer-{n}"))
                .spawn(move || supervise(&mut link, &live, &jobs))?;
        }
        Ok(Self { queue, wait })
    }

    /// Queues a token; the ticket resolves once its rows are committed.
    pub fn submit(&self, issue: Issue) -> Result<Ticket, DbError> {
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send(Job { issue, reply }) {
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
    /// True once the token's rows are committed; false when its claim was lost to another
    /// request (and the replay is handled); an error when it was not stored, or not within
    /// the database wait (the rows may still be committed later, but the response then
    /// carries no token).
    pub async fn committed(self) -> Result<bool, DbError> {
        match tokio::time::timeout(self.wait, self.answer).await {
            Ok(Ok(Ok(_))) => Ok(true),
            Ok(Ok(Err(Failure::Replayed))) => Ok(false),
            Ok(Ok(Err(failure))) => Err(failure.into_error()),
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
    nodes: Nodes,
    limit: Duration,
    conn: Option<MysqlConnection>,
    last_used: Instant,
}

impl Link {
    fn new(nodes: Nodes, limit: Duration) -> Self {
        Self {
            nodes,
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
            None => Ok(self.conn.insert(self.nodes.connect(Some(self.limit))?)),
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
            let stored = issued::commit_issued(self.connection()?, tokens);
            if stored.is_err() {
                self.conn = None;
            }
            stored
        })
    }

    /// Runs a lost claim's replay in a transaction of its own.
    fn replay(&mut self, replay: &Replay) -> Result<(), DbError> {
        let done = db::transaction(self.connection()?, |conn| replay(conn));
        if done.is_err() {
            self.conn = None;
        }
        done
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
        let tokens: Vec<IssuedToken> = batch.iter().map(|job| job.issue.token.clone()).collect();
        let started = Instant::now();
        let epoch = live.epoch();
        let stored = link.store(&tokens);
        if started.elapsed() >= SLOW_BATCH {
            tracing::warn!(
                tokens = tokens.len(),
                ms = started.elapsed().as_millis() as u64,
                "a batch of tokens took long to commit"
            );
        }
        match stored {
            Ok(grant_ids) => answer(link, live, epoch, batch, grant_ids),
            // A row one token refers to is gone (its client's owner was deleted meanwhile):
            // the batch is stored token by token, and only that one's request hears it.
            Err(DbError::Vanished(_)) if batch.len() > 1 => {
                for (job, token) in batch.into_iter().zip(tokens) {
                    let epoch = live.epoch();
                    match link.store(std::slice::from_ref(&token)) {
                        Ok(grant_ids) => answer(link, live, epoch, vec![job], grant_ids),
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

/// Answers each request of a committed batch.
fn answer(link: &mut Link, live: &Live, epoch: u64, batch: Vec<Job>, grant_ids: Vec<Option<i64>>) {
    for (job, grant_id) in batch.into_iter().zip(grant_ids) {
        let outcome = settle(live, epoch, &job.issue, grant_id, |replay| {
            link.replay(replay)
        });
        let _ = job.reply.send(outcome);
    }
}

/// What became of one token of a committed batch: its grant id once stored (known at once
/// to this server's introspection and API, without a read, unless a change was applied
/// since `epoch`, taken before the commit); `Replayed` once the replay of a lost claim is
/// committed; `ClientChanged` when its client was paused, given a new secret or deleted
/// meanwhile. Nothing was stored for a token without a grant id.
fn settle(
    live: &Live,
    epoch: u64,
    issue: &Issue,
    grant_id: Option<i64>,
    run_replay: impl FnOnce(&Replay) -> Result<(), DbError>,
) -> Result<i64, Failure> {
    let token = &issue.token;
    let Some(grant_id) = grant_id else {
        return match &issue.replay {
            Some(replay) if token.claims() => match run_replay(replay) {
                Ok(()) => Err(Failure::Replayed),
                Err(e) => Err(Failure::of(&e)),
            },
            _ if token.claims() => Err(Failure::Replayed),
            _ => {
                // Rare and answered 401: logged so that a refusal of a valid client (a
                // database node that lags behind a pause or a new secret) can be traced.
                tracing::warn!(
                    client = token.client_id,
                    "a client-credentials token was dropped at commit: on this database node its client is not active with the secret it authenticated with"
                );
                Err(Failure::ClientChanged)
            }
        };
    };
    live.issued(
        &token.jti,
        TokenFacts {
            grant_id,
            client_pk: token.client_id,
            user_id: token.user_id,
            expires_at: token.expires_at,
            revoked: false,
            sites: token.sites.clone(),
        },
        epoch,
    );
    Ok(grant_id)
}

/// Stores one token in a transaction of its own on `conn`, for a server that runs no
/// writers (the command line, direct tests): the same statements and outcomes as a
/// batch of one. True when stored, false when its claim was lost (and the replay is
/// committed).
pub fn store_alone(
    conn: &mut MysqlConnection,
    live: &Live,
    issue: &Issue,
) -> Result<bool, DbError> {
    let batch = std::slice::from_ref(&issue.token);
    let epoch = live.epoch();
    let grant_ids = db::transaction(conn, |c| issued::insert_issued(c, batch))?;
    let grant_id = grant_ids.first().copied().flatten();
    match settle(live, epoch, issue, grant_id, |replay| {
        db::transaction(conn, |c| replay(c))
    }) {
        Ok(_) => Ok(true),
        Err(Failure::Replayed) => Ok(false),
        Err(failure) => Err(failure.into_error()),
    }
}

fn refuse(batch: Vec<Job>, e: &DbError) {
    if matches!(e, DbError::Vanished(_)) {
        tracing::info!(error = %e, tokens = batch.len(), "a token refers to a row that is gone (answered as a protocol error)");
    } else {
        tracing::warn!(error = %e, class = e.class(), tokens = batch.len(), "a batch of tokens could not be stored");
    }
    let failure = Failure::of(e);
    for job in batch {
        let _ = job.reply.send(Err(failure.clone()));
    }
}

impl Failure {
    fn of(e: &DbError) -> Self {
        match e {
            DbError::Vanished(m) => Failure::Vanished(m.clone()),
            other => Failure::Other(other.to_string()),
        }
    }

    /// The error a waiting request answers with.
    fn into_error(self) -> DbError {
        match self {
            Failure::ClientChanged => DbError::client_changed(
                "the token's client was paused, given a new secret or deleted meanwhile",
            ),
            Failure::Vanished(e) => DbError::Vanished(e),
            Failure::Other(e) => DbError::Unavailable(format!("storing the token failed: {e}")),
            Failure::Replayed => DbError::Unavailable("the token's claim was lost".into()),
        }
    }
}
