//! Prometheus metrics, recorded through the `metrics` facade and rendered by
//! `metrics-exporter-prometheus` for the `/metrics` listener (`CONSENTRY_METRICS_BIND`).
//! Until [`install`] is called (the listener is off by default) every recording here is a
//! no-op. Each function below is the one place its metric is named.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets, in seconds: from a memory-answered request to a database timeout.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often queued histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// Installs the process-wide recorder (once; later calls return the same handle).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first, which nothing here does.
            let _ = metrics::set_global_recorder(recorder);
            // Histogram samples wait in a queue until upkeep folds them into buckets: without
            // a scrape for a while that queue would grow with every request.
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new()
                .name("consentry-metrics".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            gauge!("consentry_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

/// Whether metrics are recorded at all: lets a caller skip the work of naming them.
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// One HTTP request, by route pattern (bounded: never the raw path) and status.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let method = match method {
        "GET" => "GET",
        "POST" => "POST",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        _ => "other",
    };
    counter!("consentry_http_requests_total", "method" => method, "route" => route.to_owned(), "status" => status.to_string())
        .increment(1);
    histogram!("consentry_http_request_duration_seconds", "route" => route.to_owned())
        .record(elapsed.as_secs_f64());
}

/// An access token whose rows are committed, by grant type and signing algorithm.
pub fn token_issued(grant: &'static str, alg: &'static str) {
    counter!("consentry_tokens_issued_total", "grant" => grant, "alg" => alg).increment(1);
}

/// An introspection answered (RFC 7662), by whether the token was active.
pub fn introspection(active: bool) {
    counter!("consentry_introspections_total", "active" => if active { "true" } else { "false" })
        .increment(1);
}

/// A client that failed to authenticate at the token, revocation or introspection endpoint.
pub fn client_auth_failed() {
    counter!("consentry_client_auth_failures_total").increment(1);
}

/// A wrong password at sign-in or at a password confirmation.
pub fn sign_in_failed() {
    counter!("consentry_sign_in_failures_total").increment(1);
}

/// A sign-in or confirmation refused by the throttle before any password was checked.
pub fn sign_in_throttled() {
    counter!("consentry_sign_in_throttled_total").increment(1);
}

/// How long a request waited for a pooled database connection.
pub fn db_pool_wait(waited: Duration) {
    histogram!("consentry_db_pool_wait_seconds").record(waited.as_secs_f64());
}

/// A request that gave up waiting for a pooled connection.
pub fn db_pool_timeout() {
    counter!("consentry_db_pool_timeouts_total").increment(1);
}

/// The pool's size at scrape time.
pub fn db_pool_state(connections: u32, idle: u32, max: u32) {
    gauge!("consentry_db_pool_connections_in_use").set(f64::from(connections - idle));
    gauge!("consentry_db_pool_connections_idle").set(f64::from(idle));
    gauge!("consentry_db_pool_connections_max").set(f64::from(max));
}

/// A look-up in the in-memory state (`cache` names which), answered from memory or not.
pub fn cache_lookup(cache: &'static str, hit: bool) {
    counter!("consentry_cache_lookups_total", "cache" => cache, "result" => if hit { "hit" } else { "miss" })
        .increment(1);
}

/// The text a scrape gets; `None` before [`install`].
pub fn render() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}
