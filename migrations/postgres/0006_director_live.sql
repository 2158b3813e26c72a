-- Directors' live reports shared by the servers on this database; see
-- ../sqlite/0006_director_live.sql.
CREATE TABLE director_live (
    cluster     TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    director    TEXT NOT NULL,
    counters    TEXT,
    health      TEXT,
    host_errors TEXT,
    reported_at TEXT NOT NULL,
    PRIMARY KEY (cluster, director)
);
