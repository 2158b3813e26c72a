//! What a director remembers between applies, per cluster: the revision it
//! runs, the real servers it is draining and the services it created. The
//! engine reads and updates it; whoever runs the engine stores it (SQLite
//! for `lvsd serve --apply-local`), so that it survives restarts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use crate::ipvs::DestKey;
use crate::model::ServiceKey;

/// A real server on its way out, and until when it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainRecord {
    pub started_at: SystemTime,
    /// After this, the server is deleted whatever connections it still has.
    pub deadline: SystemTime,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectorState {
    /// The revision last applied and verified.
    pub applied: Option<i64>,
    /// A revision refused or failed for good: not tried again until the
    /// desired revision changes or an apply is forced.
    pub blocked: Option<i64>,
    pub drains: BTreeMap<(ServiceKey, DestKey), DrainRecord>,
    /// Services lvsd added to the table for this cluster (ownership `created`).
    pub created: BTreeSet<ServiceKey>,
}

impl DirectorState {
    /// The earliest drain deadline, if any drain is in progress.
    pub fn next_deadline(&self) -> Option<SystemTime> {
        self.drains.values().map(|d| d.deadline).min()
    }

    /// Drains whose deadline is at or before `now`.
    pub fn expired_drains(&self, now: SystemTime) -> BTreeSet<(ServiceKey, DestKey)> {
        self.drains
            .iter()
            .filter(|(_, d)| d.deadline <= now)
            .map(|(key, _)| *key)
            .collect()
    }
}
