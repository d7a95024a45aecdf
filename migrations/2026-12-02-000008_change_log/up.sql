-- The change log that keeps every server's in-memory state fresh (src/db/changes.rs).
-- Rows are read by id only for the last seconds, and purged after an hour.
CREATE TABLE change_log (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind VARCHAR(32) NOT NULL,
    subject VARCHAR(255) NOT NULL DEFAULT '',
    created_at DATETIME(6) NOT NULL,
    KEY change_log_created (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
