-- Secret rotation with a grace period, and secret expiry (issue 18).
-- previous_secret_hash: the secret replaced by the last rotation, accepted until
-- previous_secret_until; previous_secret_uses counts the requests it authenticated since
-- (written in batches, off the request). secret_expires_at: when the current secret stops
-- working (NULL: never).
ALTER TABLE oauth_clients
    ADD COLUMN previous_secret_hash BINARY(32) NULL,
    ADD COLUMN previous_secret_until DATETIME NULL,
    ADD COLUMN previous_secret_uses BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN secret_rotated_at DATETIME NULL,
    ADD COLUMN secret_expires_at DATETIME NULL;
