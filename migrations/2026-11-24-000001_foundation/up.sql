-- Foundation schema: users, single-row OAuth settings, append-only audit log,
-- sign-in throttling and revoked console sessions. Portable between MariaDB 10.11
-- and MySQL 8: no RETURNING, no sequences, DATETIME(6) in UTC written by the app.

CREATE TABLE users (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    login VARCHAR(100) NOT NULL,
    email VARCHAR(255) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    role VARCHAR(16) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    last_login_at DATETIME(6) NULL,
    CONSTRAINT users_login_unique UNIQUE (login),
    CONSTRAINT users_role_valid CHECK (role IN ('superuser', 'support', 'user'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE INDEX users_role ON users (role);

CREATE TABLE oauth_settings (
    id TINYINT NOT NULL PRIMARY KEY,
    access_token_lifetime INT NOT NULL DEFAULT 3600,
    refresh_token_lifetime INT NOT NULL DEFAULT 2592000,
    auth_code_lifetime INT NOT NULL DEFAULT 600,
    auth_code_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    client_credentials_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    refresh_tokens_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    allowed_scopes VARCHAR(255) NOT NULL DEFAULT 'matomo:read matomo:write matomo:admin',
    updated_at DATETIME(6) NULL,
    updated_by VARCHAR(100) NULL,
    CONSTRAINT oauth_settings_single_row CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO oauth_settings (id) VALUES (1);

CREATE TABLE audit_events (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    occurred_at DATETIME(6) NOT NULL,
    actor VARCHAR(100) NOT NULL,
    action VARCHAR(64) NOT NULL,
    target_type VARCHAR(32) NULL,
    target_id VARCHAR(190) NULL,
    details JSON NOT NULL,
    ip VARCHAR(45) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE INDEX audit_events_occurred ON audit_events (occurred_at);
CREATE INDEX audit_events_action ON audit_events (action, occurred_at);
CREATE INDEX audit_events_target ON audit_events (target_type, target_id, occurred_at);

-- One row per failed sign-in; counted over a sliding window by login and by address.
CREATE TABLE login_failures (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    login VARCHAR(100) NOT NULL,
    ip VARCHAR(45) NOT NULL,
    occurred_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE INDEX login_failures_login ON login_failures (login, occurred_at);
CREATE INDEX login_failures_ip ON login_failures (ip, occurred_at);

-- Sessions live in an encrypted cookie; signing out records the session id here so a
-- copied cookie cannot be replayed until its absolute expiry.
CREATE TABLE revoked_sessions (
    sid CHAR(43) NOT NULL PRIMARY KEY,
    expires_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

CREATE INDEX revoked_sessions_expires ON revoked_sessions (expires_at);
