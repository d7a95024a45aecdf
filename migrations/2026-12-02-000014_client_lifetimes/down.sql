ALTER TABLE oauth_clients DROP COLUMN access_token_lifetime, DROP COLUMN refresh_token_lifetime;
