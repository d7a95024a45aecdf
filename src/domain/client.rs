//! OAuth client identity: id, secret, type, status and display name.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use validator::ValidateLength;

use chrono::NaiveDateTime;

use super::{GrantType, InvalidInput, RedirectUri, Scope};

/// 32 lowercase hex characters from 128 random bits, the shape Matomo validates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.len() == 32
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(raw.to_string()))
        } else {
            Err(InvalidInput::new(
                "A client ID is 32 lowercase hexadecimal characters.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A confidential client's secret: 256 random bits as 64 hex characters. It is shown once
/// and stored only as an HMAC-SHA256 under a server key: the secret is machine-generated and
/// high-entropy, so a slow password hash would cost throughput and add no security.
#[derive(Clone)]
pub struct ClientSecret(String);

pub type SecretHash = [u8; 32];

impl ClientSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self, key: &[u8]) -> SecretHash {
        hash_secret(key, &self.0)
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// The keyed hash of a presented secret (any string; it is never stored).
pub fn hash_secret(key: &[u8], presented: &str) -> SecretHash {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(presented.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Compares a presented secret with a stored hash in constant time.
pub fn secret_matches(key: &[u8], presented: &str, stored: &[u8]) -> bool {
    bool::from(hash_secret(key, presented).as_slice().ct_eq(stored))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    /// Server-side applications that can keep a secret.
    Confidential,
    /// Mobile or browser apps that cannot keep a secret; they must use PKCE.
    Public,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Confidential => "confidential",
            ClientType::Public => "public",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        match raw.trim() {
            "confidential" => Ok(ClientType::Confidential),
            "public" => Ok(ClientType::Public),
            _ => Err(InvalidInput::new(
                "Client type must be confidential or public.",
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStatus {
    Active,
    Paused,
}

impl ClientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientStatus::Active => "active",
            ClientStatus::Paused => "paused",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        match raw {
            "active" => Ok(ClientStatus::Active),
            "paused" => Ok(ClientStatus::Paused),
            _ => Err(InvalidInput::new("Status must be active or paused.")),
        }
    }
}

/// The name shown on the consent screen: 1 to 64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    /// Trimmed and NFC-normalised, so that one name has one spelling; control and format
    /// characters (zero-width, bidi overrides: Unicode category Cf) are refused, since
    /// they make a name look like another on the consent screen.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        use unicode_normalization::UnicodeNormalization;
        use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
        if raw
            .chars()
            .any(|c| c.general_category() == GeneralCategory::Format || is_invisible(c))
        {
            return Err(InvalidInput::new(
                "Name must not contain invisible formatting characters (such as zero-width or right-to-left marks).",
            ));
        }
        let value: String = raw.trim().nfc().collect();
        if !value.as_str().validate_length(Some(1), Some(64), None) {
            return Err(InvalidInput::new("Name must be 1 to 64 characters long."));
        }
        if value.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "Name must not contain control characters.",
            ));
        }
        Ok(Self(value))
    }

    /// The name as it looks (Unicode TR39 confusable skeleton, case-folded): two names
    /// with the same skeleton cannot be told apart on a screen.
    pub fn skeleton(&self) -> String {
        let folded = unicode_security::confusable_detection::skeleton(&self.0.to_lowercase())
            .collect::<String>()
            .to_lowercase();
        folded.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Whether every letter comes from one script (Latin "admin", not Latin with a
    /// Cyrillic "а").
    pub fn is_single_script(&self) -> bool {
        use unicode_security::MixedScript;
        self.0.as_str().is_single_script()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that render as nothing outside category Cf: Unicode's other default-ignorable
/// code points (combining grapheme joiner, Hangul fillers, variation selectors, tags) and
/// the blank Braille pattern.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{34F}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// A description of up to 255 characters.
pub fn parse_description(raw: &str) -> Result<String, InvalidInput> {
    let value = raw.trim();
    if !value.validate_length(None, Some(255), None) {
        return Err(InvalidInput::new(
            "Description must be at most 255 characters long.",
        ));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_secrets_have_the_documented_shape_and_entropy() {
        let id = ClientId::generate();
        assert!(ClientId::parse(id.as_str()).is_ok());
        assert_ne!(ClientId::generate(), id);
        let secret = ClientSecret::generate();
        assert_eq!(secret.expose().len(), 64);
        assert!(secret.expose().bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!format!("{secret:?}").contains(secret.expose()));
        assert!(ClientId::parse("ABCDEF00ABCDEF00ABCDEF00ABCDEF00").is_err());
        assert!(ClientId::parse("analytics_app").is_err());
    }

    #[test]
    fn secret_hash_is_keyed_and_compared_exactly() {
        let secret = ClientSecret::generate();
        let stored = secret.hash(b"key one");
        assert!(secret_matches(b"key one", secret.expose(), &stored));
        assert!(!secret_matches(b"key two", secret.expose(), &stored));
        assert!(!secret_matches(b"key one", &secret.expose()[1..], &stored));
    }

    #[test]
    fn names_and_descriptions_are_bounded() {
        assert!(ClientName::parse("Analytics app").is_ok());
        assert!(ClientName::parse(" ").is_err());
        assert!(ClientName::parse(&"n".repeat(65)).is_err());
        for hidden in [
            "ad\u{200b}min",
            "\u{202e}nimda",
            "admin\u{2066}",
            "\u{feff}admin",
            "ad\u{3164}min",
            "\u{2800}admin",
            "ad\u{34f}min",
        ] {
            assert!(ClientName::parse(hidden).is_err(), "{hidden:?}");
        }
        // One spelling: "é" precomposed or as e + combining acute.
        assert_eq!(
            ClientName::parse(" Caf\u{65}\u{301} ").unwrap().as_str(),
            "Caf\u{e9}"
        );
        let latin = ClientName::parse("admin").unwrap();
        let cyrillic = ClientName::parse("\u{430}dmin").unwrap();
        assert_eq!(latin.skeleton(), cyrillic.skeleton());
        assert!(latin.is_single_script() && !cyrillic.is_single_script());
        assert_eq!(
            ClientName::parse("PAYPAL").unwrap().skeleton(),
            ClientName::parse("paypa1").unwrap().skeleton()
        );
        assert!(parse_description(&"d".repeat(256)).is_err());
    }
}

/// A registered client as every rule sees it: read from `oauth_clients` and typed once,
/// so nothing outside `domain` compares its status, type, grants or scopes as text.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub client_type: ClientType,
    pub grants: Vec<GrantType>,
    pub scopes: Vec<Scope>,
    pub redirect_uris: Vec<RedirectUri>,
    pub trusted: bool,
    pub require_pkce: bool,
    pub homepage_url: Option<String>,
    pub icon_url: Option<String>,
    pub status: ClientStatus,
    pub owner_id: Option<i64>,
    pub secret_hash: Option<Vec<u8>>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    /// Registered itself through RFC 7591, not by an administrator.
    pub self_registered: bool,
    pub registered_from: Option<String>,
    /// A resource server: may introspect tokens issued to any client.
    pub may_introspect_any: bool,
    /// Where the client may send the user after signing out (RP-initiated logout 1.0).
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Its own token lifetimes in seconds; `None`: the General settings' ones.
    pub access_token_lifetime: Option<i64>,
    pub refresh_token_lifetime: Option<i64>,
    /// The secret the last rotation replaced, while its grace period lasts.
    pub previous_secret: Option<PreviousSecret>,
    /// When the last rotation happened.
    pub secret_rotated_at: Option<NaiveDateTime>,
    /// When the current secret stops working; `None`: never.
    pub secret_expires_at: Option<NaiveDateTime>,
    /// The websites its client-credentials tokens may act on.
    pub site_limit: super::SiteLimit,
    /// Its privacy policy and terms of service, linked from the consent screen.
    pub privacy_url: Option<String>,
    pub terms_url: Option<String>,
    /// When its icon was uploaded; `None`: it has none.
    pub icon_updated_at: Option<NaiveDateTime>,
}

/// A replaced secret that still works until `until` (a rotation's grace period), and how
/// many requests it authenticated since.
#[derive(Debug, Clone)]
pub struct PreviousSecret {
    pub hash: Vec<u8>,
    pub until: NaiveDateTime,
    pub uses: i64,
}

/// Which of a client's secrets a presented one is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretCheck {
    /// The current secret, unexpired.
    Current,
    /// The previous secret, within its grace period.
    Previous,
    /// The current secret, past its expiry.
    Expired,
    /// Neither (or the client has no secret).
    Wrong,
}

/// How long the replaced secret keeps working after a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretGrace {
    None,
    OneHour,
    OneDay,
    SevenDays,
}

impl SecretGrace {
    pub const ALL: [SecretGrace; 4] = [
        SecretGrace::None,
        SecretGrace::OneHour,
        SecretGrace::OneDay,
        SecretGrace::SevenDays,
    ];

    /// `none` (or `0`), `1h`, `24h` or `7d`: the console's values and the CLI's `--grace`.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        match raw.trim() {
            "" | "0" | "none" => Ok(SecretGrace::None),
            "1h" => Ok(SecretGrace::OneHour),
            "24h" | "1d" => Ok(SecretGrace::OneDay),
            "7d" | "168h" => Ok(SecretGrace::SevenDays),
            _ => Err(InvalidInput::new(
                "The grace period is none, 1h, 24h or 7d.",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SecretGrace::None => "none",
            SecretGrace::OneHour => "1h",
            SecretGrace::OneDay => "24h",
            SecretGrace::SevenDays => "7d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SecretGrace::None => "None: the current secret stops working at once",
            SecretGrace::OneHour => "1 hour",
            SecretGrace::OneDay => "24 hours",
            SecretGrace::SevenDays => "7 days",
        }
    }

    pub fn duration(self) -> Option<chrono::Duration> {
        match self {
            SecretGrace::None => None,
            SecretGrace::OneHour => Some(chrono::Duration::hours(1)),
            SecretGrace::OneDay => Some(chrono::Duration::hours(24)),
            SecretGrace::SevenDays => Some(chrono::Duration::days(7)),
        }
    }
}

/// When a secret expires, as typed: empty or `never` for never, a date (`2027-06-30`,
/// meaning 00:00 UTC that day) or an RFC 3339 time. Whether it lies in the future is the
/// caller's rule (an unchanged, already passed date may be kept).
pub fn parse_secret_expiry(raw: &str) -> Result<Option<NaiveDateTime>, InvalidInput> {
    let raw = raw.trim();
    if raw.is_empty() || raw == "never" {
        return Ok(None);
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0));
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| Some(t.naive_utc()))
        .map_err(|_| {
            InvalidInput::new("Give the expiry as a date (2027-06-30), an RFC 3339 time, or never.")
        })
}

/// How close to its expiry a secret is flagged in the client list.
pub const SECRET_EXPIRY_WARNING_DAYS: i64 = 14;

impl Client {
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grants.contains(&grant)
    }

    pub fn is_confidential(&self) -> bool {
        self.client_type == ClientType::Confidential
    }

    pub fn is_active(&self) -> bool {
        self.status == ClientStatus::Active
    }

    /// Whether `uri` is one of the registered redirect URIs, compared exactly (RFC 9700
    /// §4.1.3: no prefix, no normalisation).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r.as_str() == uri)
    }

    /// Whether `uri` is one of the registered post-logout redirect URIs, compared exactly.
    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        (self.post_logout_redirect_uris.iter()).any(|r| r.as_str() == uri)
    }

    /// The previous secret, if its grace period has not ended.
    pub fn live_previous_secret(&self, now: NaiveDateTime) -> Option<&PreviousSecret> {
        self.previous_secret.as_ref().filter(|p| p.until > now)
    }

    /// Whether the current secret has passed its expiry.
    pub fn secret_expired(&self, now: NaiveDateTime) -> bool {
        self.secret_expires_at.is_some_and(|at| at <= now)
    }

    /// Whether the current secret expires within [`SECRET_EXPIRY_WARNING_DAYS`] (or has).
    pub fn secret_expires_soon(&self, now: NaiveDateTime) -> bool {
        self.secret_expires_at
            .is_some_and(|at| at <= now + chrono::Duration::days(SECRET_EXPIRY_WARNING_DAYS))
    }

    /// Which secret `presented` is. Both comparisons always run, in constant time, so the
    /// answer's timing tells nothing about which matched.
    pub fn check_secret(&self, key: &[u8], presented: &str, now: NaiveDateTime) -> SecretCheck {
        let hash = hash_secret(key, presented);
        let matches = |stored: Option<&[u8]>| {
            let stored = stored.unwrap_or(&[0u8; 32]);
            bool::from(hash.as_slice().ct_eq(stored))
        };
        let current = matches(self.secret_hash.as_deref()) && self.secret_hash.is_some();
        let previous = self.live_previous_secret(now);
        let previous = matches(previous.map(|p| p.hash.as_slice())) && previous.is_some();
        match (current, previous) {
            (true, _) if self.secret_expired(now) => SecretCheck::Expired,
            (true, _) => SecretCheck::Current,
            (false, true) => SecretCheck::Previous,
            (false, false) => SecretCheck::Wrong,
        }
    }

    /// The stored hash of the secret a check matched.
    pub fn matched_hash(&self, check: &SecretCheck, now: NaiveDateTime) -> Option<&[u8]> {
        match check {
            SecretCheck::Current => self.secret_hash.as_deref(),
            SecretCheck::Previous => self.live_previous_secret(now).map(|p| p.hash.as_slice()),
            SecretCheck::Expired | SecretCheck::Wrong => None,
        }
    }
}

/// A client's icon as uploaded: PNG or JPEG (recognised from its bytes, never from what the
/// browser claims), at most [`ClientIcon::MAX_BYTES`] and [`ClientIcon::MAX_SIDE`] pixels a
/// side. Served by Consentry itself with the content type found here.
#[derive(Clone)]
pub struct ClientIcon {
    bytes: Vec<u8>,
    content_type: &'static str,
}

impl ClientIcon {
    pub const MAX_BYTES: usize = 64 * 1024;
    pub const MAX_SIDE: usize = 1024;

    pub fn parse(bytes: Vec<u8>) -> Result<Self, InvalidInput> {
        if bytes.is_empty() {
            return Err(InvalidInput::new("Choose a PNG or JPEG file."));
        }
        if bytes.len() > Self::MAX_BYTES {
            return Err(InvalidInput::new(format!(
                "The icon is {} KB; it may be at most 64 KB.",
                bytes.len().div_ceil(1024)
            )));
        }
        let content_type = match imagesize::image_type(&bytes) {
            Ok(imagesize::ImageType::Png) => "image/png",
            Ok(imagesize::ImageType::Jpeg) => "image/jpeg",
            _ => return Err(InvalidInput::new("The icon must be a PNG or JPEG image.")),
        };
        let size = imagesize::blob_size(&bytes)
            .map_err(|_| InvalidInput::new("The icon could not be read as an image."))?;
        if size.width == 0 || size.height == 0 {
            return Err(InvalidInput::new("The icon could not be read as an image."));
        }
        if size.width > Self::MAX_SIDE || size.height > Self::MAX_SIDE {
            return Err(InvalidInput::new(format!(
                "The icon is {}×{} pixels; it may be at most {max}×{max}.",
                size.width,
                size.height,
                max = Self::MAX_SIDE
            )));
        }
        Ok(Self {
            bytes,
            content_type,
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn content_type(&self) -> &'static str {
        self.content_type
    }
}

impl fmt::Debug for ClientIcon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ClientIcon({}, {} bytes)",
            self.content_type,
            self.bytes.len()
        )
    }
}
