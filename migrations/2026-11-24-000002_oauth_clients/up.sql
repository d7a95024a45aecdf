-- OAuth clients and the server-side key that hashes their secrets.

CREATE TABLE server_secrets (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    value VARBINARY(64) NOT NULL,
    created_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

CREATE TABLE oauth_clients (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    client_id CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name VARCHAR(64) NOT NULL,
    description VARCHAR(255) NOT NULL DEFAULT '',
    client_type VARCHAR(16) NOT NULL,
    grant_types VARCHAR(128) NOT NULL,
    scopes VARCHAR(255) NOT NULL,
    redirect_uris JSON NOT NULL,
    trusted BOOLEAN NOT NULL DEFAULT FALSE,
    require_pkce BOOLEAN NOT NULL DEFAULT TRUE,
    homepage_url VARCHAR(2048) NULL,
    icon_url VARCHAR(2048) NULL,
    status VARCHAR(8) NOT NULL DEFAULT 'active',
    owner_id BIGINT NULL,
    -- HMAC-SHA256 of the secret under server_secrets 'client_secret_key'; NULL for public clients.
    secret_hash BINARY(32) NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    last_used_at DATETIME(6) NULL,
    CONSTRAINT oauth_clients_client_id_unique UNIQUE (client_id),
    CONSTRAINT oauth_clients_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT oauth_clients_type_valid CHECK (client_type IN ('confidential', 'public')),
    CONSTRAINT oauth_clients_status_valid CHECK (status IN ('active', 'paused'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE INDEX oauth_clients_status_name ON oauth_clients (status, name);
CREATE INDEX oauth_clients_name ON oauth_clients (name);
