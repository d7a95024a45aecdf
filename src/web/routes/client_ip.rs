//! The client address recorded in audit events and used for sign-in throttling.

use actix_web::HttpRequest;

/// The TCP peer address. `X-Forwarded-For` is deliberately ignored: it is set by the client
/// and would let an attacker reset their throttling counter (RFC 9700 §4.13).
pub fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}
