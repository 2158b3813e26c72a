//! The fail-static cache: the last revision an agent applied, with what it
//! remembers about the table (drains, services it created), one file per
//! cluster in the state directory. After a reboot with the server out of
//! reach, the agent restores the table from it.
//!
//! The file is written atomically (a temporary file, fsync, rename, fsync of
//! the directory), so a crash leaves the old cache or the new one, never a
//! mix. Its first line carries the SHA-256 of the rest: a file damaged on
//! disk or edited by hand is refused as corrupt, whatever it parses to, and
//! so is one whose spec does not validate. A corrupt cache is never applied.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::apply::{DirectorState, DrainRecord};
use crate::contract::agent::Desired;
use crate::ipvs::DestKey;
use crate::model::time::rfc3339;
use crate::model::{ServiceKey, Spec};

/// The first line's prefix; the hex SHA-256 of everything after that line follows it.
const HEADER: &str = "# lvsd agent cache v1 sha256:";

/// What the agent caches for a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheEntry {
    /// The desired state last applied: the revision, its spec and the settings.
    pub desired: Desired,
    pub state: DirectorState,
    /// The last zeroing request done, so that a restart does not zero again.
    pub zeroed_seq: Option<u64>,
}

impl CacheEntry {
    /// The cached revision and its validated spec.
    pub fn revision(&self) -> (i64, Spec) {
        let revision = self.desired.revision.expect("checked on load and save");
        let spec = self
            .desired
            .spec
            .as_ref()
            .expect("checked on load and save")
            .validate()
            .expect("checked on load and save");
        (revision, spec)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The file is there but cannot be trusted.
    #[error("the cache file {path} is corrupt: {why}")]
    Corrupt { path: PathBuf, why: String },
    #[error("the cache file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Nothing worth caching was given.
    #[error("not caching: {0}")]
    Invalid(String),
}

/// The cache files of one state directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Cache { dir: dir.into() }
    }

    /// The file of `cluster`: `DIR/CLUSTER.json` (cluster names are file-name safe).
    pub fn path(&self, cluster: &str) -> PathBuf {
        self.dir.join(format!("{cluster}.json"))
    }

    /// Reads the cache of `cluster`: `None` when there is none.
    pub fn load(&self, cluster: &str) -> Result<Option<CacheEntry>, CacheError> {
        let path = self.path(cluster);
        let text = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CacheError::Io { path, source }),
        };
        let corrupt = |why: String| CacheError::Corrupt {
            path: path.clone(),
            why,
        };
        let entry = parse(&text, cluster).map_err(corrupt)?;
        Ok(Some(entry))
    }

    /// Moves a corrupt cache aside (`CLUSTER.json.corrupt`), for an operator
    /// to look at, so that the next start does not trip on it again.
    pub fn set_aside(&self, cluster: &str) -> std::io::Result<PathBuf> {
        let path = self.path(cluster);
        let aside = path.with_extension("json.corrupt");
        std::fs::rename(&path, &aside)?;
        Ok(aside)
    }

    /// Writes the cache of the cluster of `entry`, atomically.
    pub fn save(&self, entry: &CacheEntry) -> Result<(), CacheError> {
        let path = self.path(&entry.desired.cluster);
        let io = |source| CacheError::Io {
            path: path.clone(),
            source,
        };
        let text = render(entry).map_err(CacheError::Invalid)?;
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let temp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temp, &path)?;
            // The rename itself is durable once the directory is synced.
            std::fs::File::open(&self.dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written.map_err(io)
    }
}

/// The file's body, as JSON.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    /// When it was written, RFC 3339 (for people reading it).
    saved_at: String,
    desired: Desired,
    applied: Option<i64>,
    blocked: Option<i64>,
    #[serde(default)]
    drains: Vec<StoredDrain>,
    #[serde(default)]
    created: BTreeSet<ServiceKey>,
    zeroed_seq: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredDrain {
    service: ServiceKey,
    server: SocketAddr,
    started_at: String,
    deadline: String,
}

fn render(entry: &CacheEntry) -> Result<String, String> {
    check_desired(&entry.desired)?;
    let state = &entry.state;
    let stored = Stored {
        saved_at: rfc3339(SystemTime::now()),
        desired: entry.desired.clone(),
        applied: state.applied,
        blocked: state.blocked,
        drains: state
            .drains
            .iter()
            .map(|((service, dest), record)| StoredDrain {
                service: *service,
                server: dest.socket_addr(),
                started_at: rfc3339(record.started_at),
                deadline: rfc3339(record.deadline),
            })
            .collect(),
        created: state.created.clone(),
        zeroed_seq: entry.zeroed_seq,
    };
    let body = serde_json::to_string_pretty(&stored).map_err(|err| err.to_string())?;
    Ok(format!(
        "{HEADER}{}\n{body}\n",
        hex::encode(Sha256::digest(body.as_bytes()))
    ))
}

fn parse(bytes: &[u8], cluster: &str) -> Result<CacheEntry, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())?;
    let (header, body) = text.split_once('\n').ok_or("it has no header line")?;
    let sum = header
        .strip_prefix(HEADER)
        .ok_or_else(|| format!("its first line is not `{HEADER}...`"))?;
    let body = body.strip_suffix('\n').unwrap_or(body);
    if hex::encode(Sha256::digest(body.as_bytes())) != sum.trim() {
        return Err("its SHA-256 does not match its content (damaged or edited)".to_string());
    }
    let stored: Stored =
        serde_json::from_str(body).map_err(|err| format!("it does not parse: {err}"))?;
    if stored.desired.cluster != cluster {
        return Err(format!(
            "it is the cache of cluster {}, not {cluster}",
            stored.desired.cluster
        ));
    }
    check_desired(&stored.desired)?;
    let time = |what: &str, at: &str| {
        humantime::parse_rfc3339_weak(at)
            .map_err(|err| format!("{what} `{at}` is not a time: {err}"))
    };
    let mut drains = BTreeMap::new();
    for drain in &stored.drains {
        let record = DrainRecord {
            started_at: time("started_at", &drain.started_at)?,
            deadline: time("deadline", &drain.deadline)?,
        };
        drains.insert(
            (
                drain.service,
                DestKey {
                    addr: drain.server.ip(),
                    port: drain.server.port(),
                },
            ),
            record,
        );
    }
    let state = DirectorState {
        applied: stored.applied,
        blocked: stored.blocked,
        drains,
        created: stored.created,
    };
    Ok(CacheEntry {
        desired: stored.desired,
        state,
        zeroed_seq: stored.zeroed_seq,
    })
}

/// A cached desired state names a revision whose spec validates.
fn check_desired(desired: &Desired) -> Result<(), String> {
    let revision = desired.revision.ok_or("it names no revision")?;
    let spec = desired
        .spec
        .as_ref()
        .ok_or_else(|| format!("revision {revision} has no spec"))?;
    spec.validate()
        .map_err(|err| format!("the spec of revision {revision} is invalid: {err}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::contract::ClusterSettings;

    fn entry() -> CacheEntry {
        let spec = serde_json::from_value(serde_json::json!({
            "services": [{"id": "tcp:192.168.31.100:80", "scheduler": "wrr",
                "servers": [{"address": "172.25.0.31", "forwarding": "nat", "weight": 1}]}]
        }))
        .unwrap();
        let desired = Desired {
            cluster: "web".into(),
            revision: Some(4),
            active_revision: Some(4),
            spec: Some(spec),
            settings: ClusterSettings {
                drain: true,
                ..ClusterSettings::default()
            },
            zero: None,
            switchover: None,
        };
        let service: ServiceKey = "tcp:192.168.31.100:80".parse().unwrap();
        let started_at = humantime::parse_rfc3339("2026-11-25T10:00:00.250Z").unwrap();
        let mut state = DirectorState {
            applied: Some(4),
            blocked: Some(5),
            ..DirectorState::default()
        };
        state.drains.insert(
            (
                service,
                DestKey {
                    addr: "172.25.0.32".parse().unwrap(),
                    port: 80,
                },
            ),
            DrainRecord {
                started_at,
                deadline: started_at + Duration::from_secs(300),
            },
        );
        state.created.insert(service);
        CacheEntry {
            desired,
            state,
            zeroed_seq: Some(7),
        }
    }

    #[test]
    fn what_is_saved_loads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("state"));
        assert!(cache.load("web").unwrap().is_none(), "no file, no cache");
        cache.save(&entry()).unwrap();
        assert_eq!(cache.load("web").unwrap(), Some(entry()));
        assert_eq!(cache.load("web").unwrap().unwrap().revision().0, 4);
        // One file per cluster, and no temporary file left behind.
        let files: Vec<_> = std::fs::read_dir(dir.path().join("state"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files, ["web.json"]);
    }

    #[test]
    fn a_newer_save_replaces_the_older() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        cache.save(&entry()).unwrap();
        let mut newer = entry();
        newer.desired.revision = Some(5);
        newer.state.applied = Some(5);
        newer.state.blocked = None;
        cache.save(&newer).unwrap();
        assert_eq!(cache.load("web").unwrap(), Some(newer));
    }

    fn corrupt_reason(dir: &Path) -> String {
        match Cache::new(dir).load("web") {
            Err(CacheError::Corrupt { why, .. }) => why,
            other => panic!("expected a corrupt cache, got {other:?}"),
        }
    }

    #[test]
    fn a_damaged_file_is_corrupt_and_never_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        cache.save(&entry()).unwrap();
        let path = cache.path("web");
        let good = std::fs::read_to_string(&path).unwrap();

        // A weight changed by hand: still valid JSON, but not what was written.
        std::fs::write(&path, good.replace("\"weight\": 1", "\"weight\": 9")).unwrap();
        assert!(corrupt_reason(dir.path()).contains("SHA-256 does not match"));

        // Cut short, as a crash without the atomic rename would leave it.
        std::fs::write(&path, &good[..good.len() / 2]).unwrap();
        assert!(corrupt_reason(dir.path()).contains("SHA-256"));

        std::fs::write(&path, "garbage").unwrap();
        assert!(corrupt_reason(dir.path()).contains("no header line"));

        std::fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
        assert!(corrupt_reason(dir.path()).contains("not UTF-8"));

        // Moved aside, the next start finds no cache at all.
        let aside = cache.set_aside("web").unwrap();
        assert!(aside.ends_with("web.json.corrupt"));
        assert!(cache.load("web").unwrap().is_none());
    }

    /// A file written with a good checksum around bad content, as a bug or a
    /// hand edit that recomputed the sum would leave it.
    fn with_sum(body: &str) -> String {
        format!(
            "{HEADER}{}\n{body}\n",
            hex::encode(Sha256::digest(body.as_bytes()))
        )
    }

    #[test]
    fn a_cache_whose_spec_is_invalid_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        cache.save(&entry()).unwrap();
        let good = std::fs::read_to_string(cache.path("web")).unwrap();
        let body = good.split_once('\n').unwrap().1.trim_end();

        let bad_weight = body.replace("\"weight\": 1", "\"weight\": 70000");
        std::fs::write(cache.path("web"), with_sum(&bad_weight)).unwrap();
        let why = corrupt_reason(dir.path());
        assert!(why.contains("spec of revision 4 is invalid"), "{why}");

        let other_cluster = body.replace("\"cluster\": \"web\"", "\"cluster\": \"shop\"");
        std::fs::write(cache.path("web"), with_sum(&other_cluster)).unwrap();
        assert_eq!(
            corrupt_reason(dir.path()),
            "it is the cache of cluster shop, not web"
        );
    }

    #[test]
    fn a_desired_state_without_a_revision_is_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let mut nothing = entry();
        nothing.desired.revision = None;
        let err = Cache::new(dir.path()).save(&nothing).unwrap_err();
        assert!(err.to_string().contains("names no revision"), "{err}");
        assert!(!Cache::new(dir.path()).path("web").exists());
    }
}
