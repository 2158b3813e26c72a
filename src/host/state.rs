//! What lvsd added to this host, remembered in a small JSON file per role, so
//! that it removes exactly that and restores the settings it changed.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::nft::NftFamily;
use super::plan::{PlannedAddress, Role};

/// Where `lvsd host` keeps its state files unless told otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/lvsd/host";

/// A kernel setting lvsd changed, with the value it had before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedSysctl {
    pub path: String,
    pub previous: String,
    pub value: String,
    /// Why lvsd set it (state files of older versions have none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// The records of one role on this host.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Records {
    /// Addresses lvsd added (an address that was there before is not listed).
    #[serde(default)]
    pub addresses: Vec<PlannedAddress>,
    /// Interfaces lvsd created.
    #[serde(default)]
    pub created_links: Vec<String>,
    /// Interfaces that were down and lvsd set up.
    #[serde(default)]
    pub raised_links: Vec<String>,
    #[serde(default)]
    pub sysctls: Vec<ChangedSysctl>,
    /// lvsd's nftables tables, by family.
    #[serde(default)]
    pub nft_tables: Vec<NftTable>,
}

/// An nftables table lvsd wrote, and the SHA-256 of the script that wrote it
/// (the same script is not sent again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NftTable {
    pub family: NftFamily,
    pub sha256: String,
}

impl Records {
    pub fn is_empty(&self) -> bool {
        *self == Records::default()
    }
}

/// The records of one role, and the file that keeps them (none: in memory only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostState {
    pub role: Role,
    pub records: Records,
    path: Option<PathBuf>,
}

impl HostState {
    /// Records kept in memory only (for tests and callers that persist them themselves).
    pub fn in_memory(role: Role) -> Self {
        HostState {
            role,
            records: Records::default(),
            path: None,
        }
    }

    /// The state file of `role` in `dir` (`director.json`, `realserver.json`);
    /// empty records when there is none yet.
    pub fn load(dir: &Path, role: Role) -> Result<Self, String> {
        let path = dir.join(format!("{}.json", role.as_str()));
        let records = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "{}: not a state file of lvsd host ({e}); move it away to start afresh",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Records::default(),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        Ok(HostState {
            role,
            records,
            path: Some(path),
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Writes the records (atomically: a new file renamed over the old), or
    /// removes the file when nothing is left to remember.
    pub fn save(&self) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if self.records.is_empty() {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    Err(format!("removing {}: {e}", path.display()))
                }
                _ => Ok(()),
            };
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(&self.records).expect("records always serialize");
        std::fs::write(&tmp, text + "\n").map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .map_err(|e| format!("renaming {} to {}: {e}", tmp.display(), path.display()))
    }
}
