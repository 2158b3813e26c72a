-- Director high availability, as the server sees it.

-- Each director's latest VRRP and sync daemon state (`HaReport`, JSON;
-- `null` when its report carried none), shared like the rest of its live
-- report on PostgreSQL; SQL NULL: no report since this column exists.
ALTER TABLE director_live ADD COLUMN ha TEXT;

-- The latest controlled switchover asked of each cluster (`lvsd ha
-- switchover`); `seq` grows with every request, and the VRRP master steps
-- down when it passes the one it acted on.
CREATE TABLE switchover_requests (
    cluster      TEXT PRIMARY KEY REFERENCES clusters (name) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    -- One VRRP instance; every instance of the cluster when NULL.
    instance     TEXT,
    requested_at TEXT NOT NULL,
    requested_by TEXT NOT NULL
);

-- The flags the server raised on VRRP instances (`no_master`,
-- `split_brain`) and has not cleared yet: raising and clearing are each
-- audited once, and a restarted server knows what it raised before.
CREATE TABLE ha_flags (
    cluster  TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    instance TEXT NOT NULL,
    vrid     BIGINT NOT NULL,
    flag     TEXT NOT NULL CHECK (flag IN ('no_master', 'split_brain')),
    -- When it was raised, RFC 3339.
    since    TEXT NOT NULL,
    PRIMARY KEY (cluster, instance, vrid, flag)
);
