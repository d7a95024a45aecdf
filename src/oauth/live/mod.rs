//! What the hot paths read, kept in memory and fresh: the settings, the clients, the users
//! that tokens act for, and whether each access token is still good. The token endpoint,
//! introspection, the API and the metadata documents read from here and reach the
//! database only on a miss.
//!
//! Freshness: every write that changes any of this records a row in the change log
//! (`db::changes`) in its own transaction. This server applies its own changes right after
//! they commit; [`follow`] applies everyone's, polling the log every 250 ms
//! (`CONSENTRY_CHANGE_POLL_MS`). Every entry is also dropped after [`ENTRY_TTL`] whatever
//! the log says, so nothing is trusted forever.
//!
//! If the log cannot be read for [`STALE_AFTER`], what is in memory may be out of date:
//! from then on every read goes to the database, which answers 503 while it is away.

pub mod follower;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use moka::sync::Cache;

pub use follower::Follower;

use crate::db::changes::{Change, Sink};
use crate::db::models::sites::SiteRow;
use crate::db::{Connect, DbError, models};
use crate::domain::{AccessLevel, Client, Role};
use crate::oauth::jwt::AccessClaims;
use crate::oauth::settings::Settings;
use crate::telemetry::metrics;

/// How long an entry is kept without being confirmed by the log.
pub const ENTRY_TTL: Duration = Duration::from_secs(60);
/// How long the memory is trusted without a successful read of the log, unless
/// `CONSENTRY_MEMORY_TRUST_SECS` says otherwise.
pub const STALE_AFTER: Duration = Duration::from_secs(30);
/// Bounds on the caches that outsiders can make grow (one entry per client, user, token).
/// A token entry costs about 250 bytes with the cache's own bookkeeping: 20,000 of them
/// keep the server under 60 MB while it issues thousands of tokens a second; the tokens
/// that are in use stay (the cache admits and keeps what is read often).
const MAX_CLIENTS: u64 = 10_000;
const MAX_USERS: u64 = 10_000;
const MAX_TOKENS: u64 = 20_000;
/// Up to this many websites are kept in memory; beyond, each call reads them.
const MAX_SITES: usize = 5_000;

/// One value read whole (the settings, the websites), kept for [`ENTRY_TTL`].
struct Slot<T>(RwLock<Option<(Arc<T>, Instant)>>);

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self(RwLock::new(None))
    }
}

impl<T> Slot<T> {
    /// The value, unless it is missing or older than [`ENTRY_TTL`].
    fn fresh(&self) -> Option<Arc<T>> {
        match &*self.0.read().unwrap_or_else(|p| p.into_inner()) {
            Some((value, at)) if at.elapsed() < ENTRY_TTL => Some(value.clone()),
            _ => None,
        }
    }

    fn store(&self, value: Arc<T>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some((value, Instant::now()));
    }

    fn clear(&self) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The user a token acts for, as the hot paths need them.
#[derive(Debug, Clone)]
pub struct UserFacts {
    pub id: i64,
    pub login: String,
    pub role: Role,
    /// For OpenID Connect's `email` and `sub` claims.
    pub email: String,
    pub subject: String,
}

/// What decides whether a signed, unexpired access token is still good.
#[derive(Debug, Clone)]
pub struct TokenFacts {
    pub grant_id: i64,
    pub client_pk: i64,
    pub user_id: Option<i64>,
    pub expires_at: NaiveDateTime,
    /// The token or its grant was revoked.
    pub revoked: bool,
    /// The websites its grant may act on.
    pub sites: crate::domain::SiteLimit,
}

pub struct Live {
    settings: Slot<Settings>,
    clients: Cache<String, Arc<Client>>,
    /// Row id → `client_id`, for tokens and grants, which name clients by row id.
    client_ids: Cache<i64, String>,
    users: Cache<i64, Arc<UserFacts>>,
    tokens: Cache<String, Option<Arc<TokenFacts>>>,
    /// Access tokens whose signature verified, by the SHA-256 of the whole token: a
    /// resource server presents the same token again and again, and its signature cannot
    /// change. Expiry and revocation are still checked on every use.
    verified: Cache<[u8; 32], Arc<AccessClaims>>,
    /// Every website, when there are at most [`MAX_SITES`].
    sites: Slot<Vec<SiteRow>>,
    /// Each user's level on the sites where they have one.
    access: Cache<i64, Arc<Vec<(i64, AccessLevel)>>>,
    /// Clients whose "last used" this server wrote within the last minute.
    touched: Cache<i64, ()>,
    /// Clients used since the last flush whose "last used" is due ([`Live::take_used`]).
    used: Mutex<std::collections::HashSet<i64>>,
    /// Requests authenticated with a previous secret since the last flush, by client row
    /// id and that secret's hash ([`Live::take_previous_secret_uses`]).
    previous_uses: Mutex<std::collections::HashMap<(i64, Vec<u8>), i64>>,
    /// When the change log was last read without error.
    synced_at: Mutex<Instant>,
    /// How long after that the memory is still used ([`STALE_AFTER`] by default).
    trust: Mutex<Duration>,
    /// Bumped before every change is applied. A loader reads it before its database read
    /// and stores what it read only if it has not moved: a read made just before another
    /// server's commit, finishing just after this server evicted, is not kept.
    evictions: std::sync::atomic::AtomicU64,
    /// Bumped by every change to the settings or the keys: the documents built from them
    /// (metadata, JWKS) are rebuilt when it moves.
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (clients, users, tokens) = self.counts();
        f.debug_struct("Live")
            .field("clients", &clients)
            .field("users", &users)
            .field("tokens", &tokens)
            .finish()
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    pub fn new() -> Self {
        Self {
            settings: Slot::default(),
            clients: Cache::builder()
                .max_capacity(MAX_CLIENTS)
                .time_to_live(ENTRY_TTL)
                .support_invalidation_closures()
                .build(),
            client_ids: Cache::builder()
                .max_capacity(MAX_CLIENTS)
                .time_to_live(ENTRY_TTL)
                .build(),
            users: Cache::builder()
                .max_capacity(MAX_USERS)
                .time_to_live(ENTRY_TTL)
                .build(),
            tokens: Cache::builder()
                .max_capacity(MAX_TOKENS)
                .time_to_live(ENTRY_TTL)
                .support_invalidation_closures()
                .build(),
            sites: Slot::default(),
            access: Cache::builder()
                .max_capacity(MAX_USERS)
                .time_to_live(ENTRY_TTL)
                .build(),
            verified: Cache::builder()
                .max_capacity(MAX_TOKENS)
                .time_to_live(ENTRY_TTL)
                .build(),
            touched: Cache::builder()
                .max_capacity(MAX_CLIENTS)
                .time_to_live(Duration::from_secs(60))
                .build(),
            used: Mutex::default(),
            previous_uses: Mutex::default(),
            synced_at: Mutex::new(Instant::now()),
            trust: Mutex::new(STALE_AFTER),
            generation: std::sync::atomic::AtomicU64::new(0),
            evictions: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether what is in memory may be used: the log was read recently. Past that, every
    /// read goes to the database, which answers 503 while it is away.
    fn trusted(&self) -> bool {
        let trust = *self.trust.lock().unwrap_or_else(|p| p.into_inner());
        self.synced_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
            < trust
    }

    /// Sets how long the memory is used after the change log was last read.
    pub fn set_trust(&self, trust: Duration) {
        *self.trust.lock().unwrap_or_else(|p| p.into_inner()) = trust;
    }

    /// The change log was just read and applied.
    pub fn mark_synced(&self) {
        *self.synced_at.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// Where the changes applied so far end: what is read or written after this may be
    /// kept ([`Live::keep`]) unless a change is applied meanwhile.
    pub fn epoch(&self) -> u64 {
        self.evictions.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn unchanged_since(&self, epoch: u64) -> bool {
        self.epoch() == epoch
    }

    /// Keeps what was read since `epoch` unless a change was applied meanwhile. Checked
    /// before and again after storing: a change applied between the check and the store
    /// ran its eviction before the entry existed.
    fn keep(&self, epoch: u64, store: impl FnOnce(), forget: impl FnOnce()) {
        if self.unchanged_since(epoch) {
            store();
            if !self.unchanged_since(epoch) {
                forget();
            }
        }
    }

    /// The documents' generation: moves whenever the settings or the keys change.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The General settings.
    pub fn settings(&self, db: &mut impl Connect) -> Result<Arc<Settings>, DbError> {
        if self.trusted()
            && let Some(settings) = self.settings.fresh()
        {
            return Ok(settings);
        }
        let epoch = self.epoch();
        let settings = Arc::new(Settings::load(db.connection()?)?);
        self.keep(
            epoch,
            || self.settings.store(settings.clone()),
            || self.settings.clear(),
        );
        Ok(settings)
    }

    /// The client with this `client_id`, if one is registered.
    pub fn client(
        &self,
        db: &mut impl Connect,
        client_id: &str,
    ) -> Result<Option<Arc<Client>>, DbError> {
        if self.trusted()
            && let Some(client) = self.clients.get(client_id)
        {
            metrics::cache_lookup("clients", true);
            return Ok(Some(client));
        }
        // Unknown IDs are not remembered: anyone can send them.
        let epoch = self.epoch();
        let conn = db.connection()?;
        metrics::cache_lookup("clients", false);
        let loaded = models::clients::find_by_client_id(conn, client_id)?.map(Arc::new);
        if let Some(client) = &loaded {
            self.remember(client, epoch);
        }
        Ok(loaded)
    }

    /// The client with this row id (the one a token or grant names).
    pub fn client_by_pk(
        &self,
        db: &mut impl Connect,
        pk: i64,
    ) -> Result<Option<Arc<Client>>, DbError> {
        if self.trusted()
            && let Some(client_id) = self.client_ids.get(&pk)
            && let Some(client) = self.clients.get(&client_id)
        {
            metrics::cache_lookup("clients", true);
            return Ok(Some(client));
        }
        let epoch = self.epoch();
        let conn = db.connection()?;
        metrics::cache_lookup("clients", false);
        let loaded = models::clients::find_by_id(conn, pk)?.map(Arc::new);
        if let Some(client) = &loaded {
            self.remember(client, epoch);
        }
        Ok(loaded)
    }

    fn remember(&self, client: &Arc<Client>, epoch: u64) {
        self.keep(
            epoch,
            || {
                self.client_ids.insert(client.id, client.client_id.clone());
                self.clients
                    .insert(client.client_id.clone(), client.clone());
            },
            || self.clients.invalidate(&client.client_id),
        );
    }

    /// A user by id; `None` when there is no such user (any more) or they are deactivated.
    pub fn user(&self, db: &mut impl Connect, id: i64) -> Result<Option<Arc<UserFacts>>, DbError> {
        if self.trusted()
            && let Some(user) = self.users.get(&id)
        {
            metrics::cache_lookup("users", true);
            return Ok(Some(user));
        }
        let epoch = self.epoch();
        let conn = db.connection()?;
        metrics::cache_lookup("users", false);
        // A deactivated user acts for no token: not their codes, refresh tokens or
        // clients (client credentials act as the owner).
        let loaded = models::users::find_by_id(conn, id)?
            .filter(|u| u.is_active())
            .map(|u| {
                Arc::new(UserFacts {
                    id: u.id,
                    role: u.role(),
                    login: u.login,
                    email: u.email,
                    subject: u.subject,
                })
            });
        // A missing user is not remembered: a new one may be about to get this id.
        if let Some(user) = &loaded {
            self.keep(
                epoch,
                || self.users.insert(id, user.clone()),
                || self.users.invalidate(&id),
            );
        }
        Ok(loaded)
    }

    /// The state of the access token with this `jti`; `None` when no row has it.
    pub fn token(
        &self,
        db: &mut impl Connect,
        jti: &str,
    ) -> Result<Option<Arc<TokenFacts>>, DbError> {
        if self.trusted()
            && let Some(facts) = self.tokens.get(jti)
        {
            metrics::cache_lookup("tokens", true);
            return Ok(facts);
        }
        let epoch = self.epoch();
        let conn = db.connection()?;
        metrics::cache_lookup("tokens", false);
        let loaded = models::access_tokens::facts(conn, jti)?.map(|f| {
            Arc::new(TokenFacts {
                grant_id: f.grant_id,
                client_pk: f.client_pk,
                user_id: f.user_id,
                expires_at: f.expires_at,
                revoked: f.revoked_at.is_some() || f.grant_revoked_at.is_some(),
                sites: crate::domain::SiteLimit::stored(f.site_ids.as_deref()),
            })
        });
        // A jti with no row is not remembered: it came from a signed token, but it may be
        // one this server is still committing.
        if loaded.is_some() {
            self.keep(
                epoch,
                || self.tokens.insert(jti.to_string(), loaded.clone()),
                || self.tokens.invalidate(jti),
            );
        }
        Ok(loaded)
    }

    /// Notes that the client just used the protocol. "Last used" is shown to the minute:
    /// each server writes it at most once a minute per client, off the request, when the
    /// next flush takes it ([`Live::take_used`]).
    pub fn mark_used(&self, client_pk: i64) {
        let mut due = false;
        self.touched.get_with(client_pk, || due = true);
        if due {
            self.keep_used(&[client_pk]);
        }
    }

    /// Adds clients whose "last used" is due (again, when it could not be written).
    /// Bounded like the clients: past that, a use waits for the next minute.
    pub fn keep_used(&self, client_pks: &[i64]) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        for pk in client_pks {
            if used.len() < MAX_CLIENTS as usize {
                used.insert(*pk);
            }
        }
    }

    /// The clients whose "last used" is due, emptying the list.
    pub fn take_used(&self) -> Vec<i64> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        used.drain().collect()
    }

    /// Counts one request authenticated with a client's previous secret (written by the
    /// next flush). Bounded like the clients: past that, a new client's use is not counted.
    pub fn count_previous_secret_use(&self, client_pk: i64, hash: &[u8]) {
        self.keep_previous_secret_uses(vec![((client_pk, hash.to_vec()), 1)]);
    }

    /// Adds counts not written yet (again, when they could not be).
    pub fn keep_previous_secret_uses(&self, counts: Vec<((i64, Vec<u8>), i64)>) {
        let mut uses = self.previous_uses.lock().unwrap_or_else(|p| p.into_inner());
        for (key, n) in counts {
            let room = uses.len() < MAX_CLIENTS as usize;
            match uses.get_mut(&key) {
                Some(count) => *count += n,
                None if room => {
                    uses.insert(key, n);
                }
                None => {}
            }
        }
    }

    /// The previous-secret uses counted since the last flush, emptying the counts.
    pub fn take_previous_secret_uses(&self) -> Vec<((i64, Vec<u8>), i64)> {
        let mut uses = self.previous_uses.lock().unwrap_or_else(|p| p.into_inner());
        uses.drain().collect()
    }

    /// Every website, by id.
    pub fn sites(&self, db: &mut impl Connect) -> Result<Arc<Vec<SiteRow>>, DbError> {
        if self.trusted()
            && let Some(sites) = self.sites.fresh()
        {
            return Ok(sites);
        }
        let epoch = self.epoch();
        let sites = Arc::new(models::sites::list(db.connection()?)?);
        if sites.len() <= MAX_SITES {
            self.keep(
                epoch,
                || self.sites.store(sites.clone()),
                || self.sites.clear(),
            );
        }
        Ok(sites)
    }

    /// The user's level on each site where they have one.
    pub fn site_levels(
        &self,
        db: &mut impl Connect,
        user_id: i64,
    ) -> Result<Arc<Vec<(i64, AccessLevel)>>, DbError> {
        if self.trusted()
            && let Some(levels) = self.access.get(&user_id)
        {
            return Ok(levels);
        }
        let epoch = self.epoch();
        let levels = Arc::new(models::site_access::for_user(db.connection()?, user_id)?);
        self.keep(
            epoch,
            || self.access.insert(user_id, levels.clone()),
            || self.access.invalidate(&user_id),
        );
        Ok(levels)
    }

    /// The claims of `token` if its signature verified before.
    pub fn verified(&self, token: &str) -> Option<Arc<AccessClaims>> {
        let claims = self.verified.get(&Self::digest(token));
        metrics::cache_lookup("signatures", claims.is_some());
        claims
    }

    /// Remembers that `token`'s signature verified, with these claims.
    pub fn remember_verified(&self, token: &str, claims: Arc<AccessClaims>) {
        self.verified.insert(Self::digest(token), claims);
    }

    fn digest(token: &str) -> [u8; 32] {
        crate::oauth::token_hash(token)
    }

    /// A token this server just issued and committed: known at once, without a read,
    /// unless a change was applied since `epoch` (taken before its commit): the change may
    /// have revoked it, and a read will tell.
    pub fn issued(&self, jti: &str, facts: TokenFacts, epoch: u64) {
        self.keep(
            epoch,
            || self.tokens.insert(jti.to_string(), Some(Arc::new(facts))),
            || self.tokens.invalidate(jti),
        );
    }

    /// How many entries each cache holds (logged by the follower).
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.clients.entry_count(),
            self.users.entry_count(),
            self.tokens.entry_count(),
        )
    }

    fn forget_settings(&self) {
        self.settings.clear();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn forget_tokens_where(&self, matches: impl Fn(&TokenFacts) -> bool + Send + Sync + 'static) {
        // Only fails when closures are not enabled, which `new` does.
        let _ = self
            .tokens
            .invalidate_entries_if(move |_, facts| facts.as_ref().is_some_and(|f| matches(f)));
    }
}

impl Sink for Live {
    fn apply(&self, change: &Change) {
        // First: a load running now must not store what it read before this change.
        self.evictions
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match change {
            Change::Settings => self.forget_settings(),
            Change::Keys => {
                self.generation
                    .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            }
            Change::Client(pk) => {
                let pk = *pk;
                let _ = self.clients.invalidate_entries_if(move |_, c| c.id == pk);
                self.forget_tokens_where(move |t| t.client_pk == pk);
            }
            Change::User(id) => {
                self.users.invalidate(id);
                self.access.invalidate(id);
                let id = *id;
                self.forget_tokens_where(move |t| t.user_id == Some(id));
            }
            Change::Token(jti) => self.tokens.invalidate(jti),
            Change::Grant(id) => {
                let id = *id;
                self.forget_tokens_where(move |t| t.grant_id == id);
            }
            Change::ClientGrants(pk) => {
                let pk = *pk;
                self.forget_tokens_where(move |t| t.client_pk == pk);
            }
            Change::UserGrants(id) => {
                let id = *id;
                self.forget_tokens_where(move |t| t.user_id == Some(id));
            }
            Change::Sites => self.sites.clear(),
            Change::All => {
                self.forget_settings();
                self.clients.invalidate_all();
                self.client_ids.invalidate_all();
                self.users.invalidate_all();
                self.tokens.invalidate_all();
                self.verified.invalidate_all();
                self.access.invalidate_all();
                self.sites.clear();
                self.touched.invalidate_all();
            }
        }
    }
}
