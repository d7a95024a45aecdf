//! The stylesheet and scripts, compiled into the binary so that it runs from any
//! directory (a copied binary, a container, a systemd unit) with its pages styled.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};

use crate::web::error::AppError;

#[derive(rust_embed::Embed)]
#[folder = "static/"]
struct Assets;

/// Assets change only with the binary; a day's caching, revalidated by `ETag` after that.
const CACHE_CONTROL: &str = "public, max-age=86400";

#[get("/static/{path:.*}")]
pub async fn asset(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let file = Assets::get(&path).ok_or(AppError::NotFound)?;
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
        .insert_header((header::ETAG, etag));
    if unchanged {
        return Ok(res.finish());
    }
    Ok(res
        .content_type(content_type(&path))
        .body(file.data.into_owned()))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}
