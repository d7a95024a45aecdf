//! The metadata documents (RFC 8414, RFC 9728), serialised once per generation of the
//! settings (`Live::generation` moves on every change to them, on any server) and at
//! least every minute, so serving one costs no database round trip and no serialisation.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::db::Connect;
use crate::oauth::error::OAuthError;
use crate::oauth::{Protocol, metadata};

const REBUILD_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Built {
    generation: u64,
    at: Option<Instant>,
    body: Bytes,
}

#[derive(Default)]
pub struct Documents {
    metadata: RwLock<Built>,
    protected_resource: RwLock<Built>,
}

impl Documents {
    /// The authorization server metadata (RFC 8414).
    pub fn metadata(&self, db: &mut impl Connect, proto: &Protocol) -> Result<Bytes, OAuthError> {
        cached(&self.metadata, db, proto, |settings| {
            metadata::document(&proto.issuer, settings)
        })
    }

    /// The protected resource metadata of the API (RFC 9728).
    pub fn protected_resource(
        &self,
        db: &mut impl Connect,
        proto: &Protocol,
    ) -> Result<Bytes, OAuthError> {
        cached(&self.protected_resource, db, proto, |settings| {
            metadata::protected_resource(&proto.audience, &proto.issuer, settings)
        })
    }
}

fn cached(
    slot: &RwLock<Built>,
    db: &mut impl Connect,
    proto: &Protocol,
    build: impl FnOnce(&crate::oauth::settings::Settings) -> serde_json::Value,
) -> Result<Bytes, OAuthError> {
    let generation = proto.live.generation();
    {
        let built = slot.read().unwrap_or_else(|p| p.into_inner());
        if built.generation == generation && built.at.is_some_and(|at| at.elapsed() < REBUILD_EVERY)
        {
            return Ok(built.body.clone());
        }
    }
    let settings = proto.live.settings(db)?;
    let body = Bytes::from(build(&settings).to_string());
    *slot.write().unwrap_or_else(|p| p.into_inner()) = Built {
        generation,
        at: Some(Instant::now()),
        body: body.clone(),
    };
    Ok(body)
}
