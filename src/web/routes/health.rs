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
    // tables are locked is not ready.
    let ping = db::run(&state.pool, |conn| {
        diesel::sql_query(
            "SELECT (SELECT COUNT(*) FROM oauth_settings) + \
                    (SELECT COUNT(*) FROM (SELECT id FROM oauth_clients LIMIT 1) c) + \
                    (SELECT COUNT(*) FROM (SELECT jti FROM oauth_access_tokens LIMIT 1) t) AS n",
        )
        .execute(conn)?;
        Ok(())
    })
    .await;
    match ping {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready", "database": "ok" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", crate::web::error::RETRY_AFTER_SECS))
                .json(json!({ "status": "unavailable", "reason": "the database does not answer" }))
        }
    }
}
