DROP TABLE oauth_client_icons;
ALTER TABLE oauth_clients DROP COLUMN privacy_url, DROP COLUMN terms_url, DROP COLUMN icon_type, DROP COLUMN icon_updated_at;
