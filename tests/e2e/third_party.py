"""Third-party clients against a running Consentry: Authlib's OAuth 2.0 client drives every
flow and joserfc verifies the access token against the published JWKS; Authlib's OpenID
Connect relying party validates ID tokens and signs the user out. Any deviation from RFC
6749, 7636, 7009, 7662, 8414, 8628 or 9068, OpenID Connect Core 1.0, Discovery 1.0 or
RP-initiated logout 1.0 fails the run. requests-oauth2client plays a device without a
browser (RFC 8628): it asks for a code, polls as its polling job does, and obeys slow_down. Prepared by tests/e2e/run."""

import html.parser
import os
import sys
import time
import urllib.parse

import requests
from authlib.integrations.base_client.sync_openid import OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet
from requests_oauth2client import DeviceAuthorizationPollingJob, OAuth2Client
from requests_oauth2client.exceptions import AccessDenied, AuthorizationPending, InvalidGrant, SlowDown

BASE = os.environ["BASE_URL"]
LOGIN, PASSWORD = os.environ["E2E_USER"], os.environ["E2E_PASSWORD"]
CLIENT_ID, CLIENT_SECRET = os.environ["E2E_CLIENT_ID"], os.environ["E2E_CLIENT_SECRET"]
REDIRECT = os.environ["E2E_REDIRECT_URI"]
SIGNED_OUT = os.environ["E2E_POST_LOGOUT_URI"]
DEVICE_CLIENT_ID = os.environ["E2E_DEVICE_CLIENT_ID"]

checks = []


def check(condition, message):
    if not condition:
        raise AssertionError(message)


class Inputs(html.parser.HTMLParser):
    """The name/value pairs of a page's inputs."""

    def __init__(self):
        super().__init__()
        self.values = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and "name" in a:
            self.values.setdefault(a["name"], a.get("value", ""))


def inputs(page):
    parser = Inputs()
    parser.feed(page)
    return parser.values


def step(name):
    def wrap(fn):
        checks.append((name, fn))
        return fn

    return wrap


state = {}


@step("metadata discovery (RFC 8414)")
def discovery():
    res = requests.get(f"{BASE}/.well-known/oauth-authorization-server", timeout=10)
    check(res.status_code == 200, res.text)
    meta = res.json()
    check(meta["issuer"] == BASE, meta)
    for field in ["authorization_endpoint", "token_endpoint", "revocation_endpoint", "introspection_endpoint", "jwks_uri"]:
        check(meta[field].startswith(BASE), field)
    check("S256" in meta["code_challenge_methods_supported"], "S256")
    check("plain" not in meta["code_challenge_methods_supported"], "no plain PKCE")
    check({"authorization_code", "refresh_token", "client_credentials"} <= set(meta["grant_types_supported"]), meta)
    check(meta["response_types_supported"] == ["code"], meta)
    state["meta"] = meta


@step("authorization code with PKCE, consent through HTML form posts")
def authorization_code():
    authorize(replay=True)


def authorize(replay, scope="matomo:read", **extra):
    """Runs the whole code flow; with `replay`, also checks that the code is single use
    (which revokes the tokens it issued)."""
    meta = state["meta"]
    oauth = OAuth2Session(CLIENT_ID, CLIENT_SECRET, scope=scope, redirect_uri=REDIRECT,
                          code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")
    verifier = os.urandom(32).hex()
    url, sent_state = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, **extra)
    check(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["code_challenge"] == create_s256_code_challenge(verifier), "challenge")
    browser = requests.Session()
    page = browser.get(f"{BASE}/login", timeout=10).text
    res = browser.post(f"{BASE}/login", data={"csrf_token": inputs(page)["csrf_token"], "login": LOGIN, "password": PASSWORD, "next": "/"},
                       headers={"Origin": BASE}, allow_redirects=False, timeout=10)
    check(res.status_code == 303, f"sign-in: {res.status_code}")
    state["browser"] = browser
    res = browser.get(url, allow_redirects=False, timeout=10)
    if res.status_code == 200:  # the consent screen
        form = inputs(res.text)
        res = browser.post(f"{BASE}/oauth2/consent", data={"csrf_token": form["csrf_token"], "request": form["request"], "scope": "matomo:read", "decision": "allow"},
                           headers={"Origin": BASE}, allow_redirects=False, timeout=10)
    check(res.status_code == 303, f"consent: {res.status_code}")
    location = res.headers["Location"]
    check(location.startswith(REDIRECT), location)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    check(query["state"] == sent_state, "state is returned unchanged")
    check(query["iss"] == BASE, "RFC 9207 iss")
    token = oauth.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    check(token["token_type"] == "Bearer" and token["scope"] == scope, token)
    check(isinstance(token["expires_in"], int) and token["expires_in"] > 0, token)
    check("refresh_token" in token, "a refresh token")
    state["token"] = token
    state["oauth"] = oauth
    if not replay:
        return
    # The code is single use (RFC 6749 §4.1.2): a replay fails.
    replay = requests.post(meta["token_endpoint"], auth=(CLIENT_ID, CLIENT_SECRET), timeout=10,
                           data={"grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT, "code_verifier": verifier})
    check(replay.status_code == 400 and replay.json()["error"] == "invalid_grant", replay.text)
    check(replay.headers.get("Cache-Control") == "no-store", "no-store on token responses")


@step("access token is an RS256 at+jwt verified with the JWKS (RFC 9068)")
def jwks_verification():
    meta = state["meta"]
    # The replayed code revoked the family; get a fresh token by client credentials to verify.
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    for token in [state["token"]["access_token"], client_credentials_token("client_secret_post")["access_token"]]:
        decoded = jwt.decode(token, keys, algorithms=["RS256"])
        check(decoded.header["typ"] == "at+jwt" and decoded.header["alg"] == "RS256" and "kid" in decoded.header, decoded.header)
        claims = decoded.claims
        check(claims["iss"] == BASE and claims["aud"] == BASE and claims["client_id"] == CLIENT_ID, claims)
        now = time.time()
        check(claims["iat"] <= now + 5 and claims["exp"] > now, claims)
        check(claims["scope"] == "matomo:read" and claims["jti"] and claims["sub"], claims)
    tampered = state["token"]["access_token"][:-4] + ("AAAA" if not state["token"]["access_token"].endswith("AAAA") else "BBBB")
    try:
        jwt.decode(tampered, keys, algorithms=["RS256"])
        check(False, "a tampered token must not verify")
    except Exception:
        pass


def client_credentials_token(method):
    oauth = OAuth2Session(CLIENT_ID, CLIENT_SECRET, scope="matomo:read", token_endpoint_auth_method=method)
    token = oauth.fetch_token(state["meta"]["token_endpoint"], grant_type="client_credentials")
    check(token["token_type"] == "Bearer" and "refresh_token" not in token, token)
    return token


@step("client credentials with client_secret_basic and client_secret_post")
def client_credentials():
    for method in ["client_secret_basic", "client_secret_post"]:
        token = client_credentials_token(method)
        check(token["scope"] == "matomo:read", token)
    bad = requests.post(state["meta"]["token_endpoint"], auth=(CLIENT_ID, "wrong"), data={"grant_type": "client_credentials"}, timeout=10)
    check(bad.status_code == 401 and bad.json()["error"] == "invalid_client", bad.text)
    check(bad.headers.get("WWW-Authenticate", "").startswith("Basic"), "Basic challenge")


@step("refresh with rotation; a reused refresh token fails")
def refresh_rotation():
    meta = state["meta"]
    # A fresh authorization (the first family was revoked by the code replay above).
    authorize(replay=False)
    oauth, old = state["oauth"], state["token"]
    new = oauth.refresh_token(meta["token_endpoint"], refresh_token=old["refresh_token"])
    check(new["refresh_token"] != old["refresh_token"], "the refresh token rotates")
    check(new["access_token"] != old["access_token"], "a new access token")
    reuse = requests.post(meta["token_endpoint"], auth=(CLIENT_ID, CLIENT_SECRET), timeout=10,
                          data={"grant_type": "refresh_token", "refresh_token": old["refresh_token"]})
    check(reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant", reuse.text)
    state["rotated"] = new


@step("introspection (RFC 7662) and revocation (RFC 7009)")
def introspect_and_revoke():
    meta = state["meta"]
    token = client_credentials_token("client_secret_basic")["access_token"]
    oauth = OAuth2Session(CLIENT_ID, CLIENT_SECRET)
    live = oauth.introspect_token(meta["introspection_endpoint"], token=token).json()
    check(live["active"] is True and live["client_id"] == CLIENT_ID and live["scope"] == "matomo:read" and live["token_type"] == "Bearer", live)
    revoked = oauth.revoke_token(meta["revocation_endpoint"], token=token)
    check(revoked.status_code == 200, revoked.text)
    dead = oauth.introspect_token(meta["introspection_endpoint"], token=token).json()
    check(dead == {"active": False}, dead)
    # Revoking an unknown token is still 200 (RFC 7009 §2.2).
    check(oauth.revoke_token(meta["revocation_endpoint"], token="not-a-token").status_code == 200, "unknown token")
    api = requests.get(f"{BASE}/index.php?module=API&method=API.getConsentryVersion&format=json", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    check(api.status_code == 401 and "invalid_token" in api.headers.get("WWW-Authenticate", ""), api.text)


def signed_in_browser():
    browser = requests.Session()
    page = browser.get(f"{BASE}/login", timeout=10).text
    res = browser.post(f"{BASE}/login", data={"csrf_token": inputs(page)["csrf_token"], "login": LOGIN, "password": PASSWORD, "next": "/"},
                       headers={"Origin": BASE}, allow_redirects=False, timeout=10)
    check(res.status_code == 303, f"sign-in: {res.status_code}")
    return browser


def answer_on_device_page(browser, user_code, decision):
    """What the user does on their phone: opens /device, types the code, answers the
    consent screen."""
    page = browser.get(f"{BASE}/device", timeout=10)
    check(page.status_code == 200, f"/device: {page.status_code}")
    res = browser.post(f"{BASE}/device", data={"csrf_token": inputs(page.text)["csrf_token"], "user_code": user_code.lower().replace("-", " ")},
                       headers={"Origin": BASE}, allow_redirects=False, timeout=10)
    check(res.status_code == 200 and "/oauth2/consent" in res.text, f"the code leads to the consent screen: {res.status_code}")
    form = inputs(res.text)
    res = browser.post(f"{BASE}/oauth2/consent", data={"csrf_token": form["csrf_token"], "request": form["request"], "scope": "matomo:read", "decision": decision},
                       headers={"Origin": BASE}, allow_redirects=False, timeout=10)
    check(res.status_code == 303, f"{decision}: {res.status_code}")


def poll_until_answered(job, seconds=60):
    """The library's polling loop: each call waits the interval, then polls once."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        token = job()
        if token is not None:
            return token
    raise AssertionError("no answer within the time allowed")


@step("device authorization grant (RFC 8628) with requests-oauth2client: pending, slow_down, tokens once, denial")
def device_flow():
    # Switched on by the CLI just before this script: the server picks the setting up.
    deadline = time.monotonic() + 30
    while True:
        meta = requests.get(f"{BASE}/.well-known/oauth-authorization-server", timeout=10).json()
        if "device_authorization_endpoint" in meta or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    check(meta.get("device_authorization_endpoint") == f"{BASE}/oauth2/device_authorization", meta)
    check("urn:ietf:params:oauth:grant-type:device_code" in meta["grant_types_supported"], meta)
    # Plain http on 127.0.0.1 here: the library checks for https unless testing. It reads
    # no device endpoint from a discovery document, so it is passed on.
    device = OAuth2Client.from_discovery_document(meta, issuer=BASE, client_id=DEVICE_CLIENT_ID, testing=True,
                                                  device_authorization_endpoint=meta["device_authorization_endpoint"])
    started = device.authorize_device(scope="matomo:read")
    code = started.user_code
    check(len(code) == 9 and code[4] == "-" and all(c in "BCDFGHJKLMNPQRSTVWXZ" for c in code.replace("-", "")), code)
    check(started.verification_uri == f"{BASE}/device", started.verification_uri)
    check(started.verification_uri_complete.startswith(f"{BASE}/device?") and code in urllib.parse.unquote(started.verification_uri_complete), started.verification_uri_complete)
    check(started.interval == 5 and not started.is_expired(), (started.interval, started.expires_at))
    job = DeviceAuthorizationPollingJob(device, started)
    check(job() is None, "authorization_pending before the user answers")
    try:
        device.device_code(started)
        check(False, "polling again at once must be slow_down")
    except SlowDown:
        job.slow_down()
    check(job.interval == 10, job.interval)
    answer_on_device_page(signed_in_browser(), code, "allow")
    token = poll_until_answered(job)
    check(token.token_type.lower() == "bearer" and token.scope == "matomo:read" and token.refresh_token, token.as_dict())
    api = requests.get(f"{BASE}/index.php?module=API&method=API.getConsentryVersion&format=json", auth=token, timeout=10)
    check(api.status_code == 200, api.text)
    # Tokens once: the device code cannot be redeemed again.
    time.sleep(job.interval)
    try:
        device.device_code(started)
        check(False, "a second redemption must fail")
    except InvalidGrant:
        pass
    # Another device, and this time the user denies it.
    denied = device.authorize_device(scope="matomo:read")
    job = DeviceAuthorizationPollingJob(device, denied)
    answer_on_device_page(signed_in_browser(), denied.user_code, "deny")
    try:
        poll_until_answered(job)
        check(False, "a denied device must get access_denied")
    except AccessDenied:
        pass
    try:
        device.device_code(started.device_code + "x")
        check(False, "an unknown device code must fail")
    except InvalidGrant:
        pass


class RelyingParty(OpenIDMixin):
    """Authlib's OpenID Connect client logic (what its Flask, Django and Starlette clients
    run), fed the discovery document and the JWKS."""

    def __init__(self, metadata, jwks):
        self.client_id = CLIENT_ID
        self.server_metadata = dict(metadata, jwks=jwks)

    def load_server_metadata(self):
        return self.server_metadata


@step("OpenID Connect discovery is the RFC 8414 document")
def openid_discovery():
    res = requests.get(f"{BASE}/.well-known/openid-configuration", timeout=10)
    check(res.status_code == 200, res.text)
    meta = res.json()
    check(meta == state["meta"], "one document at both addresses")
    for field in ["userinfo_endpoint", "end_session_endpoint", "jwks_uri"]:
        check(meta[field].startswith(BASE), field)
    check(meta["subject_types_supported"] == ["public"], meta)
    check("RS256" in meta["id_token_signing_alg_values_supported"], meta)
    check({"openid", "profile", "email"} <= set(meta["scopes_supported"]), meta)
    jwks = requests.get(meta["jwks_uri"], timeout=10).json()
    state["rp"] = RelyingParty(meta, jwks)


@step("OpenID Connect code flow: Authlib validates the ID token and refuses a wrong nonce")
def openid_code_flow():
    nonce = os.urandom(16).hex()
    authorize(replay=False, scope="openid profile email matomo:read", nonce=nonce)
    token, rp = state["token"], state["rp"]
    check("id_token" in token, token)
    user = rp.parse_id_token(token, nonce=nonce)
    check(user["preferred_username"] == LOGIN and user["email"] == f"{LOGIN}@example.com", user)
    check(user["aud"] == CLIENT_ID and user["azp"] == CLIENT_ID and user["amr"] == ["pwd"], user)
    for bad_nonce in ["tampered", nonce[:-1]]:
        try:
            rp.parse_id_token(token, nonce=bad_nonce)
            check(False, f"nonce {bad_nonce!r} must be refused")
        except AssertionError:
            raise
        except Exception:
            pass
    forged = dict(token, id_token=token["id_token"][:-4] + ("AAAA" if not token["id_token"].endswith("AAAA") else "BBBB"))
    try:
        rp.parse_id_token(forged, nonce=nonce)
        check(False, "a forged ID token must not verify")
    except AssertionError:
        raise
    except Exception:
        pass
    info = requests.get(state["meta"]["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10)
    check(info.status_code == 200 and info.json()["sub"] == user["sub"], info.text)
    state["id_token"] = token["id_token"]


@step("RP-initiated logout returns to the registered URI with the state")
def openid_logout():
    browser, rp = state["browser"], state["rp"]
    check(browser.get(f"{BASE}/account/security", allow_redirects=False, timeout=10).status_code == 200, "signed in")
    logout = rp.create_logout_url(post_logout_redirect_uri=SIGNED_OUT, id_token_hint=state["id_token"])
    res = browser.get(logout["url"], allow_redirects=False, timeout=10)
    check(res.status_code == 303, f"logout: {res.status_code}")
    back = urllib.parse.urlsplit(res.headers["Location"])
    check(f"{back.scheme}://{back.netloc}{back.path}" == SIGNED_OUT, res.headers["Location"])
    check(dict(urllib.parse.parse_qsl(back.query))["state"] == logout["state"], "state returned")
    check(browser.get(f"{BASE}/account/security", allow_redirects=False, timeout=10).status_code == 303, "signed out")


failed = 0
for name, fn in checks:
    started = time.time()
    try:
        fn()
        print(f"ok    {name} ({int((time.time() - started) * 1000)} ms)")
    except Exception as e:  # report every step, then fail
        failed += 1
        print(f"FAIL  {name}: {type(e).__name__}: {e}")
print(f"third-party clients: {len(checks) - failed} passed, {failed} failed (authlib OAuth 2.0 and OpenID Connect, joserfc, requests, requests-oauth2client)")
sys.exit(1 if failed else 0)
