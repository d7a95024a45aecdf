//! The database nodes a server may use: `DATABASE_URL` alone, or the list in
//! `CONSENTRY_DATABASE_URLS` (the nodes of a Galera cluster, its own first).
//!
//! Every new connection goes to the first node in the list that answers and, with several
//! nodes, is a synced member of its cluster; a node that failed is passed over for
//! [`DOWN_FOR`], after which it is tried first again (so a server comes home to its own
//! node once that rejoins). Connections already made to a node that dies break at their
//! next use and are dropped (pool checkouts test them; the writers drop theirs after an
//! error), so the server serves again from another node as soon as it connects there.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::r2d2::{ManageConnection, R2D2Connection};
use diesel::{Connection, MysqlConnection};

use crate::db::{DatabaseUrl, DbError, galera};

/// How long a node that failed to connect is passed over.
const DOWN_FOR: Duration = Duration::from_secs(5);

pub struct Nodes {
    urls: Vec<DatabaseUrl>,
    down_until: Mutex<Vec<Option<Instant>>>,
}

impl Nodes {
    /// `urls` in order of preference; at least one.
    pub fn new(urls: &[DatabaseUrl]) -> Self {
        assert!(!urls.is_empty(), "at least one database URL");
        Self {
            urls: urls.to_vec(),
            down_until: Mutex::new(vec![None; urls.len()]),
        }
    }

    /// A new connection to the first usable node, its statements and lock waits limited
    /// to `limit` when one is given (see `limit_session`), reading its writes on Galera.
    pub fn connect(&self, limit: Option<Duration>) -> Result<MysqlConnection, DbError> {
        let mut last = None;
        for i in self.order() {
            match self.open(i, limit) {
                Ok(conn) => {
                    self.mark(i, None);
                    return Ok(conn);
                }
                Err(e) => {
                    if self.urls.len() > 1 {
                        tracing::warn!(
                            node = %self.urls[i].address(),
                            error = %e,
                            "database node unusable; trying the next one"
                        );
                    }
                    self.mark(i, Some(Instant::now() + DOWN_FOR));
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| DbError::Unavailable("no database node".into())))
    }

    /// The nodes to try, in list order: those not recently failed first, then the others
    /// (when every node failed lately, each is still worth a try).
    fn order(&self) -> Vec<usize> {
        let now = Instant::now();
        let down = self
            .down_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let (up, resting): (Vec<usize>, Vec<usize>) =
            (0..self.urls.len()).partition(|&i| down[i].is_none_or(|until| until <= now));
        up.into_iter().chain(resting).collect()
    }

    fn mark(&self, i: usize, until: Option<Instant>) {
        self.down_until.lock().unwrap_or_else(|p| p.into_inner())[i] = until;
    }

    fn open(&self, i: usize, limit: Option<Duration>) -> Result<MysqlConnection, DbError> {
        let mut conn = MysqlConnection::establish(self.urls[i].full())
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        match limit {
            Some(limit) => super::limit_session(&mut conn, limit)?,
            None => galera::read_your_writes(&mut conn)?,
        }
        // With a choice, only a node that may serve (a single node is used as it is, and
        // its errors tell what is wrong).
        if self.urls.len() > 1 && galera::node(&mut conn)?.is_some_and(|node| !node.synced) {
            return Err(DbError::Unavailable(
                "the node is not a synced member of its Galera cluster".into(),
            ));
        }
        Ok(conn)
    }
}

/// The pools' connection manager: connections from [`Nodes::connect`], each with the
/// pool's limits.
pub struct Manager {
    nodes: Nodes,
    limit: Duration,
}

impl Manager {
    pub fn new(urls: &[DatabaseUrl], limit: Duration) -> Self {
        Self {
            nodes: Nodes::new(urls),
            limit,
        }
    }
}

impl ManageConnection for Manager {
    type Connection = MysqlConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<MysqlConnection, Self::Error> {
        self.nodes.connect(Some(self.limit)).map_err(|e| {
            diesel::r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(
                e.to_string(),
            ))
        })
    }

    fn is_valid(&self, conn: &mut MysqlConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut MysqlConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}
