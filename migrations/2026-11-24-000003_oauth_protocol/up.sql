-- The protocol's state: signing keys, pending consent requests, authorization codes,
-- grants (token families), access and refresh tokens, and remembered consent.
-- Codes and refresh tokens are stored only as SHA-256 hashes of high-entropy values.

CREATE TABLE signing_keys (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kid VARCHAR(64) NOT NULL,
    -- PKCS#1 DER of the RSA private key.
    private_der VARBINARY(4096) NOT NULL,
    -- Public modulus and exponent, base64url, as the JWKS publishes them.
    n VARCHAR(1024) NOT NULL,
    e VARCHAR(16) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    -- Set when a newer key takes over signing; the key stays published until publish_until.
    retired_at DATETIME(6) NULL,
    publish_until DATETIME(6) NULL,
    CONSTRAINT signing_keys_kid_unique UNIQUE (kid)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

CREATE TABLE oauth_authorization_requests (
    handle_hash BINARY(32) NOT NULL PRIMARY KEY,
    user_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    redirect_uri VARCHAR(2048) NOT NULL,
    redirect_uri_given BOOLEAN NOT NULL,
    scopes VARCHAR(255) NOT NULL,
    state VARCHAR(1024) NULL,
    code_challenge CHAR(43) CHARACTER SET ascii COLLATE ascii_bin NULL,
    expires_at DATETIME(6) NOT NULL,
    CONSTRAINT oauth_authz_requests_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT oauth_authz_requests_client_fk FOREIGN KEY (client_id) REFERENCES oauth_clients (id) ON DELETE CASCADE,
    INDEX oauth_authz_requests_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE oauth_authorization_codes (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    code_hash BINARY(32) NOT NULL,
    client_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    redirect_uri VARCHAR(2048) NOT NULL,
    redirect_uri_given BOOLEAN NOT NULL,
    scope VARCHAR(32) NOT NULL,
    code_challenge CHAR(43) CHARACTER SET ascii COLLATE ascii_bin NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    used_at DATETIME(6) NULL,
    CONSTRAINT oauth_codes_hash_unique UNIQUE (code_hash),
    CONSTRAINT oauth_codes_client_fk FOREIGN KEY (client_id) REFERENCES oauth_clients (id) ON DELETE CASCADE,
    CONSTRAINT oauth_codes_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    INDEX oauth_codes_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One grant per authorization (or client-credentials request): every token issued from it,
-- through any number of refreshes, belongs to it, so a family is revoked in one row.
CREATE TABLE oauth_grants (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    client_id BIGINT NOT NULL,
    -- NULL for client credentials: the token acts as the client's owner.
    user_id BIGINT NULL,
    code_id BIGINT NULL,
    grant_type VARCHAR(32) NOT NULL,
    scope VARCHAR(32) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    -- The latest expiry of any token in the family; after it the grant can be purged.
    expires_at DATETIME(6) NOT NULL,
    revoked_at DATETIME(6) NULL,
    CONSTRAINT oauth_grants_client_fk FOREIGN KEY (client_id) REFERENCES oauth_clients (id) ON DELETE CASCADE,
    CONSTRAINT oauth_grants_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT oauth_grants_code_fk FOREIGN KEY (code_id) REFERENCES oauth_authorization_codes (id) ON DELETE SET NULL,
    INDEX oauth_grants_client_user (client_id, user_id),
    INDEX oauth_grants_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE oauth_access_tokens (
    jti CHAR(22) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    grant_id BIGINT NOT NULL,
    scope VARCHAR(32) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    revoked_at DATETIME(6) NULL,
    CONSTRAINT oauth_access_tokens_grant_fk FOREIGN KEY (grant_id) REFERENCES oauth_grants (id) ON DELETE CASCADE,
    INDEX oauth_access_tokens_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE oauth_refresh_tokens (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    token_hash BINARY(32) NOT NULL,
    grant_id BIGINT NOT NULL,
    scope VARCHAR(32) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    -- Set once, atomically, when the token is exchanged; a second use is reuse.
    rotated_at DATETIME(6) NULL,
    CONSTRAINT oauth_refresh_tokens_hash_unique UNIQUE (token_hash),
    CONSTRAINT oauth_refresh_tokens_grant_fk FOREIGN KEY (grant_id) REFERENCES oauth_grants (id) ON DELETE CASCADE,
    INDEX oauth_refresh_tokens_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Remembered consent: the widest scope a user approved for a client.
CREATE TABLE oauth_consents (
    user_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    scope VARCHAR(32) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (user_id, client_id),
    CONSTRAINT oauth_consents_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT oauth_consents_client_fk FOREIGN KEY (client_id) REFERENCES oauth_clients (id) ON DELETE CASCADE,
    INDEX oauth_consents_client (client_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
