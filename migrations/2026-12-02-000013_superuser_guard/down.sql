DELETE FROM leases WHERE name = 'superusers';
