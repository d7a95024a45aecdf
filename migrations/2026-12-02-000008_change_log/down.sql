ALTER TABLE oauth_grants DROP KEY oauth_grants_first_jti, DROP COLUMN first_jti;
DROP TABLE change_log;
