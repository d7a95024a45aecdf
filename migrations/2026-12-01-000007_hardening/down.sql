DROP TABLE leases;
ALTER TABLE oauth_clients DROP COLUMN may_introspect_any;
ALTER TABLE signing_keys DROP COLUMN active_from;
ALTER TABLE oauth_settings DROP COLUMN allowed_app_schemes, DROP COLUMN audit_retention_days;
ALTER TABLE audit_events DROP INDEX audit_events_aggregate_unique;
ALTER TABLE audit_events DROP COLUMN aggregate_key, DROP COLUMN last_at, DROP COLUMN repeat_count;
ALTER TABLE users DROP COLUMN session_epoch;
CREATE TABLE oauth_registration_attempts (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    ip VARCHAR(45) NOT NULL,
    occurred_at DATETIME(6) NOT NULL,
    INDEX oauth_registration_attempts_ip (ip, occurred_at),
    INDEX oauth_registration_attempts_time (occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;
CREATE TABLE login_failures (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    login VARCHAR(100) NOT NULL,
    ip VARCHAR(45) NOT NULL,
    occurred_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX login_failures_login ON login_failures (login, occurred_at);
CREATE INDEX login_failures_ip ON login_failures (ip, occurred_at);
DROP TABLE throttle_buckets;
