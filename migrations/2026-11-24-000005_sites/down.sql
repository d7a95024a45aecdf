DROP TABLE annotations;
DROP TABLE site_access;
DROP TABLE sites;
