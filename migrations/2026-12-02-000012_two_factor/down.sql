ALTER TABLE oauth_grants DROP COLUMN acr;
ALTER TABLE oauth_authorization_codes DROP COLUMN acr;
ALTER TABLE oauth_authorization_requests DROP COLUMN acr;
ALTER TABLE oauth_settings DROP COLUMN require_2fa_superusers, DROP COLUMN require_2fa_support;
DROP TABLE user_recovery_codes;
ALTER TABLE users DROP COLUMN totp_secret, DROP COLUMN totp_enabled_at, DROP COLUMN totp_last_step;
