-- Clusters, each with one editable draft.
CREATE TABLE clusters (
    name             TEXT PRIMARY KEY,
    -- Distinguishes a cluster from an earlier one of the same name, so an
    -- ETag issued before a delete never matches the new draft.
    uid              TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    draft_spec       TEXT NOT NULL,
    draft_version    BIGINT NOT NULL,
    draft_updated_at TEXT NOT NULL,
    draft_updated_by TEXT NOT NULL,
    active_revision  BIGINT
);

-- Immutable, numbered revisions: rows are inserted, never updated.
CREATE TABLE revisions (
    cluster      TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    number       BIGINT NOT NULL,
    parent       BIGINT,
    author       TEXT NOT NULL,
    message      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    spec         TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    kind         TEXT NOT NULL,
    rollback_of  BIGINT,
    PRIMARY KEY (cluster, number)
);

-- Append-only record of every change and every refused attempt. It outlives
-- the clusters it names, so it has no foreign key.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    request_id TEXT NOT NULL,
    cluster    TEXT,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT NOT NULL
);

CREATE INDEX audit_log_by_cluster ON audit_log (cluster, id);
CREATE INDEX audit_log_by_actor ON audit_log (actor, id);
