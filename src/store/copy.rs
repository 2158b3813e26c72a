//! Copying a whole database into an empty PostgreSQL one (`lvsd migrate
//! --db lvsd.db --to postgres://...`): every table, every row as it is, so
//! revision numbers, spec ids, tokens and the audit log's hash chain carry
//! over unchanged. One transaction: the target gets everything or nothing.

use sqlx::{AnyPool, Row};

use super::{Backend, Store, StoreError};

/// Every table, parents before the rows that name them, each with the
/// order its rows are copied in.
const TABLES: &[(&str, &str)] = &[
    ("clusters", "name"),
    ("specs", "id"),
    ("drafts", "cluster"),
    ("revisions", "cluster, number"),
    ("audit_log", "id"),
    ("cluster_settings", "cluster"),
    ("director_status", "cluster, director"),
    ("drains", "cluster, director, service, server"),
    ("created_services", "cluster, director, service"),
    ("pending_confirms", "cluster"),
    ("tokens", "id"),
    ("rollouts", "cluster"),
    ("zero_requests", "cluster"),
    ("director_live", "cluster, director"),
    ("switchover_requests", "cluster"),
    ("ha_flags", "cluster, instance, vrid, flag"),
];

/// Rows copied per table, in [`TABLES`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<(&'static str, u64)>,
}

/// A column of the target, and whether it holds integers (else text: the
/// schema has no other types).
struct Column {
    name: String,
    integer: bool,
}

async fn columns(pool: &AnyPool, table: &str) -> Result<Vec<Column>, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, kind)| Column {
            integer: kind == "bigint",
            name,
        })
        .collect())
}

/// Copies every row of `from` into `to`, which must be PostgreSQL, migrated
/// to the same version, and empty.
pub async fn copy_database(from: &Store, to: &Store) -> Result<CopyReport, StoreError> {
    if to.backend != Backend::Postgres {
        return Err(StoreError::Unsupported(
            "lvsd migrate --to copies into a postgres:// database only".into(),
        ));
    }
    let mut tx = to.begin().await?;
    for (table, _) in TABLES {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *tx)
            .await?;
        if rows > 0 {
            return Err(StoreError::Unsupported(format!(
                "the target database already has {rows} row(s) in {table}: lvsd migrate --to copies into an empty database only"
            )));
        }
    }
    let mut report = CopyReport { tables: Vec::new() };
    for (table, order) in TABLES {
        let columns = columns(to.reader(), table).await?;
        let names = columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let placeholders = (1..=columns.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let insert = format!("INSERT INTO {table} ({names}) VALUES ({placeholders})");
        let rows = sqlx::query(&format!("SELECT {names} FROM {table} ORDER BY {order}"))
            .fetch_all(from.reader())
            .await?;
        for row in &rows {
            let mut query = sqlx::query(&insert);
            for (i, column) in columns.iter().enumerate() {
                query = if column.integer {
                    query.bind(row.try_get::<Option<i64>, _>(i)?)
                } else {
                    query.bind(row.try_get::<Option<String>, _>(i)?)
                };
            }
            query.execute(&mut *tx).await?;
        }
        report.tables.push((table, rows.len() as u64));
    }
    // Spec ids were copied as they were: new specs must be numbered after them.
    sqlx::query("SELECT setval(pg_get_serial_sequence('specs', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM specs), false)")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(report)
}
