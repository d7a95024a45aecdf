//! Following the change log without losing a row.
//!
//! Ids are handed out when a row is inserted, not when it commits: a transaction holding
//! id 41 may commit after the one holding id 42, and on Galera ids step by the cluster
//! size, so a hole in the ids says nothing. The follower therefore never trusts "the
//! highest id seen" alone: it keeps re-reading every row above the highest id it had seen
//! [`GAP_WAIT`] ago, and applies each id once. A row that commits up to `GAP_WAIT` after
//! rows with higher ids is still applied; that bound is far above the statement and lock
//! limits every transaction here runs under, and every cached entry expires anyway.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use diesel::MysqlConnection;

use crate::db::DbError;
use crate::db::changes::{self, Change, Sink};

/// How long a lower id may take to commit after a higher one and still be applied, at
/// least; the server waits longer when its transactions may (see [`Follower::start_with`]).
pub const GAP_WAIT: Duration = Duration::from_secs(10);
/// Rows read per query.
const PAGE: i64 = 1000;

pub struct Follower {
    /// Every row at or below this id has been applied or given up on.
    floor: i64,
    /// Ids above the floor already applied.
    applied: BTreeSet<i64>,
    /// The highest id applied at each poll, oldest first: the floor moves up to the one
    /// that is `gap_wait` old.
    marks: VecDeque<(Instant, i64)>,
    gap_wait: Duration,
}

impl Follower {
    /// Starts after the rows written more than `GAP_WAIT` ago; newer ones are read (and
    /// applied, which on a fresh server only evicts what is not there yet).
    pub fn start(conn: &mut MysqlConnection) -> Result<Self, DbError> {
        Self::start_with(conn, GAP_WAIT)
    }

    /// As [`start`](Self::start), waiting `gap_wait` (at least [`GAP_WAIT`]) for late rows:
    /// the server passes three times its database timeout, the longest a transaction that
    /// recorded a change may take over its remaining statements.
    pub fn start_with(conn: &mut MysqlConnection, gap_wait: Duration) -> Result<Self, DbError> {
        let gap_wait = gap_wait.max(GAP_WAIT);
        let settled =
            crate::db::models::now() - chrono::Duration::from_std(gap_wait).unwrap_or_default();
        let mut follower = Self::from_floor(changes::newest_before(conn, settled)?);
        follower.gap_wait = gap_wait;
        Ok(follower)
    }

    pub fn from_floor(floor: i64) -> Self {
        Self {
            floor,
            applied: BTreeSet::new(),
            marks: VecDeque::new(),
            gap_wait: GAP_WAIT,
        }
    }

    /// Reads the rows above the floor and applies those not applied yet; returns how many
    /// it applied.
    pub fn poll(&mut self, conn: &mut MysqlConnection, sink: &dyn Sink) -> Result<usize, DbError> {
        self.poll_at(conn, sink, Instant::now())
    }

    /// [`poll`](Self::poll) at a given time, for tests of the gap rule.
    pub fn poll_at(
        &mut self,
        conn: &mut MysqlConnection,
        sink: &dyn Sink,
        now: Instant,
    ) -> Result<usize, DbError> {
        let mut after = self.floor;
        let mut applied = 0;
        loop {
            let rows = changes::since(conn, after, PAGE)?;
            let full = rows.len() as i64 == PAGE;
            for row in rows {
                after = row.id;
                if self.applied.insert(row.id) {
                    applied += 1;
                    if let Some(change) = Change::from_stored(&row.kind, &row.subject) {
                        sink.apply(&change);
                    }
                }
            }
            if !full {
                break;
            }
        }
        let highest = self.applied.last().copied().unwrap_or(self.floor);
        self.marks.push_back((now, highest));
        while let Some(&(at, id)) = self.marks.front() {
            if now.saturating_duration_since(at) < self.gap_wait {
                break;
            }
            self.floor = self.floor.max(id);
            self.marks.pop_front();
        }
        self.applied = self.applied.split_off(&(self.floor + 1));
        Ok(applied)
    }

    /// The id below which every row is settled.
    pub fn floor(&self) -> i64 {
        self.floor
    }
}
