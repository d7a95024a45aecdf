-- OpenID Connect (src/oauth/oidc.rs).

-- The `sub` of ID tokens and userinfo: random, never reused and never changed, unlike the
-- login, which a superuser may rename.
ALTER TABLE users ADD COLUMN subject CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL;
UPDATE users SET subject = UUID() WHERE subject IS NULL;
-- The default is for servers of the previous version still creating users during a rolling
-- upgrade (this version makes a random UUID itself).
ALTER TABLE users MODIFY subject CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT (UUID());
ALTER TABLE users ADD CONSTRAINT users_subject_unique UNIQUE (subject);

-- A scope is now "openid profile email matomo:superuser" at the longest (37 characters).
-- 63 characters of utf8mb4 still fit a one-byte length, so the change is in place.
ALTER TABLE oauth_authorization_codes MODIFY scope VARCHAR(63) NOT NULL;
ALTER TABLE oauth_grants MODIFY scope VARCHAR(63) NOT NULL;
ALTER TABLE oauth_access_tokens MODIFY scope VARCHAR(63) NOT NULL;
ALTER TABLE oauth_refresh_tokens MODIFY scope VARCHAR(63) NOT NULL;
ALTER TABLE oauth_consents MODIFY scope VARCHAR(63) NOT NULL;

-- The ID token of a code names the request's nonce and when and how the user signed in;
-- the grant keeps the sign-in for the ID tokens of its refreshes.
ALTER TABLE oauth_authorization_requests ADD COLUMN nonce VARCHAR(255) NULL;
ALTER TABLE oauth_authorization_codes
    ADD COLUMN nonce VARCHAR(255) NULL,
    ADD COLUMN auth_time DATETIME(6) NULL,
    ADD COLUMN amr VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NULL;
ALTER TABLE oauth_grants
    ADD COLUMN auth_time DATETIME(6) NULL,
    ADD COLUMN amr VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NULL;

-- The identity scopes are allowed by default.
ALTER TABLE oauth_settings MODIFY allowed_scopes VARCHAR(255) NOT NULL
    DEFAULT 'openid profile email matomo:read matomo:write matomo:admin';
UPDATE oauth_settings SET allowed_scopes = CONCAT('openid profile email ', allowed_scopes)
    WHERE allowed_scopes NOT LIKE '%openid%';

-- RP-initiated logout 1.0: where a client may send the user after signing out, matched
-- exactly like redirect URIs. NULL: none.
ALTER TABLE oauth_clients ADD COLUMN post_logout_redirect_uris JSON NULL;
