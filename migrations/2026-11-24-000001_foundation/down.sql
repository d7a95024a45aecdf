DROP TABLE revoked_sessions;
DROP TABLE login_failures;
DROP TABLE audit_events;
DROP TABLE oauth_settings;
DROP TABLE users;
