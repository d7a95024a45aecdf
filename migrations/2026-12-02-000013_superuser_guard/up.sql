-- A row every change that could take away an active superuser writes first (src/auth/
-- accounts.rs). Row locks are node-local on Galera: two nodes could each see two active
-- superusers and each remove one. Writing one shared row makes the second commit fail
-- certification; run again, it sees the first one's change and refuses.
INSERT INTO leases (name, holder, expires_at) VALUES ('superusers', NULL, '2000-01-01 00:00:00');
