//! `/healthz` (the process answers) and `/readyz` (the database answers).

use actix_web::{HttpResponse, get, web};
use diesel::RunQueryDsl;
use serde_json::json;

use crate::db;
use crate::web::state::AppState;

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    // A real query on the tables every token request reads and writes, under the same
    // time and lock limits as requests: a database that answers `SELECT 1` while those
    // tables are locked is not ready. A Galera node must also be a synced member of the
    // primary component. A balancer wants its answer fast: at most one second.
    let check = db::run(&state.pool, |conn| {
        diesel::sql_query(
            "SELECT (SELECT COUNT(*) FROM oauth_settings) + \
                    (SELECT COUNT(*) FROM (SELECT id FROM oauth_clients LIMIT 1) c) + \
                    (SELECT COUNT(*) FROM (SELECT jti FROM oauth_access_tokens LIMIT 1) t) AS n",
        )
        .execute(conn)?;
        Ok(db::galera::node(conn)?.is_none_or(|node| node.synced))
    });
    const NO_ANSWER: &str = "the database does not answer";
    let (reason, detail) = match tokio::time::timeout(READY_WITHIN, check).await {
        Ok(Ok(true)) => {
            return HttpResponse::Ok().json(json!({ "status": "ready", "database": "ok" }));
        }
        Ok(Ok(false)) => {
            let reason = "the database node is not a synced member of its cluster";
            (reason, reason.to_string())
        }
        Ok(Err(e)) => (NO_ANSWER, e.to_string()),
        Err(_) => (
            NO_ANSWER,
            format!("no answer within {} ms", READY_WITHIN.as_millis()),
        ),
    };
    tracing::warn!(reason = %detail, "readiness check failed");
    HttpResponse::ServiceUnavailable()
        .insert_header(("Retry-After", crate::web::error::RETRY_AFTER_SECS))
        .json(json!({ "status": "unavailable", "reason": reason }))
}

/// How long a readiness check may take before it answers "not ready".
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);
