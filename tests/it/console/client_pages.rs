//! What users see of a client: its privacy policy and terms, and an icon uploaded through
//! the console (PNG or JPEG, at most 64 KB) and served by Consentry itself.

use base64::Engine;

use super::{create_client, last_event, new_client_form, superuser_app};
use crate::common::{PASSWORD, TestApp, text_of};

const LIST: &str = "/admin/oauth2/clients";
/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

fn png() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(PNG)
        .unwrap()
}

/// Posts a multipart form as a browser would: the token and password first, then the file.
async fn upload(
    app: &TestApp,
    path: &str,
    password: &str,
    file: &[u8],
    name: &str,
) -> reqwest::Response {
    let csrf = app.csrf_token(path).await;
    let boundary = "consentry-test-boundary";
    let mut body = Vec::new();
    for (field, value) in [("csrf_token", csrf.as_str()), ("password", password)] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"icon\"; filename=\"{name}\"\r\nContent-Type: image/png\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    app.client
        .post(app.url(path))
        .header("Origin", &app.address)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_icon_is_uploaded_checked_served_same_origin_and_shown_on_the_consent_screen() {
    let app = superuser_app().await;
    let form = new_client_form(&app, "Pictured app")
        .await
        .set("privacy_url", "https://example-app.com/privacy")
        .set("terms_url", "https://example-app.com/terms");
    let (id, secret) = create_client(&app, form).await;
    let page = format!("{LIST}/{id}/icon");
    assert!(app.page(&format!("{LIST}/{id}")).await.contains(&page));
    let icon = format!("/oauth2/clients/{id}/icon");
    assert_eq!(app.get(&icon).await.status(), 404);

    // Refused with a field message, nothing stored: too large, not PNG or JPEG, wrong password.
    let mut big = png();
    big.resize(64 * 1024 + 1, 0);
    let res = upload(&app, &page, PASSWORD, &big, "big.png").await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("at most 64 KB"));
    let res = upload(
        &app,
        &page,
        PASSWORD,
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        "icon.gif",
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("must be a PNG or JPEG"));
    let res = upload(
        &app,
        &page,
        PASSWORD,
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        "x.png",
    )
    .await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        upload(&app, &page, "wrong password", &png(), "icon.png")
            .await
            .status(),
        422
    );
    assert_eq!(app.get(&icon).await.status(), 404);
    // Without the CSRF token: refused.
    let res = app
        .client
        .post(app.url(&page))
        .header("Origin", &app.address)
        .header("Content-Type", "multipart/form-data; boundary=b")
        .body("--b\r\nContent-Disposition: form-data; name=\"icon\"; filename=\"a.png\"\r\n\r\nx\r\n--b--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    let res = upload(&app, &page, PASSWORD, &png(), "icon.png").await;
    assert_eq!(res.status(), 303);
    let served = app.get(&icon).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert_eq!(served.bytes().await.unwrap().to_vec(), png());
    let (actor, details, _) = last_event(&app, "client.icon_changed");
    assert_eq!(
        (actor.as_str(), details["content_type"].as_str()),
        ("root1", Some("image/png"))
    );

    // The consent screen shows it from this server, with the policy and terms links; the
    // page's policy keeps images to this origin.
    let user = app.new_browser();
    user.sign_in_as("reader", consentry::domain::Role::User)
        .await;
    let client = crate::protocol::Client {
        id: id.clone(),
        secret,
    };
    let res = user
        .get(&crate::protocol::authorize_path(
            &crate::protocol::code_request(&client, false),
        ))
        .await;
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("img-src 'self';"),
        "no other image source: {csp}"
    );
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!("src=\"/oauth2/clients/{id}/icon?v=")),
        "{html}"
    );
    assert!(
        html.contains("https://example-app.com/privacy")
            && html.contains("https://example-app.com/terms")
    );

    // Removed with the password.
    let csrf = app.csrf_token(&page).await;
    let res = app
        .post_form(&format!("{page}/remove"), &csrf, &[("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.get(&icon).await.status(), 404);
    assert!(text_of(&app.page(&format!("{LIST}/{id}")).await, "h1").is_some());
}

#[tokio::test]
async fn self_registered_urls_are_kept_and_the_logo_is_never_fetched() {
    let app = crate::common::spawn_app().await;
    crate::protocol::sql(
        &app,
        "UPDATE oauth_settings SET registration_enabled = TRUE, registration_policy = 'open'",
    );
    // A listener that would see the server fetch the logo.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let logo = format!(
        "https://127.0.0.1:{}/logo.png",
        listener.local_addr().unwrap().port()
    );
    let res = reqwest::Client::new()
        .post(app.url("/oauth2/register"))
        .json(&serde_json::json!({
            "client_name": "Registered app",
            "redirect_uris": ["http://127.0.0.1:9/cb"],
            "token_endpoint_auth_method": "none",
            "logo_uri": logo,
            "policy_uri": "https://registered.example/privacy",
            "tos_uri": "https://registered.example/tos",
        }))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["policy_uri"], "https://registered.example/privacy");
    assert_eq!(body["tos_uri"], "https://registered.example/tos");
    assert_eq!(body["logo_uri"], logo.as_str());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(listener.accept().is_err(), "the server fetched the logo");
}
