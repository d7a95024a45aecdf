-- The device authorization grant (RFC 8628, issue 18).
-- A device code is stored only as its hash, and so is the user code (short, but only a
-- signed-in user can try one, five wrong ones per 15 minutes). status: pending until the
-- user answers, then approved (code_id names the authorization code its tokens are
-- redeemed from, as the code grant's are) or denied. The client polls no faster than
-- poll_interval seconds (RFC 8628 §3.5); each slow_down adds five.
CREATE TABLE oauth_device_codes (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    device_code_hash BINARY(32) NOT NULL,
    user_code_hash BINARY(32) NOT NULL,
    client_id BIGINT NOT NULL,
    scopes VARCHAR(255) NOT NULL,
    status VARCHAR(10) NOT NULL DEFAULT 'pending',
    user_id BIGINT NULL,
    code_id BIGINT NULL,
    poll_interval INT NOT NULL,
    last_polled_at DATETIME(6) NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    CONSTRAINT oauth_device_codes_status_valid CHECK (status IN ('pending', 'approved', 'denied')),
    UNIQUE KEY oauth_device_codes_device (device_code_hash),
    UNIQUE KEY oauth_device_codes_user (user_code_hash),
    CONSTRAINT oauth_device_codes_client_fk FOREIGN KEY (client_id) REFERENCES oauth_clients (id) ON DELETE CASCADE,
    CONSTRAINT oauth_device_codes_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT oauth_device_codes_code_fk FOREIGN KEY (code_id) REFERENCES oauth_authorization_codes (id) ON DELETE SET NULL,
    INDEX oauth_device_codes_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A consent screen opened from /device answers its device code, not a redirect.
ALTER TABLE oauth_authorization_requests
    ADD COLUMN device_code_id BIGINT NULL,
    ADD CONSTRAINT oauth_authz_requests_device_fk FOREIGN KEY (device_code_id) REFERENCES oauth_device_codes (id) ON DELETE CASCADE;

-- The grant type's URN is longer than the old names.
ALTER TABLE oauth_grants MODIFY grant_type VARCHAR(64) NOT NULL;

-- Off by default: a switch on the General settings form.
ALTER TABLE oauth_settings ADD COLUMN device_flow_enabled BOOLEAN NOT NULL DEFAULT FALSE;
