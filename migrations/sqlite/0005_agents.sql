-- Remote directors (`lvsd agent`): what each agent says about itself, the
-- canary rollout of each cluster, and requests to zero counters.

-- The agent's version, how often it promised to report (a director is stale
-- after three intervals without a report), when it last reported, the last
-- zeroing request it did, and since when it has not run its desired revision.
ALTER TABLE director_status ADD COLUMN agent_version TEXT;
ALTER TABLE director_status ADD COLUMN report_interval_secs BIGINT;
ALTER TABLE director_status ADD COLUMN heartbeat_at TEXT;
ALTER TABLE director_status ADD COLUMN zeroed_seq BIGINT;
ALTER TABLE director_status ADD COLUMN behind_since TEXT;

-- The rollout of a cluster's active revision: canaries run `revision` at
-- once; the other directors run `released` until the canaries have run
-- `revision` in sync for the soak time (then `released` = `revision`).
CREATE TABLE rollouts (
    cluster         TEXT PRIMARY KEY REFERENCES clusters (name) ON DELETE CASCADE,
    -- The active revision this rollout is about.
    revision        BIGINT,
    -- The revision every director runs; what non-canaries keep meanwhile.
    released        BIGINT,
    state           TEXT NOT NULL CHECK (state IN ('canary', 'released', 'halted')),
    -- When it entered `state`, and why.
    since           TEXT NOT NULL,
    reason          TEXT,
    -- Since when every canary has run `revision` in sync, without a break.
    soak_started_at TEXT
);

-- The latest request to zero counters (`ipvsadm -Z`) of each cluster;
-- `seq` grows with every request, and agents zero when it passes theirs.
CREATE TABLE zero_requests (
    cluster      TEXT PRIMARY KEY REFERENCES clusters (name) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    service      TEXT,
    requested_at TEXT NOT NULL,
    requested_by TEXT NOT NULL
);
