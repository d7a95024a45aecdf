ALTER TABLE oauth_clients
    DROP COLUMN previous_secret_hash,
    DROP COLUMN previous_secret_until,
    DROP COLUMN previous_secret_uses,
    DROP COLUMN secret_rotated_at,
    DROP COLUMN secret_expires_at;
