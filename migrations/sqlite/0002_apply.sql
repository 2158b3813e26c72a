-- Applying revisions to directors: settings, director status, drains,
-- services lvsd created, and commits waiting for confirmation.

-- How a cluster is applied (ownership, drains, removal limit), as JSON.
CREATE TABLE cluster_settings (
    cluster    TEXT PRIMARY KEY REFERENCES clusters (name) ON DELETE CASCADE,
    settings   TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

-- What each director last did for each cluster.
CREATE TABLE director_status (
    cluster          TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    director         TEXT NOT NULL,
    -- 'local': this server's own kernel (serve --apply-local).
    mode             TEXT NOT NULL,
    -- The revision last applied and verified.
    applied_revision BIGINT,
    -- A revision refused or failed for good: not retried until the active
    -- revision changes or an apply is forced.
    blocked_revision BIGINT,
    -- The last apply: its result, when, its report (JSON), and the hash of
    -- the kernel state it verified.
    result           TEXT,
    applied_at       TEXT,
    report           TEXT,
    verified_hash    TEXT,
    -- The last drift check: when, and what differed (JSON list, '[]' in sync).
    checked_at       TEXT,
    drift            TEXT,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (cluster, director)
);

-- Real servers at weight 0 waiting for their connections to end.
CREATE TABLE drains (
    cluster    TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    director   TEXT NOT NULL,
    service    TEXT NOT NULL,
    server     TEXT NOT NULL,
    started_at TEXT NOT NULL,
    -- Deleted at this time whatever connections remain.
    deadline   TEXT NOT NULL,
    PRIMARY KEY (cluster, director, service, server)
);

-- Services lvsd added to a director's table (ownership 'created').
CREATE TABLE created_services (
    cluster    TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    director   TEXT NOT NULL,
    service    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (cluster, director, service)
);

-- A commit confirmed: unless confirmed by the deadline, the cluster rolls
-- back to `fallback` on its own.
CREATE TABLE pending_confirms (
    cluster      TEXT PRIMARY KEY REFERENCES clusters (name) ON DELETE CASCADE,
    revision     BIGINT NOT NULL,
    fallback     BIGINT NOT NULL,
    deadline     TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL
);
