-- The change log that keeps every server's in-memory state fresh (src/db/changes.rs).
-- Rows are read by id only for the last seconds, and purged after an hour.
CREATE TABLE change_log (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind VARCHAR(32) NOT NULL,
    subject VARCHAR(255) NOT NULL DEFAULT '',
    created_at DATETIME(6) NOT NULL,
    KEY change_log_created (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Client-credentials tokens are written in batches (src/oauth/issuer.rs): each grant row
-- carries the jti of the token issued with it, so one batch finds its grants' ids with one
-- SELECT instead of relying on consecutive AUTO_INCREMENT values (not given on Galera).
ALTER TABLE oauth_grants ADD COLUMN first_jti CHAR(22) NULL,
    ADD UNIQUE KEY oauth_grants_first_jti (first_jti);

-- The signing algorithm is a setting (RS256, ES256 or EdDSA); each key remembers its own.
ALTER TABLE signing_keys ADD COLUMN alg VARCHAR(10) NOT NULL DEFAULT 'RS256';
ALTER TABLE oauth_settings ADD COLUMN signing_alg VARCHAR(10) NOT NULL DEFAULT 'RS256';
