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
