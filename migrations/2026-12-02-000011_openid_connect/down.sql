ALTER TABLE oauth_clients DROP COLUMN post_logout_redirect_uris;
UPDATE oauth_settings SET allowed_scopes = TRIM(REPLACE(REPLACE(REPLACE(allowed_scopes, 'openid', ''), 'profile', ''), 'email', ''));
ALTER TABLE oauth_settings MODIFY allowed_scopes VARCHAR(255) NOT NULL
    DEFAULT 'matomo:read matomo:write matomo:admin';
ALTER TABLE oauth_grants DROP COLUMN auth_time, DROP COLUMN amr;
ALTER TABLE oauth_authorization_codes DROP COLUMN nonce, DROP COLUMN auth_time, DROP COLUMN amr;
ALTER TABLE oauth_authorization_requests DROP COLUMN nonce;
ALTER TABLE users DROP INDEX users_subject_unique;
ALTER TABLE users DROP COLUMN subject;
