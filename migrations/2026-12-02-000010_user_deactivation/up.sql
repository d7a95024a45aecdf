-- A deactivated user cannot sign in; their sessions, grants and tokens ended when they were
-- deactivated (src/auth/accounts.rs). NULL: active.
ALTER TABLE users ADD COLUMN deactivated_at DATETIME(6) NULL;
