//! Property-based fuzzing on the stable toolchain (proptest), with generators of hostile
//! input: arbitrary bytes, percent-encoding, Unicode (bidi, zero-width, combining marks),
//! huge and empty values, repeated keys. Targets: the form/query parser, redirect-URI
//! parsing and matching, PKCE, JWT header and claims decoding, the registration JSON and
//! the CSV export of audit strings. No target may panic or accept invalid input.
//!
//! Budget: 10,000 cases per target by default (what CI runs through `cargo test`), or
//! `FUZZ_SECONDS` of fresh random cases per target (`scripts/fuzz SECONDS`).

use std::time::{Duration, Instant};

use consentry::domain::RedirectUri;
use consentry::domain::{Scope, SigningAlg};
use consentry::oauth::authorize::redirect_uri_matches;
use consentry::oauth::jwt::{self, AccessClaims};
use consentry::oauth::keys::LoadedKey;
use consentry::oauth::params::Params;
use consentry::oauth::pkce::{CodeChallenge, verifier_well_formed};
use consentry::oauth::registration::{RegistrationError, parse_metadata};
use consentry::oauth::settings::{RegistrationPolicy, Settings};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const DEFAULT_CASES: u32 = 10_000;

/// Runs `check` on values from `strategy`: the default number of cases, or for
/// `FUZZ_SECONDS` seconds in rounds with fresh seeds.
fn fuzz<S: Strategy>(name: &str, strategy: S, check: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let seconds = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let mut total = 0u64;
    loop {
        let cases = if deadline.is_some() {
            2_000
        } else {
            DEFAULT_CASES
        };
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, &check) {
            panic!("fuzz target {name} failed: {e}");
        }
        total += u64::from(cases);
        match deadline {
            Some(d) if Instant::now() < d => continue,
            _ => break,
        }
    }
    println!("fuzz target {name}: {total} cases, no failure");
}

/// Strings an attacker would send: arbitrary Unicode, the troublesome code points, URL
/// pieces and percent-encoding, and very long or empty values.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9:/?#\\[\\]@!$&'()*+,;=%._~ -]{0,80}",
        prop::collection::vec(
            prop_oneof![
                Just("\u{202e}".to_string()),
                Just("\u{200b}".to_string()),
                Just("\u{0301}".to_string()),
                Just("%00".to_string()),
                Just("%zz".to_string()),
                Just("%F0%9F".to_string()),
                Just("+".to_string()),
                Just("&".to_string()),
                Just("=".to_string()),
                Just("\r\n".to_string()),
                Just("\u{0}".to_string()),
                "[a-zA-Z0-9]{1,8}",
            ],
            0..40
        )
        .prop_map(|parts| parts.concat()),
        (0usize..70_000).prop_map(|n| "a".repeat(n)),
        Just(String::new()),
    ]
}

#[test]
fn form_and_query_parser() {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        hostile_text().prop_map(String::into_bytes),
        // Repeated keys, empty keys and values.
        prop::collection::vec(("[a-z_]{0,6}", hostile_text()), 0..12).prop_map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes()
        }),
    ];
    fuzz("form_and_query_parser", bytes, |raw| {
        let params = Params::parse(&raw);
        for (name, value) in params.pairs() {
            // A value read back is the first of its name, an empty one counts as absent
            // (RFC 6749 §3.1), and a repeated parameter is always refused.
            let first = params.all(name)[0];
            prop_assert_eq!(params.get(name), Some(first).filter(|v| !v.is_empty()));
            prop_assert!(params.all(name).contains(&value.as_str()));
            if params.count(name) > 1 && name != "resource" {
                prop_assert!(params.repeated().is_some());
                prop_assert!(params.reject_repeated().is_err());
            }
        }
        Ok(())
    });
}

fn loopback_uri() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("http://127.0.0.1"), Just("http://[::1]")],
        prop::option::of(1u16..=65535),
        "(/[a-z0-9]{0,8}){0,3}",
        prop::option::of("[a-z]{1,5}=[a-z0-9]{0,5}"),
    )
        .prop_map(|(host, port, path, query)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            format!("{host}{port}{path}{query}")
        })
}

fn any_uri() -> impl Strategy<Value = String> {
    prop_oneof![
        hostile_text(),
        loopback_uri(),
        "https://[a-z]{1,10}\\.example(:[0-9]{1,5})?(/[a-zA-Z0-9._~%-]{0,10}){0,3}",
        "[a-z][a-z0-9+.-]{0,12}:(//)?[a-z0-9./]{0,20}",
    ]
}

#[test]
fn redirect_uri_parsing_never_accepts_what_it_must_refuse() {
    let allowed = vec!["cursor".to_string(), "vscode".to_string()];
    fuzz("redirect_uri_parsing", any_uri(), |raw| {
        for parsed in [
            RedirectUri::parse(&raw),
            RedirectUri::parse_allowing_native(&raw, &allowed),
        ]
        .into_iter()
        .flatten()
        {
            let uri = parsed.as_str();
            prop_assert!(!uri.contains('#') && !uri.contains('*'), "{uri}");
            prop_assert!(uri.len() <= 2000);
            let url = url::Url::parse(uri).expect("an accepted URI parses");
            let scheme = url.scheme();
            prop_assert!(
                ![
                    "javascript",
                    "data",
                    "file",
                    "vbscript",
                    "blob",
                    "about",
                    "wss",
                    "ws",
                    "intent",
                    "jar",
                    "chrome",
                    "ftp"
                ]
                .contains(&scheme),
                "{uri}"
            );
            prop_assert!(
                scheme == "https"
                    || scheme == "http"
                    || scheme.contains('.')
                    || allowed.iter().any(|a| a == scheme),
                "{uri}"
            );
            if scheme == "http" {
                prop_assert!(
                    matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")),
                    "{uri}"
                );
            }
        }
        Ok(())
    });
}

/// One change at `at`: a character replaced, removed or inserted.
fn mutate(s: &str, at: usize, op: u8, c: char) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let at = if chars.is_empty() {
        0
    } else {
        at % (chars.len() + 1)
    };
    match op % 3 {
        0 if at < chars.len() => chars[at] = c,
        1 if at < chars.len() => {
            chars.remove(at);
        }
        _ => chars.insert(at, c),
    }
    chars.into_iter().collect()
}

#[test]
fn redirect_uri_matching_is_exact_but_for_a_loopback_port() {
    let cases = (
        prop_oneof![any_uri(), loopback_uri()],
        any::<usize>(),
        any::<u8>(),
        any::<char>(),
    );
    fuzz("redirect_uri_matching", cases, |(registered, at, op, c)| {
        prop_assert!(redirect_uri_matches(&registered, &registered), "reflexive");
        let given = mutate(&registered, at, op, c);
        if given != registered && redirect_uri_matches(&registered, &given) {
            // The only allowed difference: the port of a loopback URI (RFC 8252 §7.3).
            let strip = |u: &str| {
                for host in ["http://127.0.0.1", "http://[::1]"] {
                    if let Some(rest) = u.strip_prefix(host) {
                        let rest = rest
                            .strip_prefix(':')
                            .map(|r| r.trim_start_matches(|ch: char| ch.is_ascii_digit()))
                            .unwrap_or(rest);
                        return Some(format!("{host}{rest}"));
                    }
                }
                None
            };
            let (a, b) = (strip(&registered), strip(&given));
            prop_assert!(a.is_some() && a == b, "{registered:?} matched {given:?}");
        }
        Ok(())
    });
}

#[test]
fn pkce_accepts_only_the_verifier_of_the_challenge() {
    let verifier = "[A-Za-z0-9._~-]{43,128}";
    let cases = (verifier, hostile_text(), prop::option::of(hostile_text()));
    fuzz("pkce", cases, |(good, other, method)| {
        use base64::Engine;
        use sha2::Digest;
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(good.as_bytes()));
        let challenge = CodeChallenge::from_request(Some(&digest), Some("S256"))
            .expect("a valid challenge")
            .expect("present");
        prop_assert!(challenge.verify(&good));
        if other != good {
            prop_assert!(!challenge.verify(&other));
        }
        if !verifier_well_formed(&other) {
            prop_assert!(!challenge.verify(&other));
        }
        // Hostile challenges and methods are refused or parsed, never a panic.
        let _ = CodeChallenge::from_request(Some(&other), method.as_deref());
        if method.as_deref() != Some("S256") {
            prop_assert!(!matches!(
                CodeChallenge::from_request(Some(&digest), method.as_deref()),
                Ok(Some(_))
            ));
        }
        Ok(())
    });
}

#[test]
fn jwt_decoding_accepts_only_untouched_tokens_of_ours() {
    for alg in SigningAlg::ALL {
        jwt_decoding_of(alg);
    }
}

fn jwt_decoding_of(alg: SigningAlg) {
    let key = LoadedKey::generate("fuzz-key", alg).expect("a key");
    let now = chrono::Utc::now().timestamp();
    let claims = AccessClaims {
        iss: "https://auth.example".into(),
        sub: "alice".into(),
        aud: "https://auth.example".into(),
        client_id: "0123456789abcdef0123456789abcdef".into(),
        scope: "matomo:read".into(),
        iat: now,
        exp: now + 3600,
        jti: "jti".into(),
    };
    let token = jwt::sign_with(&key, &claims).unwrap();
    assert!(jwt::decode_claims(&token, &key, &claims.iss, &claims.aud, true).is_some());
    assert_eq!(jwt::acceptable_kid(&token).as_deref(), Some("fuzz-key"));
    // A key of another algorithm never accepts it, whatever the header says.
    for other in SigningAlg::ALL.into_iter().filter(|a| *a != alg) {
        let wrong = LoadedKey::generate("fuzz-key", other).expect("a key");
        assert!(jwt::decode_claims(&token, &wrong, &claims.iss, &claims.aud, true).is_none());
    }
    let cases = prop_oneof![
        (any::<usize>(), any::<u8>(), any::<char>())
            .prop_map(move |(at, op, c)| mutate(&token, at, op, c)),
        hostile_text(),
        (hostile_text(), hostile_text(), hostile_text())
            .prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
    ];
    let original = jwt::sign_with(&key, &claims).unwrap();
    fuzz(&format!("jwt_decoding_{alg}"), cases, |candidate| {
        let _ = jwt::acceptable_kid(&candidate);
        let decoded = jwt::decode_claims(&candidate, &key, &claims.iss, &claims.aud, true);
        if let Some(found) = decoded {
            // Base64url has a little slack in its last character; anything accepted must
            // carry exactly the signed claims.
            prop_assert_eq!(found.jti, claims.jti.clone());
            prop_assert_eq!(found.sub, claims.sub.clone());
            prop_assert_eq!(found.scope, claims.scope.clone());
            prop_assert!(candidate.split('.').count() == 3);
            let _ = &original;
        }
        Ok(())
    });
}

fn open_settings() -> Settings {
    Settings {
        access_token_lifetime: 3600,
        refresh_token_lifetime: 86_400,
        auth_code_lifetime: 600,
        auth_code_enabled: true,
        client_credentials_enabled: true,
        refresh_tokens_enabled: true,
        allowed_scopes: vec![Scope::Read, Scope::Write, Scope::Admin, Scope::Superuser],
        allowed_identity: consentry::domain::Identity::of(&consentry::domain::IdentityScope::ALL),
        registration_enabled: true,
        registration_policy: RegistrationPolicy::Open,
        audit_retention_days: 400,
        allowed_app_schemes: vec!["cursor".into()],
        signing_alg: SigningAlg::Rs256,
        require_2fa_superusers: false,
        require_2fa_support: false,
        device_flow_enabled: true,
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        hostile_text().prop_map(Value::String),
        any_uri().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("redirect_uris".to_string()),
                        Just("client_name".to_string()),
                        Just("grant_types".to_string()),
                        Just("response_types".to_string()),
                        Just("scope".to_string()),
                        Just("token_endpoint_auth_method".to_string()),
                        Just("client_uri".to_string()),
                        Just("logo_uri".to_string()),
                        "[a-z_]{1,10}",
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

#[test]
fn registration_metadata_is_refused_or_safe() {
    let settings = open_settings();
    fuzz("registration_json", json_value(), |metadata| {
        match parse_metadata(&settings, &metadata) {
            Ok(m) => {
                prop_assert!(!m.redirect_uris.is_empty());
                prop_assert!(!m.scopes.contains(&Scope::Superuser));
                prop_assert!(!m.scopes.is_empty());
                prop_assert!(m.grants.iter().all(|g| g.as_str() != "client_credentials"));
                prop_assert!(!m.name.as_str().is_empty() && m.name.as_str().chars().count() <= 64);
            }
            Err(RegistrationError::InvalidRedirectUri(_))
            | Err(RegistrationError::InvalidClientMetadata(_)) => {}
            Err(other) => prop_assert!(false, "unexpected refusal {other:?}"),
        }
        Ok(())
    });
}

#[test]
fn csv_export_keeps_hostile_strings_inert_and_intact() {
    let cells = prop::collection::vec(
        prop_oneof![
            hostile_text(),
            "[ \u{a0}]{0,3}[=+@\t\r-][a-zA-Z0-9()!,\"]{0,20}",
        ],
        1..6,
    );
    fuzz("csv_export", cells, |values| {
        let guarded: Vec<String> = values
            .iter()
            .map(|v| consentry::web::routes::admin::audit::cell(v))
            .collect();
        for g in &guarded {
            let start = g.trim_start_matches([' ', '\u{a0}']);
            prop_assert!(
                !start.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{g:?}"
            );
        }
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(&guarded).unwrap();
        let bytes = out.into_inner().unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes.as_slice());
        let read: Vec<String> = reader
            .records()
            .next()
            .expect("one record")
            .unwrap()
            .iter()
            .map(String::from)
            .collect();
        prop_assert_eq!(read, guarded);
        Ok(())
    });
}
