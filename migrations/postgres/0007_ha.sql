-- Director high availability, as the server sees it; see ../sqlite/0007_ha.sql.
ALTER TABLE director_live ADD COLUMN ha TEXT;

CREATE TABLE switchover_requests (
    cluster      TEXT PRIMARY KEY REFERENCES clusters (name) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    instance     TEXT,
    requested_at TEXT NOT NULL,
    requested_by TEXT NOT NULL
);

CREATE TABLE ha_flags (
    cluster  TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    instance TEXT NOT NULL,
    vrid     BIGINT NOT NULL,
    flag     TEXT NOT NULL CHECK (flag IN ('no_master', 'split_brain')),
    since    TEXT NOT NULL,
    PRIMARY KEY (cluster, instance, vrid, flag)
);
