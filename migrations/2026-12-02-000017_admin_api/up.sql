-- The admin API writes its actor as "<login> via <client_id>" (issue 18): logins are up
-- to 100 characters, client IDs 32.
ALTER TABLE audit_events MODIFY actor VARCHAR(160) NOT NULL;
