-- The administration console: audit log filters that page by id, and the per-day count of
-- access tokens each client was issued (kept after the token rows themselves are purged).

CREATE INDEX audit_events_action_id ON audit_events (action, id);
CREATE INDEX audit_events_actor_id ON audit_events (actor, id);
CREATE INDEX audit_events_target_id ON audit_events (target_type, target_id, id);

-- Filled by the purge from expired oauth_access_tokens rows before they are deleted; the
-- chart adds the rows not yet purged, so the token endpoint never writes here.
CREATE TABLE oauth_client_daily_tokens (
    client_id BIGINT NOT NULL,
    day DATE NOT NULL,
    issued INT NOT NULL,
    PRIMARY KEY (client_id, day),
    CONSTRAINT oauth_client_daily_tokens_client_fk FOREIGN KEY (client_id) REFERENCES oauth_clients (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The chart and the counts read live tokens of one client by creation time.
CREATE INDEX oauth_access_tokens_grant_created ON oauth_access_tokens (grant_id, created_at);

-- A new client secret is shown once: the encrypted session cookie carries it to the page
-- that shows it, and that page shows it only if it can delete this row (one nonce, one
-- showing). The secret itself is never stored here.
CREATE TABLE oauth_secret_reveals (
    nonce_hash BINARY(32) NOT NULL PRIMARY KEY,
    client_id BIGINT NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    CONSTRAINT oauth_secret_reveals_client_fk FOREIGN KEY (client_id) REFERENCES oauth_clients (id) ON DELETE CASCADE,
    INDEX oauth_secret_reveals_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
