-- The second factor (src/auth/second_factor.rs): an authenticator app's RFC 6238 secret,
-- encrypted with a key derived from the server secret (never stored in clear); the time
-- step of the last code accepted, so a code cannot be used twice.
ALTER TABLE users
    ADD COLUMN totp_secret VARBINARY(64) NULL,
    ADD COLUMN totp_enabled_at DATETIME(6) NULL,
    ADD COLUMN totp_last_step BIGINT NULL;

-- One-time recovery codes: only their SHA-256 (they are random, 80 bits each).
CREATE TABLE user_recovery_codes (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    code_hash BINARY(32) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    used_at DATETIME(6) NULL,
    CONSTRAINT user_recovery_codes_unique UNIQUE (user_id, code_hash),
    CONSTRAINT user_recovery_codes_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE oauth_settings
    ADD COLUMN require_2fa_superusers BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN require_2fa_support BOOLEAN NOT NULL DEFAULT FALSE;

-- OpenID Connect `acr`: the requested values (acr_values) a code's sign-in met.
ALTER TABLE oauth_authorization_requests ADD COLUMN acr VARCHAR(64) NULL;
ALTER TABLE oauth_authorization_codes ADD COLUMN acr VARCHAR(64) NULL;
ALTER TABLE oauth_grants ADD COLUMN acr VARCHAR(64) NULL;
