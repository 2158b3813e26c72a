//! The audit log's hash chain.
//!
//! Entry `n` stores `prev_hash`, the hash of entry `n - 1` ([`GENESIS`] for
//! the first entry), and `hash = SHA-256(prev_hash || canonical(n))`, both as
//! lowercase hex. `canonical` is the JSON array of the entry's fields in a
//! fixed order: `[id, at, actor, request_id, cluster, action, target,
//! outcome, detail]`. Editing, deleting, inserting or reordering entries
//! breaks the chain at the first entry touched, which [`verify`] names.
//!
//! What a chain cannot show by itself: that entries were cut off the end, or
//! that someone rewrote an entry and recomputed every hash after it. Keep the
//! head hash somewhere else (`lvsd audit verify` prints it) and check against
//! it with `--expect`.

use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AnyPool};
use tokio_stream::StreamExt;

use super::{AuditRow, StoreError};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of `row` chained after `prev_hash`.
pub fn entry_hash(prev_hash: &str, row: &AuditRow) -> String {
    let canonical = json!([
        row.id,
        row.at,
        row.actor,
        row.request_id,
        row.cluster,
        row.action,
        row.target,
        row.outcome,
        row.detail,
    ]);
    let mut digest = Sha256::new();
    digest.update(prev_hash.as_bytes());
    digest.update(canonical.to_string().as_bytes());
    hex::encode(digest.finalize())
}

/// The id and hash of the last entry, if any.
async fn head(conn: &mut AnyConnection) -> Result<Option<(i64, String)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_optional(conn)
            .await?,
    )
}

/// Appends `row` (its `id` is ignored) after the current head and returns the
/// new id. Call it inside the write transaction of the change it records:
/// reading the head and inserting must not be separated by another writer.
pub async fn append(conn: &mut AnyConnection, row: &AuditRow) -> Result<i64, StoreError> {
    let (id, prev_hash) = match head(&mut *conn).await? {
        Some((id, hash)) => (id + 1, hash),
        None => (1, GENESIS.to_string()),
    };
    let row = AuditRow { id, ..row.clone() };
    let hash = entry_hash(&prev_hash, &row);
    // An explicit id: if another writer slipped in, the insert fails on the
    // primary key instead of forking the chain.
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, request_id, cluster, action, target, outcome, detail, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(row.id)
    .bind(&row.at)
    .bind(&row.actor)
    .bind(&row.request_id)
    .bind(&row.cluster)
    .bind(&row.action)
    .bind(&row.target)
    .bind(&row.outcome)
    .bind(&row.detail)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(conn)
    .await?;
    Ok(id)
}

#[derive(sqlx::FromRow)]
struct ChainedRow {
    #[sqlx(flatten)]
    row: AuditRow,
    prev_hash: String,
    hash: String,
}

/// Chains the entries written before the chain existed (their `hash` is
/// empty), in id order, and returns how many there were. Run after migrating.
pub async fn chain_unhashed(store: &super::Store) -> Result<usize, StoreError> {
    let mut tx = store.begin().await?;
    let rows: Vec<ChainedRow> = sqlx::query_as("SELECT * FROM audit_log ORDER BY id")
        .fetch_all(&mut *tx)
        .await?;
    let mut prev = GENESIS.to_string();
    let mut chained = 0;
    for ChainedRow { row, hash, .. } in rows {
        if hash.is_empty() {
            let hash = entry_hash(&prev, &row);
            sqlx::query("UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE id = $3")
                .bind(&prev)
                .bind(&hash)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
            chained += 1;
            prev = hash;
        } else {
            prev = hash;
        }
    }
    tx.commit().await?;
    Ok(chained)
}

/// The first entry at which the chain breaks, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEntry {
    pub id: i64,
    pub reason: String,
}

/// The outcome of walking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Entries read, up to and including the first bad one.
    pub entries: u64,
    /// The last entry's id and hash when the chain holds.
    pub head: Option<(i64, String)>,
    pub first_bad: Option<BadEntry>,
    /// Whether an entry with the hash `verify` was asked to find exists.
    pub expected_found: bool,
}

/// Walks the chain from the first entry and stops at the first that does not
/// hold: a hash that does not match the entry's fields (edited, reordered),
/// a `prev_hash` that does not match the entry before (deleted, inserted),
/// or a gap in the ids (deleted).
pub async fn verify(pool: &AnyPool, expect: Option<&str>) -> Result<ChainReport, StoreError> {
    let mut rows =
        sqlx::query_as::<_, ChainedRow>("SELECT * FROM audit_log ORDER BY id").fetch(pool);
    let mut report = ChainReport {
        entries: 0,
        head: None,
        first_bad: None,
        expected_found: false,
    };
    let mut prev: Option<(i64, String)> = None;
    while let Some(ChainedRow {
        row,
        prev_hash,
        hash,
    }) = rows.next().await.transpose()?
    {
        report.entries += 1;
        let bad = |reason: String| Some(BadEntry { id: row.id, reason });
        let (expected_prev, expected_id) = match &prev {
            Some((id, hash)) => (hash.as_str(), id + 1),
            None => (GENESIS, 1),
        };
        report.first_bad = if hash.is_empty() {
            bad("it has no hash: it was written around the chain".to_string())
        } else if row.id != expected_id {
            let missing = if row.id - 1 == expected_id {
                format!("entry {expected_id} is missing")
            } else {
                format!("entries {expected_id} to {} are missing", row.id - 1)
            };
            match &prev {
                Some((id, _)) => bad(format!("it follows entry {id}: {missing}")),
                None => bad(format!("it is the first entry: {missing}")),
            }
        } else if prev_hash != expected_prev {
            match &prev {
                Some((id, _)) => bad(format!(
                    "its prev_hash is not entry {id}'s hash: an entry was removed or inserted before it, or its prev_hash was edited"
                )),
                None => bad("it is the first entry but its prev_hash is not the genesis hash: earlier entries were removed".to_string()),
            }
        } else if entry_hash(&prev_hash, &row) != hash {
            bad("its fields do not match its hash: the entry was edited or moved".to_string())
        } else {
            None
        };
        if report.first_bad.is_some() {
            return Ok(report);
        }
        if expect == Some(hash.as_str()) {
            report.expected_found = true;
        }
        prev = Some((row.id, hash));
    }
    report.head = prev;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> AuditRow {
        AuditRow {
            id,
            at: "2025-01-01T00:00:00.000Z".into(),
            actor: "alice".into(),
            request_id: "r1".into(),
            cluster: Some("web".into()),
            action: "revision.commit".into(),
            target: "1".into(),
            outcome: "ok".into(),
            detail: "{}".into(),
        }
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let base = entry_hash(GENESIS, &row(1));
        let edits: [fn(&mut AuditRow); 9] = [
            |r| r.id = 2,
            |r| r.at.push('x'),
            |r| r.actor.push('x'),
            |r| r.request_id.push('x'),
            |r| r.cluster = None,
            |r| r.action.push('x'),
            |r| r.target.push('x'),
            |r| r.outcome.push('x'),
            |r| r.detail.push(' '),
        ];
        for edit in edits {
            let mut edited = row(1);
            edit(&mut edited);
            assert_ne!(entry_hash(GENESIS, &edited), base, "{edited:?}");
        }
        assert_ne!(entry_hash(&"1".repeat(64), &row(1)), base);
    }

    #[test]
    fn fields_cannot_be_shifted_into_each_other() {
        let mut a = row(1);
        a.actor = "al".into();
        a.request_id = "icer1".into();
        let mut b = row(1);
        b.actor = "alice".into();
        b.request_id = "r1".into();
        assert_ne!(entry_hash(GENESIS, &a), entry_hash(GENESIS, &b));
    }
}
