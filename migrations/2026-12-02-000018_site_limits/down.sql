ALTER TABLE oauth_clients DROP COLUMN site_ids;
ALTER TABLE oauth_consents DROP COLUMN site_ids;
ALTER TABLE oauth_authorization_codes DROP COLUMN site_ids;
ALTER TABLE oauth_grants DROP COLUMN site_ids;
