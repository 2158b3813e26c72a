-- What directors report that is not worth a write to the store of one
-- server (their live counters, their real servers' health, why their host
-- settings fail), shared by the servers on one PostgreSQL database: each
-- keeps these in memory, and on PostgreSQL also upserts every report here,
-- the latest per director, so that any of them serves it. SQLite (one
-- server) never writes it; it has the table so both schemas stay alike and
-- `lvsd migrate --to` copies every table.
CREATE TABLE director_live (
    cluster     TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    director    TEXT NOT NULL,
    -- The latest counters, JSON (`Counters`); NULL until some are reported.
    counters    TEXT,
    -- The latest health of the real servers, JSON (`DirectorServersHealth`);
    -- NULL until some is reported.
    health      TEXT,
    -- Why the host settings failed at the latest report, a JSON array of
    -- strings; `[]` when they work.
    host_errors TEXT,
    -- When the latest report reached a server, RFC 3339 UTC with
    -- milliseconds: an older report never replaces a newer one.
    reported_at TEXT NOT NULL,
    PRIMARY KEY (cluster, director)
);
