-- What users see of a client besides its name (issue 18): its privacy policy and terms,
-- and an icon uploaded through the console, served by Consentry itself (the consent
-- screen loads nothing from another origin). icon_type: the icon's content type when it
-- has one (the bytes are in oauth_client_icons).
ALTER TABLE oauth_clients
    ADD COLUMN privacy_url VARCHAR(2048) NULL,
    ADD COLUMN terms_url VARCHAR(2048) NULL,
    ADD COLUMN icon_type VARCHAR(16) NULL,
    ADD COLUMN icon_updated_at DATETIME NULL;

CREATE TABLE oauth_client_icons (
    client_id BIGINT NOT NULL PRIMARY KEY,
    content_type VARCHAR(16) NOT NULL,
    data MEDIUMBLOB NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT oauth_client_icons_client_fk FOREIGN KEY (client_id) REFERENCES oauth_clients (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
