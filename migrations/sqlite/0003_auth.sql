-- Access tokens, and the hash chain that makes the audit log tamper-evident.

-- Bearer tokens `lvsd_<id>_<secret>`. The secret is never stored: only its
-- SHA-256. Rows are kept after revocation so that `lvsd token list` and the
-- audit log can still name them; once any row exists the API is closed.
CREATE TABLE tokens (
    -- The public half of the token, used to find the row.
    id          TEXT PRIMARY KEY,
    -- Who the token belongs to: the actor recorded in the audit log.
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'agent')),
    -- The one cluster an agent token serves; NULL for every other role.
    cluster     TEXT,
    -- Hex SHA-256 of the secret half.
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT,
    revoked_by  TEXT,
    CHECK ((role = 'agent') = (cluster IS NOT NULL))
);

-- A name belongs to one live token at a time; revoked tokens free their name.
CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL;

-- Each audit entry stores the hash of the entry before it (64 zeros for the
-- first) and its own hash, SHA-256(prev_hash || canonical fields), both hex.
-- Entries written before this migration are chained by lvsd right after it
-- runs (`store::chain_unhashed`), in id order; the chain vouches for them
-- from then on, not for what happened to them before.
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN hash TEXT NOT NULL DEFAULT '';

-- Append-only, as far as SQL goes: a chained entry can be neither changed
-- nor deleted through lvsd or an sqlite3 shell. Whoever drops these triggers
-- to rewrite history is caught by `lvsd audit verify`.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log WHEN OLD.hash <> ''
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
