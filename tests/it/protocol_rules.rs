//! The protocol functions called directly against a real database, without HTTP: the code
//! flow from the authorization request to a replayed code, refresh-token rotation and
//! reuse, revocation seen by introspection, and a client row no writer could have stored
//! (status and type have CHECK constraints; grants and scopes are checked when read).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use consentry::db::{DbError, models};
use consentry::domain::Role;
use consentry::oauth::authorize::{self, Approver, Next};
use consentry::oauth::client_auth::Caller;
use consentry::oauth::error::{ErrorCode, OAuthError};
use consentry::oauth::oidc::SignIn;
use consentry::oauth::params::Params;
use consentry::oauth::tokens::{self, TokenResponse};
use consentry::oauth::{Protocol, introspection, keys, revocation};
use diesel::{MysqlConnection, RunQueryDsl};
use sha2::{Digest, Sha256};

use crate::rules_support::{Db, confidential_client, user};

const REDIRECT: &str = "https://app.example/cb";
const VERIFIER: &str = "a-code-verifier-of-forty-three-characters-at-least";

/// A database with a signing key, a superuser owning a confidential client, and `alice`.
struct World {
    _db: Db,
    conn: MysqlConnection,
    proto: Protocol,
    client_id: String,
    secret: String,
    alice: Approver,
}

impl World {
    fn new() -> Self {
        let db = Db::new();
        let mut conn = db.conn();
        keys::ensure_signing_key(&mut conn).unwrap();
        let owner = user(&mut conn, "owner", Role::Superuser);
        let created = confidential_client(&mut conn, owner);
        let alice = Approver {
            id: user(&mut conn, "alice", Role::User),
            login: "alice".into(),
            role: Role::User,
            sign_in: SignIn {
                at: consentry::db::models::now(),
                methods: "pwd".into(),
            },
        };
        Self {
            _db: db,
            conn,
            proto: Protocol::new("http://consentry.test".into()),
            client_id: created.client_id.as_str().to_string(),
            secret: created.secret.unwrap().expose().to_string(),
            alice,
        }
    }

    fn params(&self, pairs: &[(&str, &str)]) -> Params {
        let mut all = vec![
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.secret.as_str()),
        ];
        all.extend_from_slice(pairs);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(all)
            .finish();
        Params::parse(body.as_bytes())
    }

    fn caller() -> Caller {
        Caller {
            authorization: None,
            ip: "192.0.2.10".into(),
        }
    }

    /// Alice approves `matomo:read`; returns the code delivered to the redirect URI.
    fn approved_code(&mut self) -> String {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER));
        let params = self.params(&[
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "matomo:read"),
            ("state", "xyz"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let request = authorize::validate(&mut self.conn, &self.proto, &params)
            .unwrap_or_else(|_| panic!("a valid request"));
        let next = authorize::decide(
            &mut self.conn,
            &self.proto,
            request,
            self.alice.id,
            self.alice.role,
            &self.alice.sign_in,
        )
        .unwrap_or_else(|_| panic!("a decision"));
        let Next::Consent(prompt) = next else {
            panic!("an untrusted client without consent must ask");
        };
        let location = authorize::answer(
            &mut self.conn,
            &self.proto,
            &prompt.handle,
            &self.alice,
            true,
            &authorize::ConsentChoice {
                scope: "matomo:read".into(),
                sites: None,
            },
        )
        .unwrap_or_else(|_| panic!("an answer"));
        let url = url::Url::parse(&location).unwrap();
        assert!(location.starts_with(REDIRECT), "{location}");
        let get = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(get("state").as_deref(), Some("xyz"));
        assert_eq!(get("iss").as_deref(), Some("http://consentry.test"));
        get("code").expect("a code")
    }

    fn redeem(&mut self, code: &str) -> Result<TokenResponse, OAuthError> {
        let params = self.params(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ]);
        tokens::exchange(&mut self.conn, &self.proto, &Self::caller(), &params)
            .and_then(tokens::Exchanged::stored)
    }

    fn refresh(&mut self, refresh_token: &str) -> Result<TokenResponse, OAuthError> {
        let params = self.params(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ]);
        tokens::exchange(&mut self.conn, &self.proto, &Self::caller(), &params)
            .and_then(tokens::Exchanged::stored)
    }

    fn is_active(&mut self, access_token: &str) -> bool {
        consentry::oauth::access::active_access_token(&mut self.conn, &self.proto, access_token)
            .unwrap()
            .is_some()
    }

    fn introspected_active(&mut self, token: &str) -> bool {
        let params = self.params(&[("token", token)]);
        let answer =
            introspection::introspect(&mut self.conn, &self.proto, &Self::caller(), &params)
                .unwrap();
        answer["active"].as_bool().unwrap()
    }
}

fn invalid_grant(result: Result<TokenResponse, OAuthError>) -> bool {
    matches!(
        result,
        Err(OAuthError::Protocol {
            code: ErrorCode::InvalidGrant,
            ..
        })
    )
}

#[test]
fn a_code_redeems_once_and_its_replay_revokes_what_it_issued() {
    let mut world = World::new();
    let code = world.approved_code();
    let issued = world.redeem(&code).expect("the first redemption succeeds");
    assert_eq!(issued.scope, "matomo:read");
    assert!(world.is_active(&issued.access_token));

    assert!(invalid_grant(world.redeem(&code)), "a replayed code");
    assert!(
        !world.is_active(&issued.access_token),
        "RFC 6749 §4.1.2: the tokens issued from a replayed code are revoked"
    );
    let refresh = issued.refresh_token.expect("a refresh token");
    assert!(invalid_grant(world.refresh(&refresh)));
}

#[test]
fn a_wrong_verifier_or_redirect_uri_does_not_spend_the_code() {
    let mut world = World::new();
    let code = world.approved_code();
    let params = world.params(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        (
            "code_verifier",
            "another-verifier-of-forty-three-characters-x",
        ),
    ]);
    let wrong = tokens::exchange(&mut world.conn, &world.proto, &World::caller(), &params)
        .and_then(tokens::Exchanged::stored);
    assert!(invalid_grant(wrong));
    let params = world.params(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "https://app.example/other"),
        ("code_verifier", VERIFIER),
    ]);
    let wrong = tokens::exchange(&mut world.conn, &world.proto, &World::caller(), &params)
        .and_then(tokens::Exchanged::stored);
    assert!(invalid_grant(wrong));
    assert!(world.redeem(&code).is_ok(), "the code is still good");
}

#[test]
fn a_refresh_token_rotates_and_its_reuse_ends_the_family() {
    let mut world = World::new();
    let code = world.approved_code();
    let first = world.redeem(&code).unwrap();
    let old_refresh = first.refresh_token.unwrap();
    let second = world
        .refresh(&old_refresh)
        .expect("the first refresh succeeds");
    let new_refresh = second
        .refresh_token
        .clone()
        .expect("a rotated refresh token");
    assert_ne!(new_refresh, old_refresh);
    assert!(world.is_active(&second.access_token));

    assert!(
        invalid_grant(world.refresh(&old_refresh)),
        "reuse is refused"
    );
    assert!(
        !world.is_active(&second.access_token),
        "RFC 9700 §4.14.2: reuse of a rotated refresh token revokes the whole family"
    );
    assert!(invalid_grant(world.refresh(&new_refresh)));
}

#[test]
fn revocation_is_seen_by_introspection_at_once() {
    let mut world = World::new();
    let code = world.approved_code();
    let issued = world.redeem(&code).unwrap();
    assert!(world.introspected_active(&issued.access_token));
    let params = world.params(&[("token", &issued.access_token)]);
    revocation::revoke(&mut world.conn, &world.proto, &World::caller(), &params).unwrap();
    assert!(!world.introspected_active(&issued.access_token));
    assert!(!world.is_active(&issued.access_token));
}

#[test]
fn a_client_row_no_writer_could_have_stored_is_an_error_naming_the_row() {
    let mut world = World::new();
    let id = models::clients::find_by_client_id(&mut world.conn, &world.client_id)
        .unwrap()
        .unwrap()
        .id;
    diesel::sql_query(format!(
        "UPDATE oauth_clients SET scopes = 'matomo:read matomo:everything' WHERE id = {id}"
    ))
    .execute(&mut world.conn)
    .unwrap();
    match models::clients::find_by_id(&mut world.conn, id) {
        Err(DbError::Query { source, .. }) => {
            let message = source.to_string();
            assert!(
                message.contains(&format!("oauth_clients row {id}")),
                "{message}"
            );
            assert!(message.contains("matomo:everything"), "{message}");
        }
        other => panic!("expected a query error, got {other:?}"),
    }
}

#[test]
fn a_token_checked_against_stale_memory_is_not_stored_for_a_changed_client() {
    use consentry::domain::{GrantType, Scope};
    let mut world = World::new();
    let owner = user(&mut world.conn, "cc-owner", Role::Superuser);
    let created = crate::rules_support::create_confidential(
        &mut world.conn,
        owner,
        "Machine",
        vec![GrantType::ClientCredentials],
        vec![Scope::Read],
        vec![],
    );
    world.client_id = created.client_id.as_str().to_string();
    world.secret = created.secret.unwrap().expose().to_string();
    let request = |world: &mut World| {
        let params = world.params(&[("grant_type", "client_credentials")]);
        tokens::exchange(&mut world.conn, &world.proto, &World::caller(), &params)
            .and_then(tokens::Exchanged::stored)
    };
    assert!(
        request(&mut world).is_ok(),
        "the client is now in this server's memory"
    );

    // Another server gives the client a new secret; this one has not heard yet (the row
    // is changed behind its back, as seen from a server whose follower is a moment late).
    diesel::sql_query(format!(
        "UPDATE oauth_clients SET secret_hash = UNHEX(SHA2('rotated', 256)) WHERE client_id = '{}'",
        world.client_id
    ))
    .execute(&mut world.conn)
    .unwrap();
    let refused = request(&mut world);
    assert!(
        matches!(
            refused,
            Err(OAuthError::Protocol {
                code: ErrorCode::InvalidClient,
                ..
            })
        ),
        "the old secret gets no stored token: {:?}",
        refused.as_ref().err()
    );
    let stored: i64 = {
        use consentry::db::schema::oauth_access_tokens::dsl as t;
        use diesel::prelude::*;
        t::oauth_access_tokens
            .count()
            .get_result(&mut world.conn)
            .unwrap()
    };
    assert_eq!(stored, 1, "only the token issued before the change");
}
