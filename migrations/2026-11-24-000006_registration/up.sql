-- Dynamic client registration (RFC 7591): the switch and policy, self-registered clients,
-- initial access tokens, and the per-address record that rate-limits open registration.

ALTER TABLE oauth_settings
    ADD COLUMN registration_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN registration_policy VARCHAR(16) NOT NULL DEFAULT 'open';

ALTER TABLE oauth_settings
    ADD CONSTRAINT oauth_settings_registration_policy_valid
    CHECK (registration_policy IN ('open', 'token'));

ALTER TABLE oauth_clients
    ADD COLUMN self_registered BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN registered_from VARCHAR(45) NULL;

-- Bearer tokens a superuser creates for registration: stored as SHA-256, shown once.
CREATE TABLE oauth_initial_access_tokens (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    token_hash BINARY(32) NOT NULL,
    label VARCHAR(64) NOT NULL,
    created_by VARCHAR(100) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    uses_left INT NOT NULL,
    uses INT NOT NULL DEFAULT 0,
    revoked_at DATETIME(6) NULL,
    CONSTRAINT oauth_iat_hash_unique UNIQUE (token_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE oauth_registration_attempts (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    ip VARCHAR(45) NOT NULL,
    occurred_at DATETIME(6) NOT NULL,
    INDEX oauth_registration_attempts_ip (ip, occurred_at),
    INDEX oauth_registration_attempts_time (occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

-- One-time displays now also serve initial access tokens, which belong to no client.
ALTER TABLE oauth_secret_reveals MODIFY client_id BIGINT NULL;
