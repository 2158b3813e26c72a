//! Start-up checks of a SQLite database, made on one connection before the
//! pools open, so that what is wrong is said at once (a pool would retry a
//! failing connection until its timeout and report only that).

use std::path::Path;

use sqlx::{AnyConnection, Connection, Executor};

use super::{StorageFault, StoreError};

/// How thoroughly the database is checked at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntegrityCheck {
    /// No check.
    Off,
    /// `PRAGMA quick_check`: the structure of every page, in linear time.
    #[default]
    Quick,
    /// `PRAGMA integrity_check`: also that indexes match their tables.
    Full,
}

/// What [`Store::open_checked`](super::Store::open_checked) checks.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartChecks {
    /// Whether a missing or empty database file may be made a new database.
    pub create: bool,
    pub integrity: IntegrityCheck,
}

/// Checks the SQLite file at `path` (`url` opens it read-write, without
/// creating it).
pub(super) async fn check_sqlite(
    url: &str,
    path: &Path,
    checks: StartChecks,
) -> Result<(), StoreError> {
    let shown = path.display();
    let empty = match std::fs::metadata(path) {
        Ok(meta) => meta.len() == 0,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => true,
        Err(err) => return Err(StoreError::NotUsable(format!("{shown}: {err}"))),
    };
    if empty {
        return if checks.create {
            Ok(())
        } else {
            Err(StoreError::NotUsable(format!(
                "{shown} does not exist or is empty: start with --init to create a new database there \
                 (if this server had a database at that path, restore it instead)"
            )))
        };
    }
    for (what, place) in [("file", path), ("directory", path.parent().unwrap_or(path))] {
        let place = if place.as_os_str().is_empty() {
            Path::new(".")
        } else {
            place
        };
        if let Err(err) = rustix::fs::access(place, rustix::fs::Access::WRITE_OK) {
            return Err(StorageFault::ReadOnly(format!(
                "the {what} {} cannot be written: {err}; lvsd serve writes to its database",
                place.display()
            ))
            .into());
        }
    }
    let unusable = |err: sqlx::Error| {
        StoreError::NotUsable(format!("{shown} is not a usable SQLite database: {err}"))
    };
    super::install_drivers();
    let mut conn = AnyConnection::connect(url).await.map_err(unusable)?;
    let pragma = match checks.integrity {
        IntegrityCheck::Off => None,
        IntegrityCheck::Quick => Some("quick_check"),
        IntegrityCheck::Full => Some("integrity_check"),
    };
    if let Some(pragma) = pragma {
        let found: Vec<String> = sqlx::query_scalar(&format!("PRAGMA {pragma}(20)"))
            .fetch_all(&mut conn)
            .await
            .map_err(unusable)?;
        if found != ["ok"] {
            return Err(StoreError::NotUsable(format!(
                "{shown} fails its integrity check (PRAGMA {pragma}): {}; restore it from a backup \
                 (or start with --integrity-check off to read what is left)",
                found.join("; ")
            )));
        }
    }
    // The writers' lock, taken and given back: a database SQLite opened
    // read-only refuses it.
    let taken = conn.execute("BEGIN IMMEDIATE").await;
    match taken {
        Ok(_) => {
            conn.execute("ROLLBACK").await.map_err(unusable)?;
        }
        Err(err) => {
            let err = StoreError::from(err);
            return Err(match err.storage_fault() {
                Some(fault) => fault.into(),
                None => StoreError::NotUsable(format!("{shown}: {err}")),
            });
        }
    }
    let _ = conn.close().await;
    Ok(())
}
