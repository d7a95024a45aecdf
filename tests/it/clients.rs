//! Registering and controlling OAuth clients from the command line.

use consentry::domain::Role;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::cli::{assert_one_line_exit_2, consentry, stderr};
use crate::common::spawn_app;

fn create(app: &crate::common::TestApp, args: &[&str]) -> std::process::Output {
    let mut all = vec!["client", "create"];
    all.extend_from_slice(args);
    consentry(app, &all, "")
}

#[derive(QueryableByName)]
struct Dump {
    #[diesel(sql_type = Text)]
    dump: String,
}

/// Everything the two tables hold, as text, to search for a leaked secret.
fn dump(app: &crate::common::TestApp) -> String {
    let rows: Vec<Dump> = diesel::sql_query(
        "SELECT CONCAT_WS('|', client_id, name, grant_types, scopes, redirect_uris, HEX(secret_hash)) AS dump FROM oauth_clients \
         UNION ALL SELECT CONCAT_WS('|', actor, action, target_id, details) FROM audit_events",
    )
    .load(&mut app.conn())
    .unwrap();
    rows.into_iter()
        .map(|r| r.dump)
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase()
}

#[tokio::test]
async fn confidential_client_gets_an_id_and_a_secret_shown_once_and_stored_as_a_hash() {
    let app = spawn_app().await;
    app.create_user("root1", Role::Superuser).await;
    let out = create(
        &app,
        &[
            "--name",
            "Analytics app",
            "--type",
            "confidential",
            "--grant",
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "--scope",
            "matomo:read",
            "matomo:write",
            "--redirect-uri",
            "https://example-app.com/oauth/callback",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(secret.len(), 64);
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));

    assert!(
        !dump(&app).contains(&secret),
        "the secret must not be stored or audited"
    );
    let shown = consentry(&app, &["client", "show", &id, "--json"], "");
    let shown_text = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(!shown_text.contains(&secret));
    let client: serde_json::Value = serde_json::from_str(&shown_text).unwrap();
    assert_eq!(client["name"], "Analytics app");
    assert_eq!(client["type"], "confidential");
    assert_eq!(client["status"], "active");
    assert_eq!(client["require_pkce"], false);
    assert_eq!(
        client["scopes"],
        serde_json::json!(["matomo:read", "matomo:write"])
    );
    assert_eq!(
        client["redirect_uris"],
        serde_json::json!(["https://example-app.com/oauth/callback"])
    );
    assert!(
        !String::from_utf8_lossy(&consentry(&app, &["client", "list", "--json"], "").stdout)
            .contains(&secret)
    );
    assert!(app.audit_actions().contains(&"client.created".to_string()));
}

#[tokio::test]
async fn public_client_has_no_secret_and_requires_pkce() {
    let app = spawn_app().await;
    app.create_user("root1", Role::Superuser).await;
    let out = create(
        &app,
        &[
            "--name",
            "Mobile",
            "--type",
            "public",
            "--grant",
            "authorization_code",
            "--scope",
            "matomo:read",
            "--redirect-uri",
            "http://127.0.0.1:9000/cb",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(created["client_secret"].is_null());
    let id = created["client_id"].as_str().unwrap();
    let shown: serde_json::Value =
        serde_json::from_slice(&consentry(&app, &["client", "show", id, "--json"], "").stdout)
            .unwrap();
    assert_eq!(shown["require_pkce"], true);
}

#[tokio::test]
async fn invalid_clients_are_refused_with_one_line_and_nothing_is_stored() {
    let app = spawn_app().await;
    let base = ["--name", "X", "--type", "confidential"];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        create(&app, &args)
    };
    // No superuser yet to own it.
    assert_one_line_exit_2(
        &with(&["--grant", "client_credentials", "--scope", "matomo:read"]),
        "--owner",
    );
    app.create_user("root1", Role::Superuser).await;
    let public_cc = create(
        &app,
        &[
            "--name",
            "X",
            "--type",
            "public",
            "--grant",
            "client_credentials",
            "--scope",
            "matomo:read",
        ],
    );
    assert_one_line_exit_2(&public_cc, "--grant");
    assert_one_line_exit_2(
        &with(&[
            "--grant",
            "client_credentials",
            "--scope",
            "matomo:superuser",
        ]),
        "--scope",
    );
    assert_one_line_exit_2(
        &with(&["--grant", "client_credentials", "--scope", "read"]),
        "--scope",
    );
    assert_one_line_exit_2(
        &with(&["--grant", "implicit", "--scope", "matomo:read"]),
        "--grant",
    );
    assert_one_line_exit_2(
        &with(&["--grant", "authorization_code", "--scope", "matomo:read"]),
        "--redirect-uri",
    );
    for uri in [
        "http://example.com/cb",
        "https://example.com/cb#x",
        "https://*.example.com/cb",
        "javascript:alert(1)",
    ] {
        let out = with(&[
            "--grant",
            "authorization_code",
            "--scope",
            "matomo:read",
            "--redirect-uri",
            uri,
        ]);
        assert_one_line_exit_2(&out, "--redirect-uri");
    }
    let long_name = "n".repeat(65);
    assert_one_line_exit_2(
        &create(
            &app,
            &[
                "--name",
                &long_name,
                "--type",
                "public",
                "--grant",
                "refresh_token",
                "--scope",
                "matomo:read",
            ],
        ),
        "--name",
    );
    assert_one_line_exit_2(
        &with(&[
            "--grant",
            "client_credentials",
            "--scope",
            "matomo:read",
            "--homepage",
            "ftp://x",
        ]),
        "--homepage",
    );
    let listed = consentry(&app, &["client", "list", "--json"], "");
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "[]");
}

#[tokio::test]
async fn clients_can_be_paused_resumed_and_deleted() {
    let app = spawn_app().await;
    app.create_user("root1", Role::Superuser).await;
    let out = create(
        &app,
        &[
            "--name",
            "Backend",
            "--type",
            "confidential",
            "--grant",
            "client_credentials",
            "--scope",
            "matomo:read",
            "--json",
        ],
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["client_id"].as_str().unwrap();
    let status = |app: &crate::common::TestApp| {
        let v: serde_json::Value =
            serde_json::from_slice(&consentry(app, &["client", "show", id, "--json"], "").stdout)
                .unwrap();
        v["status"].as_str().unwrap().to_string()
    };

    assert!(
        consentry(&app, &["client", "pause", id], "")
            .status
            .success()
    );
    assert_eq!(status(&app), "paused");
    assert!(
        consentry(&app, &["client", "resume", id], "")
            .status
            .success()
    );
    assert_eq!(status(&app), "active");
    let text =
        String::from_utf8_lossy(&consentry(&app, &["client", "list"], "").stdout).to_string();
    assert!(text.contains(id) && text.contains("Backend"));
    assert!(
        consentry(&app, &["client", "delete", id], "")
            .status
            .success()
    );
    assert_one_line_exit_2(
        &consentry(&app, &["client", "show", id], ""),
        "no client has ID",
    );
    assert_one_line_exit_2(
        &consentry(&app, &["client", "pause", id], ""),
        "no client has ID",
    );
    let actions = app.audit_actions();
    for a in [
        "client.created",
        "client.paused",
        "client.resumed",
        "client.deleted",
    ] {
        assert!(actions.contains(&a.to_string()), "{a} in {actions:?}");
    }
}

#[tokio::test]
async fn a_clients_own_token_lifetimes_are_set_and_checked_like_the_forms() {
    let app = spawn_app().await;
    app.create_user("root2", Role::Superuser).await;
    let base = [
        "--name",
        "Short-lived",
        "--type",
        "confidential",
        "--grant",
        "client_credentials",
        "--scope",
        "matomo:read",
    ];
    let out = create(
        &app,
        &[&base[..], &["--access-token-lifetime", "30"]].concat(),
    );
    assert_one_line_exit_2(&out, "--access-token-lifetime");
    let out = create(
        &app,
        &[
            &base[..],
            &[
                "--access-token-lifetime",
                "600",
                "--refresh-token-lifetime",
                "7200",
                "--json",
            ],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["client_id"].as_str().unwrap();
    let shown = consentry(&app, &["client", "show", id, "--json"], "");
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["access_token_lifetime"], 600);
    assert_eq!(shown["refresh_token_lifetime"], 7200);
}

#[tokio::test]
async fn client_edit_changes_what_a_flag_names_and_keeps_the_rest() {
    let app = spawn_app().await;
    app.create_user("root3", Role::Superuser).await;
    let out = create(
        &app,
        &[
            "--name",
            "Before",
            "--type",
            "confidential",
            "--grant",
            "authorization_code",
            "client_credentials",
            "--scope",
            "matomo:read",
            "matomo:write",
            "--redirect-uri",
            "https://example-app.com/cb",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["client_id"].as_str().unwrap();
    let edit = |args: &[&str]| {
        let mut all = vec!["client", "edit", id];
        all.extend_from_slice(args);
        consentry(&app, &all, "")
    };
    let out = edit(&[
        "--name",
        "After",
        "--scope",
        "matomo:read",
        "--access-token-lifetime",
        "900",
        "--trusted",
        "true",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["client_id"], id, "the ID stays");
    assert_eq!(shown["name"], "After");
    assert_eq!(shown["scopes"], serde_json::json!(["matomo:read"]));
    assert_eq!(shown["access_token_lifetime"], 900);
    assert_eq!(shown["trusted"], true);
    assert_eq!(
        shown["redirect_uris"],
        serde_json::json!(["https://example-app.com/cb"]),
        "what no flag named is kept"
    );
    assert_eq!(
        shown["grant_types"],
        serde_json::json!(["authorization_code", "client_credentials"])
    );
    assert!(app.audit_actions().contains(&"client.edited".to_string()));
    // Back to the server's lifetime; bad values refused in one line naming the flag.
    let out = edit(&["--access-token-lifetime", "default", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(shown["access_token_lifetime"].is_null());
    assert_one_line_exit_2(&edit(&["--scope", "matomo:root"]), "--scope");
    assert_one_line_exit_2(
        &edit(&["--refresh-token-lifetime", "5"]),
        "--refresh-token-lifetime",
    );
    let out = consentry(
        &app,
        &[
            "client",
            "edit",
            "0123456789abcdef0123456789abcdef",
            "--name",
            "x",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[tokio::test]
async fn settings_set_takes_every_setting_with_the_forms_rules() {
    let app = spawn_app().await;
    let set = |args: &[&str]| {
        let mut all = vec!["settings", "set"];
        all.extend_from_slice(args);
        consentry(&app, &all, "")
    };
    let out = set(&[
        "--access-token-lifetime",
        "900",
        "--allowed-scope",
        "openid",
        "matomo:read",
        "--registration-enabled",
        "true",
        "--require-2fa-superusers",
        "true",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = consentry(&app, &["settings", "show", "--json"], "");
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["access_token_lifetime"], 900);
    assert_eq!(shown["allowed_scopes"], "openid matomo:read");
    assert_eq!(shown["registration_enabled"], true);
    assert_eq!(shown["require_2fa_superusers"], true);
    assert_eq!(shown["refresh_token_lifetime"], 2_592_000, "the rest kept");
    assert!(
        app.audit_actions()
            .contains(&"settings.changed".to_string())
    );
    assert_one_line_exit_2(
        &set(&["--access-token-lifetime", "59"]),
        "--access-token-lifetime",
    );
    assert_one_line_exit_2(&set(&["--allowed-scope", "profile"]), "--allowed-scope");
    assert_one_line_exit_2(
        &set(&["--registration-policy", "maybe"]),
        "--registration-policy",
    );
}

#[tokio::test]
async fn audit_export_prints_the_filtered_log_as_csv_or_json() {
    let app = spawn_app().await;
    app.create_user("root4", Role::Superuser).await;
    let out = create(
        &app,
        &[
            "--name",
            "Audited",
            "--type",
            "confidential",
            "--grant",
            "client_credentials",
            "--scope",
            "matomo:read",
            "--json",
        ],
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["client_id"].as_str().unwrap();
    assert!(
        consentry(&app, &["client", "pause", id], "")
            .status
            .success()
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let out = consentry(
        &app,
        &["audit", "export", "--client", id, "--since", &today],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(
        csv.starts_with("time_utc,actor,action,target_type,target,details,client_address,count")
    );
    assert_eq!(csv.lines().count(), 3, "created and paused: {csv}");
    assert!(csv.contains("client.paused") && !csv.contains("user.created"));
    let out = consentry(
        &app,
        &[
            "audit",
            "export",
            "--format",
            "json",
            "--action",
            "user.created",
        ],
        "",
    );
    let events: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(events[0]["target"], "root4");
    // --json is --format json, as on every other printing command.
    let out = consentry(
        &app,
        &["audit", "export", "--json", "--action", "user.created"],
        "",
    );
    let same: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(same, events);
    assert_one_line_exit_2(
        &consentry(&app, &["audit", "export", "--since", "yesterday"], ""),
        "--since",
    );
    assert_one_line_exit_2(
        &consentry(&app, &["audit", "export", "--format", "xml"], ""),
        "--format",
    );
}

/// Every command-line audit event names `cli:` and the operating-system user.
#[tokio::test]
async fn command_line_events_name_the_operating_system_user() {
    let app = spawn_app().await;
    app.create_user("root5", Role::Superuser).await;
    let out = create(
        &app,
        &[
            "--name",
            "Actor check",
            "--type",
            "confidential",
            "--grant",
            "client_credentials",
            "--scope",
            "matomo:read",
            "--json",
        ],
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["client_id"].as_str().unwrap();
    assert!(
        consentry(&app, &["client", "pause", id], "")
            .status
            .success()
    );
    assert!(
        consentry(
            &app,
            &["settings", "set", "--audit-retention-days", "30"],
            ""
        )
        .status
        .success()
    );
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    for action in ["client.created", "client.paused", "settings.changed"] {
        let (actor, _, _) = crate::console::last_event(&app, action);
        assert!(actor.starts_with("cli:"), "{action}: {actor}");
        if std::env::var("USER").is_ok() {
            assert_eq!(actor, format!("cli:{user}"), "{action}");
        }
    }
}

#[tokio::test]
async fn a_confidential_client_can_be_made_to_require_pkce() {
    let app = spawn_app().await;
    app.create_user("root6", Role::Superuser).await;
    let out = create(
        &app,
        &[
            "--name",
            "Strict",
            "--type",
            "confidential",
            "--grant",
            "authorization_code",
            "--scope",
            "matomo:read",
            "--redirect-uri",
            "https://example-app.com/cb",
            "--require-pkce",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["client_id"].as_str().unwrap().to_string();
    let show = |app: &crate::common::TestApp| {
        let out = consentry(app, &["client", "show", &id, "--json"], "");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["require_pkce"].clone()
    };
    assert_eq!(show(&app), true);
    let path = crate::protocol::authorize_path(&[
        ("response_type", "code"),
        ("client_id", &id),
        ("redirect_uri", "https://example-app.com/cb"),
        ("scope", "matomo:read"),
    ]);
    let to = crate::protocol::location(&app.get(&path).await);
    assert_eq!(
        crate::protocol::param(&to, "error").as_deref(),
        Some("invalid_request"),
        "no code_challenge: {to}"
    );
    let out = consentry(
        &app,
        &["client", "edit", &id, "--require-pkce", "false"],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(show(&app), false);
    let to = crate::protocol::location(&app.get(&path).await);
    assert!(
        to.starts_with("/login"),
        "now it may go on without PKCE: {to}"
    );
}
