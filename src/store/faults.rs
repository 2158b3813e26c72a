//! Storage faults the server knows as states rather than as generic
//! failures: a full disk, a database that cannot be written, a SQLite file
//! deleted or replaced under the running server.
//!
//! A write that fails for one of these reasons is refused naming it; the
//! readiness check ([`Store::check_writable`](super::Store::check_writable))
//! looks for the same conditions, so a server that cannot write says so
//! before a client tries.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::StoreError;

/// Below this many free bytes on the SQLite file's file system, the server
/// does not call itself ready: a commit of a large spec would not fit.
pub const FREE_SPACE_RESERVE: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageFault {
    /// No space left for the database (disk or quota full).
    #[error("the database's storage is full ({0}); writes resume once space is freed")]
    Full(String),
    /// The database cannot be written: a read-only file, file system or
    /// PostgreSQL server.
    #[error("the database is read-only ({0})")]
    ReadOnly(String),
    /// The SQLite file this server opened was deleted or replaced.
    #[error(
        "the database file {0} was deleted or replaced while the server ran; writes are refused \
         (restore the file and restart the server)"
    )]
    Gone(String),
}

impl StoreError {
    /// The storage fault behind this error, if it is one.
    pub fn storage_fault(&self) -> Option<StorageFault> {
        match self {
            StoreError::Fault(fault) => Some(fault.clone()),
            StoreError::Db(sqlx::Error::Database(err)) => {
                let code = err.code().unwrap_or_default();
                let message = err.message().to_string();
                fault_of_code(&code, message)
            }
            StoreError::Db(sqlx::Error::Io(err)) => match err.raw_os_error() {
                Some(28) | Some(122) => Some(StorageFault::Full(err.to_string())),
                Some(30) => Some(StorageFault::ReadOnly(err.to_string())),
                _ => None,
            },
            _ => None,
        }
    }
}

/// The fault a database error code names: SQLite's numeric result codes
/// (primary code in the low byte of an extended one) or PostgreSQL's
/// SQLSTATE.
fn fault_of_code(code: &str, message: String) -> Option<StorageFault> {
    match code {
        // disk_full, insufficient_resources
        "53100" | "53000" => return Some(StorageFault::Full(message)),
        // read_only_sql_transaction
        "25006" => return Some(StorageFault::ReadOnly(message)),
        _ => {}
    }
    match code.parse::<u32>().ok()? & 0xff {
        // SQLITE_FULL
        13 => Some(StorageFault::Full(message)),
        // SQLITE_READONLY (and its extended codes, e.g. DBMOVED)
        8 => Some(StorageFault::ReadOnly(message)),
        _ => None,
    }
}

/// The SQLite file a `--db` value names, `None` for an in-memory database.
pub fn sqlite_file(db: &str) -> Option<PathBuf> {
    let Some(url) = db.strip_prefix("sqlite:") else {
        return Some(PathBuf::from(db));
    };
    let path = url.strip_prefix("//").unwrap_or(url);
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(path).collect::<Vec<u8>>();
    Some(PathBuf::from(OsString::from_vec(decoded)))
}

/// The file a SQLite store opened, by device and inode: if the path names
/// another file later (or none), the database was deleted or replaced.
#[derive(Debug, Clone)]
pub struct FileIdentity {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        Ok(FileIdentity {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// Whether the path still names the file opened.
    pub fn check(&self) -> Result<(), StorageFault> {
        match std::fs::metadata(&self.path) {
            Ok(meta) if meta.dev() == self.dev && meta.ino() == self.ino => Ok(()),
            _ => Err(StorageFault::Gone(self.path.display().to_string())),
        }
    }

    /// Free bytes (for an unprivileged writer) on the file's file system.
    pub fn free_space(&self) -> Option<u64> {
        let dir = self.path.parent().filter(|p| !p.as_os_str().is_empty());
        let stat = rustix::fs::statvfs(dir.unwrap_or(Path::new("."))).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    /// Refuses when the file system has less than [`FREE_SPACE_RESERVE`] free.
    pub fn check_space(&self) -> Result<(), StorageFault> {
        match self.free_space() {
            Some(free) if free < FREE_SPACE_RESERVE => Err(StorageFault::Full(format!(
                "{} bytes free on the file system of {}",
                free,
                self.path.display()
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_name_their_storage_fault() {
        for (code, fault) in [
            ("13", Some("full")),
            ("8", Some("read-only")),
            ("1032", Some("read-only")),
            ("53100", Some("full")),
            ("25006", Some("read-only")),
            ("19", None),
            ("2067", None),
            ("23505", None),
        ] {
            let found = fault_of_code(code, "x".into()).map(|f| match f {
                StorageFault::Full(_) => "full",
                StorageFault::ReadOnly(_) => "read-only",
                StorageFault::Gone(_) => "gone",
            });
            assert_eq!(found, fault, "{code}");
        }
    }

    #[test]
    fn a_db_value_names_its_sqlite_file() {
        for (db, file) in [
            ("lvsd.db", Some("lvsd.db")),
            ("/var/lib/lvsd/lvsd.db", Some("/var/lib/lvsd/lvsd.db")),
            (
                "sqlite:///var/lib/lvsd.db?mode=rwc",
                Some("/var/lib/lvsd.db"),
            ),
            ("sqlite:with%20space.db", Some("with space.db")),
            ("sqlite::memory:", None),
        ] {
            assert_eq!(sqlite_file(db), file.map(PathBuf::from), "{db}");
        }
    }

    #[test]
    fn a_deleted_or_replaced_file_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lvsd.db");
        std::fs::write(&path, b"one").unwrap();
        let identity = FileIdentity::of(&path).unwrap();
        identity.check().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(identity.check(), Err(StorageFault::Gone(_))));
        std::fs::write(&path, b"two").unwrap();
        // Same path, another inode (the old one may be reused only once freed
        // and the test keeps none open, so compare with a file still held).
        let held = dir.path().join("held.db");
        std::fs::write(&held, b"held").unwrap();
        let held_identity = FileIdentity::of(&held).unwrap();
        std::fs::rename(&path, &held).unwrap();
        assert!(matches!(held_identity.check(), Err(StorageFault::Gone(_))));
    }
}
