//! What an operator watches: a request id on every request (its log lines and the
//! `X-Request-Id` response header), one access-log line per request, the request metrics,
//! and the separate `/metrics` listener.

use std::net::TcpListener;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{App, HttpResponse, HttpServer, web};
use tracing::Instrument;

use crate::db::DbPool;
use crate::telemetry::metrics;
use crate::web::routes::client_ip::client_ip;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps every request in a span that carries its id, so every line logged while it is
/// handled (on the blocking pool too, see `db::run_lazy`) names it. Logs the path without
/// its query string: codes and states travel there.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = format!("{:016x}", rand::random::<u64>());
    let span = tracing::info_span!("request", request_id = %id);
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let client = client_ip(req.request());
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    // An error raised by a middleware becomes its response further out; its status is known.
    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    if metrics::enabled() {
        let route = result
            .as_ref()
            .ok()
            .and_then(|r| r.request().match_pattern());
        let route = route.as_deref().unwrap_or("unmatched");
        metrics::http_request(&method, route, status, elapsed);
    }
    span.in_scope(|| {
        tracing::info!(
            %client,
            %method,
            %path,
            status,
            ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    });
    let mut res = result?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(res)
}

/// The Prometheus listener: `GET /metrics` only, on its own address and workers.
pub fn metrics_server(listener: TcpListener, pool: DbPool) -> std::io::Result<Server> {
    metrics::install();
    let server = HttpServer::new(move || {
        let pool = pool.clone();
        App::new().route(
            "/metrics",
            web::get().to(move || {
                let state = pool.state();
                metrics::db_pool_state(state.connections, state.idle_connections, pool.max_size());
                let body = metrics::render().unwrap_or_default();
                async move {
                    HttpResponse::Ok()
                        .content_type("text/plain; version=0.0.4; charset=utf-8")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(1)
    .run();
    Ok(server)
}
