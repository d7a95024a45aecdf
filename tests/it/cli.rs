use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::common::{TestApp, free_port, spawn_app};

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

/// `bin serve` on 127.0.0.1:`port` against the test app's database and data directory;
/// the caller adds what the test is about and spawns it.
pub fn serve_command(app: &TestApp, bin: &std::path::Path, port: u16) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .env("DATABASE_URL", app.db_url.full())
        .env("CONSENTRY_DATA_DIR", &app.data_dir)
        .env("CONSENTRY_BIND", format!("127.0.0.1:{port}"))
        .env("CONSENTRY_PUBLIC_URL", format!("http://127.0.0.1:{port}"));
    cmd
}

/// Waits until `url` answers 200 (a server process starting), for at most 15 s.
pub async fn wait_for(url: &str) {
    for _ in 0..150 {
        if reqwest::get(url).await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{url} did not answer");
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn assert_one_line_exit_2(o: &Output, mentions: &str) {
    assert_one_line_exit(o, 2, mentions);
}

/// One line on standard error naming `mentions`, and exit code `code`.
pub fn assert_one_line_exit(o: &Output, code: i32, mentions: &str) {
    assert_eq!(o.status.code(), Some(code), "stderr: {}", stderr(o));
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
    // An unreachable database has an exit code of its own.
    assert_one_line_exit(
        &run(&[("DATABASE_URL", "mysql://nobody@127.0.0.1:1/consentry")]),
        3,
        "DATABASE_URL",
    );
    // The test server holds its port: a second server there must refuse to start.
    let taken = format!("127.0.0.1:{}", app.port);
    let out = run(&[("CONSENTRY_BIND", &taken)]);
    assert_one_line_exit_2(&out, "CONSENTRY_BIND");
    assert!(stderr(&out).contains("already in use"));
    // The port is taken before anything else: no first superuser, no password file.
    let users = consentry(&app, &["user", "list", "--json"], "");
    assert!(
        !String::from_utf8_lossy(&users.stdout).contains("\"admin\""),
        "{}",
        String::from_utf8_lossy(&users.stdout)
    );
    assert!(!app.data_dir.join("initial-admin-password").exists());
}

#[tokio::test]
async fn serve_creates_the_first_superuser_once() {
    let app = spawn_app().await;
    let port = free_port();
    let start = || {
        serve_command(&app, env!("CARGO_BIN_EXE_consentry").as_ref(), port)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    let mut first = start();
    wait_for(&readyz).await;
    first.kill().unwrap();
    let out = first.wait_with_output().unwrap();
    let logged = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The generated password is in a private file of the data directory, which the log names.
    let file = app.data_dir.join("initial-admin-password");
    assert!(logged.contains(&file.display().to_string()), "{logged}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let contents = std::fs::read_to_string(&file).unwrap();
    assert!(contents.contains("login: admin"), "{contents}");
    let password = contents
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect(&contents)
        .to_string();
    assert!(!logged.contains(&password), "password must not be logged");
    // The generated session key was stored privately and a warning printed once.
    assert!(logged.contains("generated a session key"));

    assert_eq!(app.login("admin", &password).await.status(), 303);

    let mut second = start();
    wait_for(&readyz).await;
    second.kill().unwrap();
    let out = second.wait_with_output().unwrap();
    let logged = String::from_utf8_lossy(&out.stderr);
    assert!(!logged.contains("created the first superuser"), "{logged}");
    assert!(!logged.contains("generated a session key"), "key reused");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), contents);

    // The file goes when that user's password is changed.
    let changed = consentry(
        &app,
        &["user", "set-password", "--login", "admin"],
        "a password of my own\n",
    );
    assert!(changed.status.success(), "{}", stderr(&changed));
    assert!(!file.exists());
}

/// One file to deploy: the binary, copied anywhere, serves its own stylesheet and scripts.
#[tokio::test]
async fn a_copied_binary_serves_its_stylesheet_from_any_directory() {
    let app = spawn_app().await;
    let dir = app.data_dir.join("elsewhere");
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("consentry");
    std::fs::copy(env!("CARGO_BIN_EXE_consentry"), &bin).unwrap();
    let port = free_port();
    let mut server = serve_command(&app, &bin, port)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&format!("http://127.0.0.1:{port}/readyz")).await;
    let url = format!("http://127.0.0.1:{port}/static/css/consentry.css");
    let res = reqwest::get(&url).await.unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    assert_eq!(headers["content-type"], "text/css; charset=utf-8");
    assert_eq!(headers["cache-control"], "public, max-age=86400");
    let etag = headers["etag"].to_str().unwrap().to_string();
    let body = res.text().await.unwrap();
    assert_eq!(
        body,
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/static/css/consentry.css"
        ))
    );
    // Revalidation by ETag, and nothing outside the embedded files.
    let again = reqwest::Client::new()
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let missing = reqwest::get(format!("http://127.0.0.1:{port}/static/../Cargo.toml"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    server.kill().unwrap();
    let _ = server.wait();
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

#[test]
fn help_lists_every_variable_and_exit_code_and_the_binary_writes_completions_and_a_manpage() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_consentry"))
            .args(args)
            .output()
            .unwrap()
    };
    let help = run(&["--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for (name, _, _) in consentry::config::ENVIRONMENT {
        assert!(help.contains(name), "{name} missing from --help:\n{help}");
    }
    assert!(help.contains("3 database unreachable"), "{help}");
    let bash = run(&["completions", "bash"]);
    assert!(bash.status.success());
    let bash = String::from_utf8_lossy(&bash.stdout);
    assert!(
        bash.contains("complete -F _consentry") && bash.contains("set-password"),
        "{bash}"
    );
    let zsh = run(&["completions", "zsh"]);
    assert!(String::from_utf8_lossy(&zsh.stdout).starts_with("#compdef consentry"));
    let man = run(&["manpage"]);
    assert!(man.status.success());
    let man = String::from_utf8_lossy(&man.stdout);
    assert!(
        man.contains(".TH consentry") && man.contains("CONSENTRY_TRUSTED_PROXIES"),
        "{man}"
    );
    assert_one_line_exit_2(&run(&["completions", "tcsh"]), "tcsh");
}

#[tokio::test]
async fn commands_exit_3_when_the_database_is_unreachable_and_print_rfc3339_times() {
    let app = spawn_app().await;
    let out = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(["user", "list"])
        .env("DATABASE_URL", "mysql://nobody@127.0.0.1:1/consentry")
        .output()
        .unwrap();
    assert_one_line_exit(&out, 3, "DATABASE_URL");
    assert!(consentry(&app, &["keys", "rotate"], "").status.success());
    let keys = consentry(&app, &["keys", "list", "--json"], "");
    assert!(keys.status.success(), "{}", stderr(&keys));
    let keys: serde_json::Value = serde_json::from_slice(&keys.stdout).unwrap();
    let created = keys[0]["created_at"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(created).unwrap();
    assert!(created.ends_with('Z'), "{created}");
}

/// At a terminal the password is asked for without echo (rpassword); a pseudo-terminal
/// stands in for the operator's.
#[tokio::test]
async fn a_password_typed_at_a_terminal_is_not_echoed() {
    let app = spawn_app().await;
    let typed = "typed at a terminal, unseen";
    let script = r#"
import os, pty, select, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
deadline = time.time() + 30
while b"Password" not in out and time.time() < deadline:
    if select.select([fd], [], [], 0.5)[0]:
        out += os.read(fd, 1024)
# Type only once the program has turned echo off (the prompt is printed just before), as
# a person would: what is tested is that it does turn it off.
while termios.tcgetattr(fd)[3] & termios.ECHO and time.time() < deadline:
    time.sleep(0.01)
os.write(fd, os.environ["TYPED"].encode() + b"\n")
while True:
    try:
        data = os.read(fd, 1024)
    except OSError:
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let out = Command::new("python3")
        .args(["-c", script, env!("CARGO_BIN_EXE_consentry")])
        .args([
            "user",
            "create",
            "--login",
            "tty",
            "--email",
            "tty@example.com",
            "--role",
            "user",
        ])
        .env("DATABASE_URL", app.db_url.full())
        .env("CONSENTRY_DATA_DIR", &app.data_dir)
        .env("TYPED", typed)
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}{}", stderr(&out));
    assert!(
        screen.contains("Password: ") && screen.contains("created user 'tty'"),
        "{screen}"
    );
    assert!(!screen.contains(typed), "the password was echoed: {screen}");
    assert_eq!(app.login("tty", typed).await.status(), 303);
}

/// Every command that prints answers `--json` with one JSON object a script can read.
#[tokio::test]
async fn every_printing_command_answers_json_with_rfc3339_times() {
    let app = spawn_app().await;
    let run = |args: &[&str], stdin: &str| {
        let out = consentry(&app, args, stdin);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        serde_json::from_str::<serde_json::Value>(text.trim())
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {text}"))
    };
    let created = run(
        &[
            "user",
            "create",
            "--login",
            "scripted",
            "--email",
            "s@example.com",
            "--role",
            "user",
            "--json",
        ],
        "correct horse battery staple\n",
    );
    run(
        &[
            "user",
            "create",
            "--login",
            "boss",
            "--email",
            "b@example.com",
            "--role",
            "superuser",
            "--json",
        ],
        "correct horse battery staple\n",
    );
    assert_eq!(
        (created["login"].as_str(), created["created"].as_bool()),
        (Some("scripted"), Some(true))
    );
    let site = run(
        &[
            "site",
            "create",
            "--name",
            "Shop",
            "--url",
            "https://shop.example",
            "--json",
        ],
        "",
    );
    let id = site["idsite"].as_i64().unwrap().to_string();
    let access = run(
        &[
            "access", "grant", "--login", "scripted", "--site", &id, "--level", "view", "--json",
        ],
        "",
    );
    assert_eq!(access["access"], "view");
    let client = run(
        &[
            "client",
            "create",
            "--name",
            "Cron job",
            "--type",
            "confidential",
            "--grant",
            "client_credentials",
            "--scope",
            "matomo:read",
            "--json",
        ],
        "",
    );
    let cid = client["client_id"].as_str().unwrap().to_string();
    assert_eq!(
        run(&["client", "pause", &cid, "--json"], "")["status"],
        "paused"
    );
    assert_eq!(
        run(&["client", "resume", &cid, "--json"], "")["status"],
        "active"
    );
    let keys = run(&["keys", "rotate", "--json"], "");
    assert!(keys["signs_from"].as_str().unwrap().ends_with('Z'));
    let settings = run(
        &["settings", "set", "--device-flow-enabled", "true", "--json"],
        "",
    );
    assert_eq!(
        (
            settings["changed"].as_bool(),
            settings["device_flow_enabled"].as_bool()
        ),
        (Some(true), Some(true))
    );
    assert_eq!(
        run(&["user", "deactivate", "--login", "scripted", "--json"], "")["active"],
        false
    );
    assert_eq!(
        run(&["user", "activate", "--login", "scripted", "--json"], "")["active"],
        true
    );
    assert_eq!(
        run(&["user", "reset-2fa", "--login", "scripted", "--json"], "")["second_factor_removed"],
        false
    );
    assert_eq!(
        run(
            &[
                "access", "remove", "--login", "scripted", "--site", &id, "--json"
            ],
            ""
        )["access"],
        serde_json::Value::Null
    );
    assert_eq!(
        run(&["client", "delete", &cid, "--json"], "")["deleted"],
        true
    );
    assert!(run(&["purge", "--json"], "")["total"].is_number());
    assert!(run(&["migrate", "--json"], "")["migrations_applied"].is_number());
    assert_eq!(
        run(&["user", "delete", "--login", "scripted", "--json"], "")["deleted"],
        true
    );
}

/// Output that cannot be written (a full disk) is one line and exit 1, not a backtrace.
#[tokio::test]
async fn output_that_cannot_be_written_is_one_line() {
    let app = spawn_app().await;
    let out = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(["site", "list", "--json"])
        .env("DATABASE_URL", app.db_url.full())
        .env("CONSENTRY_DATA_DIR", &app.data_dir)
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_one_line_exit(&out, 1, "stdout");
}
