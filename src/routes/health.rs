//! `/healthz` (the process answers) and `/readyz` (the database answers).

use actix_web::{HttpResponse, get, web};
use diesel::RunQueryDsl;
use serde_json::json;

use crate::db;
use crate::startup::AppState;

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ping = db::run(&state.pool, |conn| {
        diesel::sql_query("SELECT 1").execute(conn)?;
        Ok(())
    })
    .await;
    match ping {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready", "database": "ok" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .json(json!({ "status": "unavailable", "reason": "the database does not answer" }))
        }
    }
}
