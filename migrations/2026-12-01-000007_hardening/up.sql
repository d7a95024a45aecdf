-- Hardening (issue 12): atomic throttle buckets instead of a row per failure, a session
-- epoch per user, aggregated audit rows and an audit retention setting.

-- One row per counted thing (a login at an address, an address, a client at an address):
-- locked, checked and charged in one transaction, so parallel attempts cannot overrun it.
CREATE TABLE throttle_buckets (
    bucket_hash BINARY(32) NOT NULL PRIMARY KEY,
    kind VARCHAR(32) NOT NULL,
    hits INT NOT NULL,
    window_start DATETIME(6) NOT NULL,
    blocked_until DATETIME(6) NULL,
    expires_at DATETIME(6) NOT NULL,
    INDEX throttle_buckets_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

DROP TABLE login_failures;
DROP TABLE oauth_registration_attempts;

-- Raised by a password change or reset, a role change or removal: console sessions
-- carry the epoch they began in and end when it no longer matches.
ALTER TABLE users ADD COLUMN session_epoch INT NOT NULL DEFAULT 0;

-- Repeated refusals (throttled sign-ins, failed client authentication, refused
-- registrations) are one row per actor, address and 15 minutes, with a count.
ALTER TABLE audit_events
    ADD COLUMN repeat_count INT NOT NULL DEFAULT 1,
    ADD COLUMN last_at DATETIME(6) NULL,
    ADD COLUMN aggregate_key BINARY(32) NULL,
    ADD CONSTRAINT audit_events_aggregate_unique UNIQUE (aggregate_key);

-- A resource server that may introspect tokens issued to other clients (RFC 7662 §4).
ALTER TABLE oauth_clients ADD COLUMN may_introspect_any BOOLEAN NOT NULL DEFAULT FALSE;

-- A rotated-in key is published first and signs only from this time on, so that every
-- verifier has fetched it before it meets a token it signed (NULL: signs at once).
ALTER TABLE signing_keys ADD COLUMN active_from DATETIME(6) NULL;

-- Days audit events are kept; 0 keeps them forever. `consentry purge` applies it.
-- Private-use redirect schemes allowed besides reverse-domain ones (RFC 8252 §7.1).
ALTER TABLE oauth_settings
    ADD COLUMN audit_retention_days INT NOT NULL DEFAULT 400,
    ADD COLUMN allowed_app_schemes VARCHAR(255) NOT NULL DEFAULT 'cursor vscode vscode-insiders';

-- Cluster-wide leases: one row per job, taken by a conditional UPDATE, so two servers never
-- run the same job at once (GET_LOCK is local to one Galera node).
CREATE TABLE leases (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    holder CHAR(32) NULL,
    expires_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

INSERT INTO leases (name, holder, expires_at) VALUES ('purge', NULL, '2000-01-01 00:00:00');
