//! The one place that wires the application: shared state, middleware order and the route table.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::storage::CookieSessionStore;
use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::ServiceRequest;
use actix_web::dev::{Server, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpServer, web};

use crate::auth::hashing::HashPool;
use crate::config::Config;
use crate::db::{self, DbPool};
use crate::oauth::Protocol;
use crate::web::error::{self, AppError};
use crate::web::observe;
use crate::web::routes;
use crate::web::routes::oauth as oauth_routes;
use crate::web::state::AppState;

/// Why the server could not start; each names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "{variable}: {addr} is already in use; fix: stop the other process or set {variable} to a free address"
    )]
    AddressInUse {
        variable: &'static str,
        addr: String,
    },
    #[error(
        "{variable}: cannot listen on {addr} ({source}); fix: choose an address of this machine"
    )]
    Bind {
        variable: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the token writer thread: {0}")]
    Writer(std::io::Error),
    #[error("the server stopped: {0}")]
    Stopped(std::io::Error),
}

/// The ports `serve` listens on, taken before anything else (see [`Listeners::bind`]).
pub struct Listeners {
    app: TcpListener,
    metrics: Option<TcpListener>,
}

impl Listeners {
    /// Takes the ports first, so that a start that cannot serve changes nothing in the
    /// database (no first superuser, no password file).
    pub fn bind(config: &Config) -> Result<Self, StartupError> {
        Ok(Self {
            app: bind("CONSENTRY_BIND", config.bind)?,
            metrics: config
                .metrics_bind
                .map(|addr| bind("CONSENTRY_METRICS_BIND", addr))
                .transpose()?,
        })
    }
}

/// Serves on `listeners` on a runtime of its own until the process is stopped: what
/// `consentry serve` does once the database is prepared.
pub fn serve(config: Config, pool: DbPool, listeners: Listeners) -> Result<(), StartupError> {
    let public = config.public_base();
    actix_web::rt::System::new().block_on(async move {
        let metrics = start_metrics(listeners.metrics, &pool)?;
        let app = Application::with_listener(config, pool, listeners.app)?;
        tracing::info!(
            port = app.port(),
            url = %public,
            version = env!("CARGO_PKG_VERSION"),
            "Consentry is serving"
        );
        let stopped = app.run_until_stopped().await;
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        match &stopped {
            Ok(()) => tracing::info!("Consentry stopped: open requests were answered or given 5 s"),
            Err(e) => tracing::error!(error = %e, "Consentry stopped on an error"),
        }
        stopped.map_err(StartupError::Stopped)
    })
}

/// Starts the `/metrics` listener beside the application, when one is configured.
fn start_metrics(
    listener: Option<TcpListener>,
    pool: &DbPool,
) -> Result<Option<actix_web::dev::ServerHandle>, StartupError> {
    let Some(listener) = listener else {
        return Ok(None);
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let server =
        observe::metrics_server(listener, pool.clone()).map_err(|source| StartupError::Bind {
            variable: "CONSENTRY_METRICS_BIND",
            addr: addr.clone(),
            source,
        })?;
    tracing::info!(%addr, "serving Prometheus metrics at /metrics");
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok(Some(handle))
}

fn bind(variable: &'static str, addr: std::net::SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr).map_err(|source| match source.kind() {
        std::io::ErrorKind::AddrInUse => StartupError::AddressInUse {
            variable,
            addr: addr.to_string(),
        },
        _ => StartupError::Bind {
            variable,
            addr: addr.to_string(),
            source,
        },
    })
}

/// How long a sign-in waits for a password-hashing slot before answering 503.
const HASH_SLOT_WAIT_MS: u64 = 1500;

/// Content-Security-Policy for every response: no inline script, no framing, nothing third-party.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Binds `config.bind` and builds the server; the database must already be prepared.
    pub fn build(config: Config, pool: DbPool) -> Result<Self, StartupError> {
        let listener = bind("CONSENTRY_BIND", config.bind)?;
        Self::with_listener(config, pool, listener)
    }

    /// Builds the server on an already bound listener (tests bind port 0 first).
    pub fn with_listener(
        config: Config,
        pool: DbPool,
        listener: TcpListener,
    ) -> Result<Self, StartupError> {
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let config = Arc::new(config);
        let state = web::Data::new(AppState {
            pool,
            config: config.clone(),
            protocol: Arc::new(Protocol::with_introspection_rate(
                config.public_base(),
                config.introspection_rate,
            )),
            hasher: Arc::new(HashPool::new(
                config.hash_concurrency,
                Duration::from_millis(HASH_SLOT_WAIT_MS),
            )),
        });
        // The writers have connections of their own, so requests holding the pool's while
        // they wait for them can never starve them.
        state
            .protocol
            .start_writer(&config.database_urls, config.db_timeout)
            .map_err(StartupError::Writer)?;
        state.protocol.live.set_trust(config.memory_trust);
        let follower_state = state.clone();
        let key = Key::from(config.session_key.expose());
        let secure = config.secure_cookies();

        let server = HttpServer::new(move || {
            let session = session_middleware(key.clone(), secure);
            App::new()
                .app_data(state.clone())
                .app_data(web::FormConfig::default().limit(64 * 1024))
                .app_data(web::PayloadConfig::new(64 * 1024))
                .wrap(from_fn(json_errors_for_api_callers))
                .wrap(session)
                .wrap(security_headers(secure))
                .wrap(from_fn(head_as_get))
                .wrap(from_fn(observe::observe))
                .configure(console_routes)
                .configure(protocol_routes)
                .service(routes::assets::asset)
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(AppError::NotFound)
                }))
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            variable: "CONSENTRY_BIND",
            addr,
            source,
        })?
        .shutdown_timeout(5)
        .run();
        Ok(Self {
            port,
            server,
            state: follower_state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is stopped, purging expired throttling and session rows
    /// hourly, following the change log and writing "last used" times.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tokio::spawn(purge_loop(self.state.config.database_urls.clone()));
        tokio::spawn(follow_changes(self.state.clone()));
        tokio::spawn(flush_last_used(self.state.clone()));
        self.server.await
    }
}

/// A POST-only endpoint: any other method gets 405 with `Allow: POST`.
fn post_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::post().to(handler))
        .default_service(web::to(oauth_routes::post_only))
}

/// How often the clients' "last used" times gathered in memory are written.
const LAST_USED_FLUSH: Duration = Duration::from_secs(2);

/// Writes the clients' "last used" times gathered in memory every [`LAST_USED_FLUSH`], on
/// a connection of its own (a slow write must not hold up the change log).
async fn flush_last_used(state: web::Data<AppState>) {
    let pool = db::build_lazy_pool(&state.config.database_urls, 1, state.config.db_timeout);
    let mut tick = actix_web::rt::time::interval(LAST_USED_FLUSH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let proto = state.protocol.clone();
        let flushed = db::run(&pool, move |conn| {
            crate::oauth::access::flush_last_used(conn, &proto)
        })
        .await;
        if let Err(e) = flushed {
            tracing::debug!(error = %e, "\"last used\" not written yet; tried again soon");
        }
    }
}

/// Applies the change log to this server's memory every `CONSENTRY_CHANGE_POLL_MS`
/// (`oauth::live`); logs the cache sizes every ten minutes and when the log cannot be read.
async fn follow_changes(state: web::Data<AppState>) {
    let live = state.protocol.live.clone();
    // A connection of its own: busy request traffic must not delay the log.
    let pool = db::build_lazy_pool(&state.config.database_urls, 1, state.config.db_timeout);
    let gap_wait = state.config.db_timeout * 3;
    // Shared with the blocking task, so a poll cut off by its time limit loses no place.
    let follower = Arc::new(std::sync::Mutex::new(None));
    let mut tick = actix_web::rt::time::interval(state.config.change_poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_report = std::time::Instant::now();
    let mut failing = false;
    loop {
        tick.tick().await;
        let (sink, follower) = (live.clone(), follower.clone());
        let polled = db::run(&pool, move |conn| {
            let mut slot = follower.lock().unwrap_or_else(|p| p.into_inner());
            let follower = match slot.as_mut() {
                Some(follower) => follower,
                None => slot.insert(crate::oauth::live::Follower::start_with(conn, gap_wait)?),
            };
            follower.poll(conn, &*sink)
        })
        .await;
        match polled {
            Ok(_) => {
                live.mark_synced();
                if failing {
                    tracing::info!("the change log is readable again");
                    failing = false;
                }
            }
            Err(e) if !failing => {
                tracing::warn!(error = %e, "cannot read the change log; memory is trusted for 30 s more");
                failing = true;
            }
            Err(_) => {}
        }
        if last_report.elapsed() >= Duration::from_secs(600) {
            let (clients, users, tokens) = live.counts();
            tracing::info!(clients, users, tokens, "in-memory state");
            last_report = std::time::Instant::now();
        }
    }
}

/// Purges hourly on a connection of its own: a large backlog of expired rows may take
/// longer than the limits that keep requests answering in time, so the purge gets a minute
/// per lock wait and an hour per read, and never holds one of the requests' connections.
async fn purge_loop(urls: Vec<crate::config::DatabaseUrl>) {
    let nodes = Arc::new(db::nodes::Nodes::new(&urls));
    let mut tick = actix_web::rt::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let nodes = nodes.clone();
        let purged = tokio::task::spawn_blocking(move || {
            db::net_timeouts::with_io_timeout(3600, || -> Result<usize, db::DbError> {
                use diesel::connection::SimpleConnection;
                let mut conn = nodes.connect(None)?;
                conn.batch_execute(
                    "SET SESSION innodb_lock_wait_timeout = 60, lock_wait_timeout = 60",
                )?;
                let now = db::models::now();
                let sessions = db::models::revoked_sessions::delete_expired(&mut conn, now)?;
                let purged = crate::oauth::purge::run(&mut conn)?;
                Ok(sessions + purged.map_or(0, |p| p.total()))
            })
        })
        .await;
        match purged {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "purge of expired rows failed; will retry"),
            Err(e) => tracing::warn!(error = %e, "purge task failed; will retry"),
        }
    }
}

/// HEAD is answered on every GET route (RFC 9110 §9.3.2): routed as GET, sent without the
/// body. Resources that are not GET routes answer HEAD as they answer GET (404 or 405).
async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let head = req.method() == actix_web::http::Method::HEAD;
    if head {
        req.head_mut().method = actix_web::http::Method::GET;
    }
    let res = next.call(req).await?;
    Ok(if head {
        res.map_body(|_, _| actix_web::body::EitherBody::right(actix_web::body::None::new()))
    } else {
        res.map_into_left_body()
    })
}

/// Errors raised by handlers render as HTML; API callers that ask for JSON get JSON instead.
async fn json_errors_for_api_callers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let wants_json = error::wants_json(req.request());
    let res = next.call(req).await?;
    let app_error = res
        .response()
        .error()
        .and_then(|e| e.as_error::<AppError>())
        .map(|e| (e.status_code_for_json(), e.to_string()));
    match (wants_json, app_error) {
        (true, Some((status, message))) => {
            let (req, _) = res.into_parts();
            Ok(
                ServiceResponse::new(req, error::error_page(status, &message, true))
                    .map_into_right_body(),
            )
        }
        _ => Ok(res.map_into_left_body()),
    }
}

impl AppError {
    fn status_code_for_json(&self) -> actix_web::http::StatusCode {
        use actix_web::ResponseError;
        match self {
            // A JSON caller cannot follow a sign-in page; tell it plainly.
            AppError::SignInRequired { .. } => actix_web::http::StatusCode::UNAUTHORIZED,
            other => other.status_code(),
        }
    }
}

/// Access log without query strings: they can carry codes or tokens that must never be logged.
/// The console's pages, mirroring `templates/`.
fn console_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(routes::health::healthz)
        .service(routes::health::readyz)
        .service(routes::home::home)
        .service(routes::device::show)
        .service(routes::device::enter)
        .service(routes::login::show_form)
        .service(routes::login::submit)
        .service(routes::login::logout)
        .service(routes::admin::settings::show)
        .service(routes::admin::settings::save)
        .service(routes::admin::registration_tokens::list)
        .service(routes::admin::registration_tokens::create)
        .service(routes::admin::registration_tokens::revoke)
        .service(routes::admin::clients::list::list)
        // `new` before `{client_id}`, which would otherwise take it.
        .service(routes::admin::clients::edit::new)
        .service(routes::admin::clients::edit::create)
        .service(routes::admin::clients::detail::show)
        .service(routes::admin::clients::edit::edit)
        .service(routes::admin::clients::edit::update)
        .service(routes::admin::clients::list::pause)
        .service(routes::admin::clients::list::resume)
        .service(routes::admin::clients::detail::confirm_regenerate)
        .service(routes::admin::clients::detail::regenerate)
        .service(routes::admin::clients::icon::show)
        .service(routes::admin::clients::icon::upload)
        .service(routes::admin::clients::icon::remove)
        .service(routes::admin::clients::icon::serve)
        .service(routes::admin::clients::detail::confirm_end_previous)
        .service(routes::admin::clients::detail::end_previous)
        .service(routes::admin::clients::detail::credentials)
        .service(routes::admin::clients::delete::confirm)
        .service(routes::admin::clients::delete::delete)
        .service(routes::admin::websites::list)
        .service(routes::admin::websites::new)
        .service(routes::admin::websites::create)
        .service(routes::admin::websites::edit)
        .service(routes::admin::websites::update)
        .service(routes::admin::users::list)
        .service(routes::admin::users::new)
        .service(routes::admin::users::create)
        .service(routes::admin::users::show)
        .service(routes::admin::users::set_role)
        .service(routes::admin::users::reset_password)
        .service(routes::admin::users::set_access)
        .service(routes::admin::users::change_status)
        .service(routes::admin::users::delete)
        .service(routes::admin::audit::list)
        .service(routes::admin::audit::export)
        .service(routes::account::authorized_apps::list)
        .service(routes::account::authorized_apps::revoke)
        .service(routes::account::authorized_apps::show_sites)
        .service(routes::account::authorized_apps::save_sites)
        .service(routes::account::security::show)
        .service(routes::account::security::change_password)
        .service(routes::account::two_factor::show)
        .service(routes::account::two_factor::enable)
        .service(routes::account::two_factor::disable)
        .service(routes::second_factor::show)
        .service(routes::second_factor::submit);
}

/// The protocol endpoints, discovery and the analytics API.
fn protocol_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/oauth2/authorize")
            .route(web::get().to(oauth_routes::authorize::authorize_get))
            .route(web::post().to(oauth_routes::authorize::authorize_post)),
    )
    .service(oauth_routes::authorize::consent)
    .service(post_only("/oauth2/token", oauth_routes::endpoints::token))
    .service(post_only("/oauth2/revoke", oauth_routes::endpoints::revoke))
    .service(post_only(
        "/oauth2/device_authorization",
        oauth_routes::endpoints::device_authorization,
    ))
    .service(post_only(
        "/oauth2/register",
        oauth_routes::registration::register,
    ))
    .service(post_only(
        "/oauth2/introspect",
        oauth_routes::endpoints::introspect,
    ))
    .service(web::resource("/oauth2/userinfo").to(routes::api::userinfo))
    .service(
        web::resource("/oauth2/logout")
            .route(web::get().to(oauth_routes::logout::end_session_get))
            .route(web::post().to(oauth_routes::logout::end_session_post)),
    )
    .service(oauth_routes::logout::confirm)
    .service(oauth_routes::discovery::metadata)
    .service(oauth_routes::discovery::protected_resource)
    .service(oauth_routes::discovery::jwks)
    .service(web::resource("/index.php").to(oauth_routes::matomo::dispatch))
    .service(web::resource("/api/{method}").to(routes::api::by_path));
}

fn session_middleware(key: Key, secure: bool) -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::builder(CookieSessionStore::default(), key)
        // `__Host-` binds the cookie to this exact origin; browsers require Secure for it.
        .cookie_name(if secure {
            "__Host-consentry".into()
        } else {
            "consentry".into()
        })
        .cookie_secure(secure)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_path("/".into())
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(BrowserSession::default())
        .build()
}

fn security_headers(secure: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::CACHE_CONTROL, "no-store"));
    if secure {
        headers.add((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ))
    } else {
        headers
    }
}
