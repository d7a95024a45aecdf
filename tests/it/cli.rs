use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::common::{TestApp, spawn_app};

pub fn consentry(app: &TestApp, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(args)
        .env("DATABASE_URL", app.db_url.full())
        .env("CONSENTRY_DATA_DIR", &app.data_dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the consentry binary");
    // The command may exit (on a validation error) before reading its input.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn assert_one_line_exit_2(o: &Output, mentions: &str) {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    let err = stderr(o);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(err.contains(mentions), "{err} should mention {mentions}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test]
async fn cli_creates_lists_and_resets_users_who_can_then_sign_in() {
    let app = spawn_app().await;
    let created = consentry(
        &app,
        &[
            "user",
            "create",
            "--login",
            "carol",
            "--email",
            "carol@example.com",
            "--role",
            "support",
        ],
        "first password here\n",
    );
    assert!(created.status.success(), "{}", stderr(&created));

    let listed = consentry(&app, &["user", "list", "--json"], "");
    assert!(listed.status.success());
    let users: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let carol = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["login"] == "carol")
        .expect("carol listed");
    assert_eq!(carol["role"], "support");
    assert_eq!(carol["email"], "carol@example.com");
    assert!(carol.get("password_hash").is_none());
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("argon2"));

    let text = consentry(&app, &["user", "list"], "");
    assert!(String::from_utf8_lossy(&text.stdout).contains("carol"));

    assert_eq!(
        app.login("carol", "first password here").await.status(),
        303
    );

    let dir = std::env::temp_dir().join(format!("pwfile-{}", rand::random::<u64>()));
    std::fs::write(&dir, "second password here\n").unwrap();
    let reset = consentry(
        &app,
        &[
            "user",
            "set-password",
            "--login",
            "carol",
            "--password-file",
            dir.to_str().unwrap(),
        ],
        "",
    );
    std::fs::remove_file(&dir).unwrap();
    assert!(reset.status.success(), "{}", stderr(&reset));
    // A new browser signs in with the new password.
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = crate::common::csrf_in(&page);
    let res = client
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("login", "carol"),
            ("password", "second password here"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let actions = app.audit_actions();
    assert!(
        actions.contains(&"user.created".to_string())
            && actions.contains(&"user.password_changed".to_string())
    );
}

#[tokio::test]
async fn cli_validation_errors_are_one_line_and_change_nothing() {
    let app = spawn_app().await;
    let create = |login: &str, email: &str, role: &str, pw: &str| {
        let (login, email, role) = (
            format!("--login={login}"),
            format!("--email={email}"),
            format!("--role={role}"),
        );
        consentry(&app, &["user", "create", &login, &email, &role], pw)
    };
    assert_one_line_exit_2(
        &create("dave", "not-an-email", "user", "long enough password\n"),
        "--email",
    );
    assert_one_line_exit_2(
        &create(
            "-bad login",
            "d@example.com",
            "user",
            "long enough password\n",
        ),
        "--login",
    );
    assert_one_line_exit_2(
        &create("dave", "d@example.com", "admin", "long enough password\n"),
        "role",
    );
    assert_one_line_exit_2(
        &create("dave", "d@example.com", "user", "short\n"),
        "password",
    );
    assert_one_line_exit_2(&consentry(&app, &["user", "frobnicate"], ""), "frobnicate");
    assert_one_line_exit_2(
        &consentry(
            &app,
            &["user", "set-password", "--login", "ghost"],
            "long enough password\n",
        ),
        "ghost",
    );
    let listed = consentry(&app, &["user", "list", "--json"], "");
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).trim(),
        "[]",
        "nothing was created"
    );

    assert!(
        create("dave", "d@example.com", "user", "long enough password\n")
            .status
            .success()
    );
    assert_one_line_exit_2(
        &create("dave", "e@example.com", "user", "long enough password\n"),
        "already exists",
    );
}

#[tokio::test]
async fn bad_configuration_exits_2_naming_the_variable() {
    let app = spawn_app().await;
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_consentry"));
        cmd.arg("serve")
            .env("DATABASE_URL", app.db_url.full())
            .env("CONSENTRY_DATA_DIR", &app.data_dir);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).output().unwrap()
    };
    assert_one_line_exit_2(&run(&[("DATABASE_URL", "postgres://x/y")]), "DATABASE_URL");
    assert_one_line_exit_2(
        &run(&[("CONSENTRY_PUBLIC_URL", "not a url")]),
        "CONSENTRY_PUBLIC_URL",
    );
    assert_one_line_exit_2(
        &run(&[("CONSENTRY_SESSION_KEY", "dG9vIHNob3J0")]),
        "CONSENTRY_SESSION_KEY",
    );
    assert_one_line_exit_2(
        &run(&[("DATABASE_URL", "mysql://nobody@127.0.0.1:1/consentry")]),
        "DATABASE_URL",
    );
    // The test server holds its port: a second server there must refuse to start.
    let taken = format!("127.0.0.1:{}", app.port);
    let out = run(&[
        ("CONSENTRY_BIND", &taken),
        ("CONSENTRY_ADMIN_PASSWORD", "a long admin password"),
    ]);
    // Only the line naming the address counts; start-up may print the first-superuser line.
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| l.contains("CONSENTRY_BIND") && l.contains("already in use")),
        "{err}"
    );
}

#[tokio::test]
async fn serve_creates_the_first_superuser_once() {
    let app = spawn_app().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_consentry"))
            .env("DATABASE_URL", app.db_url.full())
            .env("CONSENTRY_DATA_DIR", &app.data_dir)
            .env("CONSENTRY_BIND", format!("127.0.0.1:{port}"))
            .env("CONSENTRY_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let wait_ready = || async {
        for _ in 0..100 {
            let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("server did not become ready");
    };
    let mut first = start();
    wait_ready().await;
    first.kill().unwrap();
    let out = first.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("Created the first superuser 'admin' with password: "))
        .expect(&stdout);
    let password = line.rsplit(": ").next().unwrap().trim().to_string();
    // The generated session key was stored privately and a warning printed once.
    assert!(String::from_utf8_lossy(&out.stderr).contains("generated a session key"));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(&password),
        "password must not be logged"
    );

    assert_eq!(app.login("admin", &password).await.status(), 303);

    let mut second = start();
    wait_ready().await;
    second.kill().unwrap();
    let out = second.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Created the first superuser"));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("generated a session key"),
        "key reused"
    );
}

#[tokio::test]
async fn cli_creates_sites_and_grants_access_with_one_line_errors() {
    let app = spawn_app().await;
    app.create_user("analyst", consentry::domain::Role::User)
        .await;
    let out = consentry(
        &app,
        &[
            "site",
            "create",
            "--name",
            "Shop",
            "--url",
            "https://shop.example",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    let out = consentry(
        &app,
        &[
            "access", "grant", "--login", "analyst", "--site", "1", "--level", "write",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list = consentry(&app, &["site", "list", "--json"], "");
    let sites: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(sites[0]["main_url"], "https://shop.example");
    for (args, mentions) in [
        (
            vec!["site", "create", "--name", "", "--url", "https://x.example"],
            "--name",
        ),
        (
            vec!["site", "create", "--name", "X", "--url", "javascript:x"],
            "--url",
        ),
        (
            vec![
                "access", "grant", "--login", "analyst", "--site", "1", "--level", "owner",
            ],
            "--level",
        ),
        (
            vec![
                "access", "grant", "--login", "analyst", "--site", "x", "--level", "view",
            ],
            "--site",
        ),
        (
            vec![
                "access", "grant", "--login", "ghost", "--site", "1", "--level", "view",
            ],
            "ghost",
        ),
        (
            vec![
                "access", "grant", "--login", "analyst", "--site", "9", "--level", "view",
            ],
            "9",
        ),
    ] {
        assert_one_line_exit_2(&consentry(&app, &args, ""), mentions);
    }
    let out = consentry(
        &app,
        &["access", "remove", "--login", "analyst", "--site", "1"],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Only `serve` and `migrate` change the schema: a command against an older schema refuses
/// in one line and changes nothing; after `consentry migrate` it runs.
#[tokio::test]
async fn commands_refuse_an_older_schema_until_it_is_migrated() {
    use diesel::Connection;
    use diesel_migrations::MigrationHarness;
    let app = spawn_app().await;
    let url = app.db_url.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = diesel::MysqlConnection::establish(url.full()).unwrap();
        conn.revert_last_migration(consentry::db::MIGRATIONS)
            .unwrap();
    })
    .await
    .unwrap();
    let refused = consentry(&app, &["user", "list"], "");
    assert_one_line_exit_2(&refused, "consentry migrate");
    let refused = consentry(&app, &["purge"], "");
    assert_one_line_exit_2(&refused, "1 migration(s) pending");
    let migrated = consentry(&app, &["migrate"], "");
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let listed = consentry(&app, &["user", "list"], "");
    assert!(listed.status.success(), "{}", stderr(&listed));
}
