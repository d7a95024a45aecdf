ALTER TABLE oauth_settings DROP COLUMN device_flow_enabled;
DELETE FROM oauth_grants WHERE grant_type = 'urn:ietf:params:oauth:grant-type:device_code';
ALTER TABLE oauth_grants MODIFY grant_type VARCHAR(32) NOT NULL;
ALTER TABLE oauth_authorization_requests DROP FOREIGN KEY oauth_authz_requests_device_fk;
ALTER TABLE oauth_authorization_requests DROP COLUMN device_code_id;
DROP TABLE oauth_device_codes;
