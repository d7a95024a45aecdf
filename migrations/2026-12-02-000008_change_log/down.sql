ALTER TABLE oauth_settings DROP COLUMN signing_alg;
ALTER TABLE signing_keys DROP COLUMN alg;
ALTER TABLE oauth_grants DROP KEY oauth_grants_first_jti, DROP COLUMN first_jti;
DROP TABLE change_log;
