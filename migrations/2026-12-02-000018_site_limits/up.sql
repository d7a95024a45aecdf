-- Grants limited to chosen websites (issue 18). site_ids: the website ids a grant's tokens
-- may act on, space-separated and sorted (at most 100); NULL: every website the user can
-- access. The consent screen's choice is kept on the consent (for the next code), the code,
-- and the grant its tokens check; a client's own value limits its client-credentials grants.
ALTER TABLE oauth_grants ADD COLUMN site_ids VARCHAR(1200) NULL;
ALTER TABLE oauth_authorization_codes ADD COLUMN site_ids VARCHAR(1200) NULL;
ALTER TABLE oauth_consents ADD COLUMN site_ids VARCHAR(1200) NULL;
ALTER TABLE oauth_clients ADD COLUMN site_ids VARCHAR(1200) NULL;
