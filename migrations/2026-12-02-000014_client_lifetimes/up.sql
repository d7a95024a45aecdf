-- Per-client token lifetimes in seconds (issue 18); NULL: the General settings' value.
ALTER TABLE oauth_clients
    ADD COLUMN access_token_lifetime INT NULL,
    ADD COLUMN refresh_token_lifetime INT NULL;
