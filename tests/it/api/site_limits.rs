//! Grants limited to chosen websites: chosen on the consent screen, kept by the grant
//! (and its refreshes, and the next consent), enforced by the API with 403
//! `insufficient_scope` naming the website, editable under Authorized applications; client
//! credentials limited on the client's form.

use consentry::domain::{AccessLevel, Role};

use super::{World, api, world};
use crate::common::{TestApp, until};
use crate::console::count;
use crate::protocol::{self, consent_form, location, param, redeem, token};

/// Approves the world's client for `browser`'s user with matomo:read, ticking `sites`
/// (`None`: all websites); returns the token response.
async fn approve(w: &World, browser: &TestApp, sites: Option<&[i64]>) -> serde_json::Value {
    let mut pairs = protocol::code_request(&w.client, false);
    pairs.push(("prompt", "consent"));
    let res = browser.get(&protocol::authorize_path(&pairs)).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let (handle, csrf) = consent_form(&html);
    let ids: Vec<String> = sites
        .unwrap_or_default()
        .iter()
        .map(i64::to_string)
        .collect();
    let mut form = vec![
        ("request", handle.as_str()),
        ("scope", "matomo:read"),
        ("decision", "allow"),
        ("sites", if sites.is_some() { "chosen" } else { "all" }),
    ];
    form.extend(ids.iter().map(|id| ("site", id.as_str())));
    let res = browser.post_form("/oauth2/consent", &csrf, &form).await;
    assert_eq!(res.status(), 303);
    let code = param(&location(&res), "code").expect("a code");
    let (status, body) = redeem(browser, &w.client, &code).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn site_status(w: &World, bearer: &str, site: i64) -> (u16, String) {
    let a = api(
        &w.app,
        Some(bearer),
        "SitesManager.getSiteFromId",
        &format!("idSite={site}"),
    )
    .await;
    (
        a.status,
        a.body["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn a_grant_limited_on_the_consent_screen_acts_only_there_and_the_user_can_change_it() {
    let w = world().await;
    let alice = w.user("alice", Role::User, Some(AccessLevel::View)).await;
    w.set_access("alice", w.site2, Some(AccessLevel::View))
        .await;

    // The consent screen offers the websites Alice can access.
    let mut pairs = protocol::code_request(&w.client, false);
    pairs.push(("prompt", "consent"));
    let html = alice.page(&protocol::authorize_path(&pairs)).await;
    assert!(html.contains("Only the websites ticked below"));
    assert!(
        html.contains(&format!("value=\"{}\"", w.site1))
            && html.contains(&format!("value=\"{}\"", w.site2))
    );

    // A website she cannot access is refused: the screen again, as she filled it in, with
    // the message by the websites; the request stays answerable.
    let (handle, csrf) = consent_form(&html);
    let site1 = w.site1.to_string();
    let res = alice
        .post_form(
            "/oauth2/consent",
            &csrf,
            &[
                ("request", &handle),
                ("scope", "matomo:read"),
                ("decision", "allow"),
                ("sites", "chosen"),
                ("site", &site1),
                ("site", "999"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let again = res.text().await.unwrap();
    assert!(
        again.contains("You cannot limit access to website 999"),
        "{again}"
    );
    assert!(
        again.contains(&format!("value=\"{site1}\" checked")),
        "{again}"
    );
    assert!(again.contains("value=\"chosen\" checked"), "{again}");
    assert_eq!(consent_form(&again).0, handle, "the same request");
    let res = alice
        .post_form(
            "/oauth2/consent",
            &csrf,
            &[
                ("request", &handle),
                ("scope", "matomo:read"),
                ("decision", "allow"),
                ("sites", "chosen"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422, "none ticked");
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Tick at least one website")
    );
    let res = alice
        .post_form(
            "/oauth2/consent",
            &csrf,
            &[
                ("request", &handle),
                ("scope", "matomo:read"),
                ("decision", "allow"),
                ("sites", "chosen"),
                ("site", &w.site1.to_string()),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let code = param(&location(&res), "code").unwrap();
    let (_, tokens) = redeem(&alice, &w.client, &code).await;
    let bearer = tokens["access_token"].as_str().unwrap().to_string();

    // The API acts on website 1 only; website 2 is refused, naming it.
    assert_eq!(site_status(&w, &bearer, w.site1).await.0, 200);
    let (status, message) = site_status(&w, &bearer, w.site2).await;
    assert_eq!(status, 403);
    assert!(
        message.contains(&format!("website {} (Blog) is not among them", w.site2)),
        "{message}"
    );
    let refused = api(
        &w.app,
        Some(&bearer),
        "SitesManager.getSiteFromId",
        &format!("idSite={}", w.site2),
    )
    .await;
    assert!(refused.challenge.unwrap().contains("insufficient_scope"));
    let listed = api(
        &w.app,
        Some(&bearer),
        "SitesManager.getSitesWithAtLeastViewAccess",
        "",
    )
    .await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["idsite"], w.site1);

    // Refreshed tokens keep the limit.
    let (status, refreshed) = token(
        &w.app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &w.client.id),
            ("client_secret", w.client.secret()),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let refreshed = refreshed["access_token"].as_str().unwrap().to_string();
    assert_eq!(site_status(&w, &refreshed, w.site2).await.0, 403);

    // Remembered: the next authorization skips the screen and keeps the limit.
    let res = alice
        .get(&protocol::authorize_path(&protocol::code_request(
            &w.client, false,
        )))
        .await;
    assert_eq!(res.status(), 303);
    let code = param(&location(&res), "code").unwrap();
    let (_, again) = redeem(&alice, &w.client, &code).await;
    let again = again["access_token"].as_str().unwrap().to_string();
    assert_eq!(site_status(&w, &again, w.site2).await.0, 403);

    // Authorized applications shows it and changes it, for the tokens already issued too.
    let apps = alice.page("/account/authorized-apps").await;
    assert!(apps.contains(">Shop<") || apps.contains("Shop "), "{apps}");
    let page = format!("/account/authorized-apps/{}/sites", w.client.id);
    let csrf = alice.csrf_token(&page).await;
    let res = alice.post_form(&page, &csrf, &[("sites", "all")]).await;
    assert_eq!(res.status(), 303);
    until("the wider limit", || async {
        site_status(&w, &bearer, w.site2).await.0 == 200
    })
    .await;
    let res = alice
        .post_form(
            &page,
            &csrf,
            &[("sites", "chosen"), ("site", &w.site2.to_string())],
        )
        .await;
    assert_eq!(res.status(), 303);
    until("the narrower limit", || async {
        site_status(&w, &bearer, w.site1).await.0 == 403
    })
    .await;
    assert_eq!(site_status(&w, &refreshed, w.site2).await.0, 200);
    // Bad input: a field message, nothing changed.
    let res = alice.post_form(&page, &csrf, &[("sites", "chosen")]).await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Tick at least one website")
    );
    // The same rule as the consent screen: what is not a website ID is refused too.
    let res = alice
        .post_form(&page, &csrf, &[("sites", "chosen"), ("site", "abc")])
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("positive whole number"));
    assert_eq!(site_status(&w, &bearer, w.site2).await.0, 200);
    let (actor, details, _) = crate::console::last_event(&w.app, "consent.sites_changed");
    assert_eq!(
        (actor.as_str(), details["sites"].as_str()),
        ("alice", Some(w.site2.to_string().as_str()))
    );

    // The client's page counts the limited grants.
    let root = w.user("root1", Role::Superuser, None).await;
    let detail = root
        .page(&format!("/admin/oauth2/clients/{}", w.client.id))
        .await;
    let limited = crate::common::text_of(&detail, "#limited-grants").unwrap();
    assert_ne!(limited, "0");
    // A limited superuser token cannot call superuser methods.
    let root_token = approve(&w, &root, Some(&[w.site1])).await;
    let root_bearer = root_token["access_token"].as_str().unwrap();
    let a = api(&w.app, Some(root_bearer), "UsersManager.getUsers", "").await;
    assert_eq!(a.status, 403);
}

#[tokio::test]
async fn client_credentials_tokens_are_limited_by_the_clients_form() {
    let w = world().await;
    let root = w.user("root1", Role::Superuser, None).await;
    let cc = |scope: &'static str| {
        let w = &w;
        async move {
            let (status, body) = token(
                &w.app,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &w.client.id),
                    ("client_secret", w.client.secret()),
                    ("scope", scope),
                ],
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body["access_token"].as_str().unwrap().to_string()
        }
    };
    let before = cc("matomo:read").await;
    assert_eq!(site_status(&w, &before, w.site2).await.0, 200);

    // The form lists every website to tick; a website that does not exist (a tampered
    // box), one that is not a number, or "only the ticked ones" with none ticked is a field
    // message, and nothing changes.
    let edit = format!("/admin/oauth2/clients/{}/edit", w.client.id);
    let page = root.page(&edit).await;
    assert!(page.contains("value=\"all\" checked"), "all by default");
    for id in [w.site1, w.site2] {
        assert!(
            page.contains(&format!("name=\"site\" value=\"{id}\">")),
            "{page}"
        );
    }
    for (ticked, message) in [
        (vec!["999"], "No website has ID 999"),
        (vec!["nope"], "A site ID is a positive whole number"),
        (vec![], "Tick at least one website"),
    ] {
        let form = root
            .form(&edit, &edit)
            .await
            .set("sites", "chosen")
            .set_all("site", &ticked)
            .set("password", crate::common::PASSWORD);
        let res = root.submit(&form).await;
        assert_eq!(res.status(), 422, "{ticked:?}");
        let again = res.text().await.unwrap();
        assert!(again.contains(message), "{ticked:?}: {again}");
        assert!(
            again.contains("value=\"chosen\" checked"),
            "the choice is kept"
        );
    }
    let site1 = w.site1.to_string();
    let form = root
        .form(&edit, &edit)
        .await
        .set("sites", "chosen")
        .set_all("site", &[&site1])
        .set("password", crate::common::PASSWORD);
    assert_eq!(root.submit(&form).await.status(), 303);
    let page = root.page(&edit).await;
    assert!(page.contains("value=\"chosen\" checked"), "{page}");
    assert!(
        page.contains(&format!("name=\"site\" value=\"{site1}\" checked>")),
        "{page}"
    );
    // New tokens and the ones already issued act on website 1 only.
    let after = cc("matomo:read").await;
    assert_eq!(site_status(&w, &after, w.site1).await.0, 200);
    assert_eq!(site_status(&w, &after, w.site2).await.0, 403);
    until("the limit on earlier tokens", || async {
        site_status(&w, &before, w.site2).await.0 == 403
    })
    .await;
    assert_eq!(
        count(
            &w.app,
            "SELECT id FROM oauth_grants WHERE grant_type = 'client_credentials' AND site_ids IS NULL AND revoked_at IS NULL"
        ),
        0
    );
    // From the command line, back to all.
    let out = crate::cli::consentry(
        &w.app,
        &["client", "edit", &w.client.id, "--sites", "all", "--json"],
        "",
    );
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["client_credentials_sites"], "all");
    crate::cli::assert_one_line_exit_2(
        &crate::cli::consentry(
            &w.app,
            &["client", "edit", &w.client.id, "--sites", "0"],
            "",
        ),
        "--sites",
    );
    // A website that does not exist (known only to the database) names the flag too.
    crate::cli::assert_one_line_exit_2(
        &crate::cli::consentry(
            &w.app,
            &["client", "edit", &w.client.id, "--sites", "999"],
            "",
        ),
        "--sites: No website has ID 999",
    );
    until("all websites again", || async {
        site_status(&w, &before, w.site2).await.0 == 200
    })
    .await;
}
