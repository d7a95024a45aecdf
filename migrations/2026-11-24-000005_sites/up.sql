-- The analytics resource that tokens unlock: websites, per-site access levels, annotations.

CREATE TABLE sites (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(90) NOT NULL,
    main_url VARCHAR(2048) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    INDEX sites_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Superusers hold every level on every site without rows here.
CREATE TABLE site_access (
    user_id BIGINT NOT NULL,
    site_id BIGINT NOT NULL,
    access VARCHAR(8) NOT NULL,
    PRIMARY KEY (user_id, site_id),
    CONSTRAINT site_access_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT site_access_site_fk FOREIGN KEY (site_id) REFERENCES sites (id) ON DELETE CASCADE,
    CONSTRAINT site_access_level_valid CHECK (access IN ('view', 'write', 'admin')),
    INDEX site_access_site (site_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE annotations (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    site_id BIGINT NOT NULL,
    date DATE NOT NULL,
    note VARCHAR(255) NOT NULL,
    -- The login that added it (kept as text: the note outlives its author's account).
    author VARCHAR(100) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    CONSTRAINT annotations_site_fk FOREIGN KEY (site_id) REFERENCES sites (id) ON DELETE CASCADE,
    INDEX annotations_site_date (site_id, date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
