-- Codes and refresh tokens are claimed by the group-commit writer (src/db/models/issued.rs)
-- inside a batch of many tokens: each claim names the token it was made for, so the
-- statements that follow store that token only where its own claim won.
ALTER TABLE oauth_authorization_codes ADD COLUMN used_by CHAR(22) NULL;
ALTER TABLE oauth_refresh_tokens ADD COLUMN rotated_by CHAR(22) NULL;
