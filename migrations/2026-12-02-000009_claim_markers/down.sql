ALTER TABLE oauth_refresh_tokens DROP COLUMN rotated_by;
ALTER TABLE oauth_authorization_codes DROP COLUMN used_by;
