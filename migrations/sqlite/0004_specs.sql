-- Specs stored once, by content, apart from the rows that name them.
--
-- A spec of 10,000 services is about 2 MB of JSON. Kept inline, every draft
-- edit rewrote the clusters row and every commit wrote the spec again into
-- its revision and rewrote the clusters row once more (SQLite rewrites a
-- whole row on any update). Now an edit of the draft writes its new spec
-- once, and a commit of the draft writes no spec at all: the revision names
-- the spec the draft already stored, by its content hash.

-- Canonical JSON specs. Rows are added by draft edits and commits, and
-- deleted once neither a draft nor a revision names them.
CREATE TABLE specs (
    id   INTEGER PRIMARY KEY,
    -- Hex SHA-256 of `json` (a revision's `content_hash`). NULL only for a
    -- draft carried over by this migration, until lvsd hashes it right after
    -- (`store::hash_unhashed_specs`): SQL has no SHA-256.
    hash TEXT UNIQUE,
    json TEXT NOT NULL
);

-- Every revision's spec, once per content.
INSERT INTO specs (hash, json)
SELECT content_hash, min(spec) FROM revisions GROUP BY content_hash;

-- Each cluster's draft: its spec, and the version its ETag carries.
CREATE TABLE drafts (
    cluster    TEXT PRIMARY KEY REFERENCES clusters (name) ON DELETE CASCADE,
    spec       INTEGER NOT NULL REFERENCES specs (id),
    version    BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

-- A draft equal to one of its cluster's revisions shares that spec; any
-- other draft gets a row of its own, hashed by lvsd after the migration.
INSERT INTO specs (hash, json)
SELECT NULL, c.draft_spec FROM clusters c
WHERE NOT EXISTS (SELECT 1 FROM revisions r WHERE r.cluster = c.name AND r.spec = c.draft_spec);

INSERT INTO drafts (cluster, spec, version, updated_at, updated_by)
SELECT c.name,
       coalesce(
           (SELECT s.id FROM revisions r JOIN specs s ON s.hash = r.content_hash
            WHERE r.cluster = c.name AND r.spec = c.draft_spec LIMIT 1),
           (SELECT s.id FROM specs s WHERE s.hash IS NULL AND s.json = c.draft_spec LIMIT 1)),
       c.draft_version, c.draft_updated_at, c.draft_updated_by
FROM clusters c;

-- Two clusters with the same unhashed draft share the first copy.
DELETE FROM specs WHERE hash IS NULL AND id NOT IN (SELECT spec FROM drafts);

ALTER TABLE revisions DROP COLUMN spec;
-- Whether a spec is still named by a revision, when a draft moves off it.
CREATE INDEX revisions_by_content ON revisions (content_hash);

ALTER TABLE clusters DROP COLUMN draft_spec;
ALTER TABLE clusters DROP COLUMN draft_version;
ALTER TABLE clusters DROP COLUMN draft_updated_at;
ALTER TABLE clusters DROP COLUMN draft_updated_by;
