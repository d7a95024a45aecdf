//! The three grants end to end with a real third-party client: the `oauth2` crate.

use consentry::domain::Role;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse, TokenUrl,
};

use super::*;
use crate::common::spawn_app;

fn http() -> oauth2::reqwest::Client {
    oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_oauth2_crate_runs_code_with_pkce_refresh_and_client_credentials() {
    let app = spawn_app().await;
    let registered = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let client = BasicClient::new(ClientId::new(registered.id.clone()))
        .set_client_secret(ClientSecret::new(registered.secret().to_string()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth2/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth2/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());

    // Authorization code with PKCE; the user approves in the "browser".
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("matomo:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let local = &auth_url.as_str()[app.address.len()..];
    let to = consent(&app, local, "allow", "matomo:read").await;
    assert_eq!(param(&to, "state").as_deref(), Some(csrf.secret().as_str()));
    let code = param(&to, "code").unwrap();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .expect("code exchange");
    assert_eq!(tokens.expires_in().unwrap().as_secs(), 3600);
    assert_eq!(tokens.scopes().unwrap()[0].as_str(), "matomo:read");
    let refresh = tokens.refresh_token().expect("a refresh token").clone();

    // Refresh, with rotation.
    let refreshed = client
        .exchange_refresh_token(&refresh)
        .request_async(&http())
        .await
        .expect("refresh");
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        refresh.secret()
    );
    assert!(
        client
            .exchange_refresh_token(&refresh)
            .request_async(&http())
            .await
            .is_err(),
        "rotated"
    );

    // Client credentials, with Basic and then with the secret in the body.
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let cc = client
            .clone()
            .set_auth_type(auth)
            .exchange_client_credentials()
            .add_scope(Scope::new("matomo:read".into()))
            .request_async(&http())
            .await
            .expect("client credentials");
        assert!(cc.refresh_token().is_none());
        assert!(active(
            &introspect(&app, &registered, cc.access_token().secret()).await
        ));
    }
}

#[tokio::test]
async fn the_oauth2_crate_runs_a_public_client_with_pkce() {
    let app = spawn_app().await;
    let registered = register(&app, Spec::public()).await;
    app.sign_in_as("alice", Role::User).await;
    let client = BasicClient::new(ClientId::new(registered.id.clone()))
        .set_auth_uri(AuthUrl::new(app.url("/index.php?module=OAuth2&action=authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/index.php?module=OAuth2&action=token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _) = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let to = consent(
        &app,
        &auth_url.as_str()[app.address.len()..],
        "allow",
        "matomo:read",
    )
    .await;
    let tokens = client
        .exchange_code(AuthorizationCode::new(param(&to, "code").unwrap()))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .expect("public code exchange");
    assert!(tokens.refresh_token().is_some());
}

/// OpenID Connect with the `openidconnect` crate: discovery, the code flow with PKCE and a
/// nonce, the ID token verified against the JWKS (signature, issuer, audience, nonce,
/// `at_hash`), and userinfo.
#[tokio::test]
async fn the_openidconnect_crate_signs_a_user_in() {
    use openidconnect::core::{
        CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
    };
    use openidconnect::{AccessTokenHash, IssuerUrl, Nonce, OAuth2TokenResponse};

    let app = spawn_app().await;
    let registered = register(&app, Spec::confidential()).await;
    app.sign_in_as("olivia", Role::User).await;
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.address.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        openidconnect::ClientId::new(registered.id.clone()),
        Some(openidconnect::ClientSecret::new(registered.secret().into())),
    )
    .set_redirect_uri(openidconnect::RedirectUrl::new(CALLBACK.into()).unwrap());
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            openidconnect::CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(openidconnect::Scope::new("email".into()))
        .add_scope(openidconnect::Scope::new("profile".into()))
        .add_scope(openidconnect::Scope::new("matomo:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let local = &auth_url.as_str()[app.address.len()..];
    let to = consent(&app, local, "allow", "matomo:read").await;
    assert_eq!(param(&to, "state").as_deref(), Some(csrf.secret().as_str()));
    let tokens = client
        .exchange_code(openidconnect::AuthorizationCode::new(
            param(&to, "code").unwrap(),
        ))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = openidconnect::TokenResponse::id_token(&tokens).expect("an ID token");
    let id_verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("the ID token verifies");
    assert_eq!(claims.preferred_username().unwrap().as_str(), "olivia");
    assert_eq!(claims.email().unwrap().as_str(), "olivia@example.com");
    let expected = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual, expected);
    assert!(
        id_token
            .claims(&id_verifier, &Nonce::new("another".into()))
            .is_err(),
        "a wrong nonce is refused"
    );
    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.email().unwrap().as_str(), "olivia@example.com");
}
