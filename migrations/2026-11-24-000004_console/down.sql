DROP TABLE oauth_secret_reveals;
-- The foreign key on grant_id needs an index of its own before the composite one goes.
CREATE INDEX oauth_access_tokens_grant ON oauth_access_tokens (grant_id);
DROP INDEX oauth_access_tokens_grant_created ON oauth_access_tokens;
DROP TABLE oauth_client_daily_tokens;
DROP INDEX audit_events_target_id ON audit_events;
DROP INDEX audit_events_actor_id ON audit_events;
DROP INDEX audit_events_action_id ON audit_events;
