DELETE FROM oauth_secret_reveals WHERE client_id IS NULL;
ALTER TABLE oauth_secret_reveals MODIFY client_id BIGINT NOT NULL;
DROP TABLE oauth_registration_attempts;
DROP TABLE oauth_initial_access_tokens;
ALTER TABLE oauth_clients DROP COLUMN registered_from, DROP COLUMN self_registered;
ALTER TABLE oauth_settings DROP CONSTRAINT oauth_settings_registration_policy_valid;
ALTER TABLE oauth_settings DROP COLUMN registration_policy, DROP COLUMN registration_enabled;
