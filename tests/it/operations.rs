//! What an operator sees of a running binary: JSON logs with a request id on every
//! request's lines and no secret in any of them, the Prometheus listener, and start-up and
//! shutdown at info.

use std::process::{Child, Command, Stdio};

use crate::cli::{consentry, serve_command, stderr, wait_for};
use consentry::domain::Role;

use crate::common::{PASSWORD, csrf_in, free_port, spawn_app};

fn stop(server: Child) -> String {
    // SAFETY: sends SIGTERM to the child this test started.
    unsafe {
        libc::kill(server.id() as i32, libc::SIGTERM);
    }
    let out = server.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn json_logs_name_each_request_hold_no_secret_and_metrics_count_what_happened() {
    let app = spawn_app().await;
    app.create_user("operator", Role::Superuser).await;
    let created = consentry(
        &app,
        &[
            "client",
            "create",
            "--name",
            "Metrics probe",
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
    assert!(created.status.success(), "{}", stderr(&created));
    let client: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let (id, secret) = (
        client["client_id"].as_str().unwrap().to_string(),
        client["client_secret"].as_str().unwrap().to_string(),
    );

    let (port, metrics_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let server = serve_command(&app, env!("CARGO_BIN_EXE_consentry").as_ref(), port)
        .env(
            "CONSENTRY_METRICS_BIND",
            format!("127.0.0.1:{metrics_port}"),
        )
        .env("CONSENTRY_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&format!("{base}/readyz")).await;

    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = |secret: String| {
        let (http, base, id) = (http.clone(), base.clone(), id.clone());
        async move {
            http.post(format!("{base}/oauth2/token"))
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
        }
    };
    let issued = token(secret.clone()).await;
    assert_eq!(issued.status(), 200);
    let request_id = issued.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = issued.json().await.unwrap();
    let access_token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(token("not the secret".into()).await.status(), 401);
    let introspected = http
        .post(format!("{base}/oauth2/introspect"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(introspected.status(), 200);
    let sign_in = |password: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let page = http.get(format!("{base}/login")).send().await.unwrap();
            let csrf = csrf_in(&page.text().await.unwrap());
            http.post(format!("{base}/login"))
                .header("Origin", &base)
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("login", "operator"),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let wrong_password = "a wrong password for the log test";
    assert_eq!(sign_in(wrong_password).await, 401);
    assert_eq!(sign_in(PASSWORD).await, 303);

    let scraped = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(
        scraped.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let metrics = scraped.text().await.unwrap();
    let value = |prefix: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        value("consentry_tokens_issued_total{grant=\"client_credentials\",alg=\""),
        1.0
    );
    assert_eq!(value("consentry_client_auth_failures_total"), 1.0);
    assert_eq!(
        value("consentry_introspections_total{active=\"true\"}"),
        1.0
    );
    assert_eq!(value("consentry_sign_in_failures_total"), 1.0);
    assert_eq!(
        value(
            "consentry_http_requests_total{method=\"POST\",route=\"/oauth2/token\",status=\"200\"}"
        ),
        1.0
    );
    assert!(value("consentry_http_request_duration_seconds_count{route=\"/oauth2/token\"}") >= 2.0);
    assert!(value("consentry_db_pool_connections_max") >= 1.0);
    assert!(
        metrics.contains("consentry_db_pool_wait_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains("consentry_cache_lookups_total{cache=\"clients\""),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "consentry_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
    // Only /metrics there, and no metrics on the public port.
    assert_eq!(
        reqwest::get(format!("http://127.0.0.1:{metrics_port}/"))
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .status(),
        404
    );

    let log = stop(server);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let said = |message: &str| {
        lines
            .iter()
            .any(|l| l["message"].as_str().is_some_and(|m| m.contains(message)))
    };
    assert!(said("Consentry is serving"), "{log}");
    assert!(said("serving Prometheus metrics"), "{log}");
    assert!(said("Consentry stopped"), "{log}");
    // The token request's access-log line carries the id its response header gave.
    let line = lines
        .iter()
        .find(|l| l["span"]["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no line with request id {request_id}:\n{log}"));
    assert_eq!(line["path"], "/oauth2/token");
    assert_eq!(line["status"], 200);
    for secret in [
        secret.as_str(),
        access_token.as_str(),
        PASSWORD,
        wrong_password,
    ] {
        assert!(!log.contains(secret), "a secret was logged:\n{log}");
    }
}

#[tokio::test]
async fn text_logs_have_no_colour_off_a_terminal_and_a_bad_format_is_refused() {
    let app = spawn_app().await;
    let bad = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(["user", "list"])
        .env("DATABASE_URL", app.db_url.full())
        .env("CONSENTRY_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    crate::cli::assert_one_line_exit_2(&bad, "CONSENTRY_LOG_FORMAT");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = serve_command(&app, env!("CARGO_BIN_EXE_consentry").as_ref(), port)
        .env(
            "CONSENTRY_ADMIN_PASSWORD",
            "an admin password for this test",
        )
        .env_remove("RUST_LOG")
        .env_remove("CONSENTRY_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&format!("{base}/readyz")).await;
    let log = stop(server);
    assert!(log.contains("Consentry is serving"), "{log}");
    assert!(log.contains("Consentry stopped"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "escape codes in a redirected log:\n{log}"
    );
}
