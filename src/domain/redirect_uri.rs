//! A registered redirect URI. Kept exactly as typed: matching is exact string comparison
//! (RFC 9700 §4.1.3), so nothing here normalises it.

use std::fmt;

use url::{Host, Url};

use super::InvalidInput;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Absolute `https://` URLs, or `http://` on a loopback host (RFC 8252 §7.3); no
    /// fragment (RFC 6749 §3.1.2), no wildcard, no user information.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let value = raw.trim();
        let bad = |why: &str| InvalidInput::new(format!("Redirect URI '{value}' {why}"));
        if value.len() > 2000 {
            return Err(bad("is longer than 2000 characters."));
        }
        let url = Url::parse(value).map_err(|_| bad("is not an absolute URL."))?;
        if value.contains('*') {
            return Err(bad("must not contain a wildcard."));
        }
        if url.fragment().is_some() || value.contains('#') {
            return Err(bad("must not contain a fragment (#)."));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not contain a user name or password."));
        }
        match url.scheme() {
            "https" if url.host().is_some() => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(bad(
                    "must use https:// (http:// is allowed only for 127.0.0.1, [::1] or localhost).",
                ));
            }
            _ => return Err(bad("must use https://.")),
        }
        Ok(Self(value.to_string()))
    }

    /// As [`parse`](Self::parse), and also a native app's private-use scheme (RFC 8252
    /// §7.1), as self-registering clients use. Allowed, not blocked: a scheme is accepted
    /// when it is reverse-domain (`com.example.app:/cb`, it contains a dot) or is one of
    /// `allowed_schemes` (General settings, such as `cursor` or `vscode`); everything else
    /// (`wss:`, `intent:`, `jar:`, `chrome:` ...) is refused.
    pub fn parse_allowing_native(
        raw: &str,
        allowed_schemes: &[String],
    ) -> Result<Self, InvalidInput> {
        let value = raw.trim();
        let url = match Url::parse(value) {
            Ok(url) if !matches!(url.scheme(), "http" | "https") => url,
            _ => return Self::parse(raw),
        };
        let bad = |why: &str| InvalidInput::new(format!("Redirect URI '{value}' {why}"));
        let scheme = url.scheme();
        let reverse_domain = scheme.contains('.')
            && scheme.split('.').all(|label| !label.is_empty())
            && !scheme.starts_with("view-source");
        if !reverse_domain && !allowed_schemes.iter().any(|s| s == scheme) {
            return Err(bad(
                "uses a scheme that is not allowed: a native app must use a reverse-domain scheme (such as com.example.app:/callback) or one listed under Allowed application schemes in General settings.",
            ));
        }
        if value.len() > 2000 {
            return Err(bad("is longer than 2000 characters."));
        }
        if value.contains('*') {
            return Err(bad("must not contain a wildcard."));
        }
        if url.fragment().is_some() || value.contains('#') {
            return Err(bad("must not contain a fragment (#)."));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not contain a user name or password."));
        }
        Ok(Self(value.to_string()))
    }

    /// A URI read back from `oauth_clients`: it was parsed when it was written, under
    /// the settings of that time (an application scheme allowed then may have been
    /// removed since), and strict matching compares exactly that string.
    pub fn stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An optional homepage or icon URL: http or https only.
pub fn parse_web_url(raw: &str, field: &str) -> Result<Option<String>, InvalidInput> {
    let value = raw.trim();
    if value.is_empty() {
        return Ok(None);
    }
    match Url::parse(value) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && value.len() <= 2000 =>
        {
            Ok(Some(value.to_string()))
        }
        _ => Err(InvalidInput::new(format!(
            "{field} must be a URL starting with http:// or https://."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http_exactly_as_typed() {
        for ok in [
            "https://example-app.com/oauth/callback",
            "https://example-app.com/cb?x=1",
            "http://127.0.0.1:8765/callback",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
        ] {
            assert_eq!(RedirectUri::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_unsafe_uris() {
        for bad in [
            "example.com/cb",
            "http://example.com/cb",
            "https://example.com/cb#frag",
            "https://*.example.com/cb",
            "https://user:pw@example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "ftp://example.com/cb",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn native_apps_may_use_reverse_domain_or_allowed_schemes_only() {
        let allowed: Vec<String> = ["cursor", "vscode", "vscode-insiders"]
            .map(String::from)
            .to_vec();
        for ok in [
            "cursor://anysphere.cursor-retrieval/oauth/callback",
            "vscode://vscode.github-authentication/did-authenticate",
            "com.example.app:/cb",
            "https://a.example/cb",
        ] {
            assert!(
                RedirectUri::parse_allowing_native(ok, &allowed).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "wss://evil.example/cb",
            "intent://cb#Intent;end",
            "jar:https://evil.example/x!/cb",
            "chrome://settings",
            "ms-settings:cb",
            "myapp://cb",
            "cursor://cb#frag",
            "com.example.app://*/cb",
            "http://example.com/cb",
            "not a uri",
            "com..app:/cb",
        ] {
            assert!(
                RedirectUri::parse_allowing_native(bad, &allowed).is_err(),
                "{bad}"
            );
        }
        // Without the settings' list, only reverse-domain schemes pass.
        assert!(RedirectUri::parse_allowing_native("cursor://cb", &[]).is_err());
    }

    #[test]
    fn web_urls_are_optional_http_or_https() {
        assert_eq!(parse_web_url("", "Homepage URL").unwrap(), None);
        assert!(
            parse_web_url("https://x.example", "Homepage URL")
                .unwrap()
                .is_some()
        );
        assert!(parse_web_url("javascript:alert(1)", "Icon URL").is_err());
    }
}
