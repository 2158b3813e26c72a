//! What directors report that is not worth a write to the store: their live
//! counters. Kept in memory, the latest per director; lost on a restart,
//! when directors report them again within their report interval.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use utoipa::ToSchema;

use super::clusters::not_found;
use super::{Core, Result};
use crate::apply::Counters;
use crate::store;

/// One director's latest counters for a cluster.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DirectorCounters {
    pub director: String,
    pub counters: Counters,
}

/// Latest counters by `(cluster, director)`.
#[derive(Default)]
pub(super) struct LiveCounters(Mutex<HashMap<(String, String), Arc<Counters>>>);

impl Core {
    /// Keeps `counters` as the latest director `director` counted for `cluster`.
    pub fn record_counters(&self, cluster: &str, director: &str, counters: Counters) {
        let mut live = self.inner.counters.0.lock().expect("counters lock");
        live.insert((cluster.to_string(), director.to_string()), Arc::new(counters));
    }

    /// The latest counters of every director of `cluster` that reported
    /// some since this server started, by director name.
    pub async fn counters(&self, cluster: &str) -> Result<Vec<DirectorCounters>> {
        store::active_revision(self.store().reader(), cluster).await?.ok_or_else(|| not_found(cluster))?;
        Ok(self.latest_counters(cluster))
    }

    /// The same without checking that the cluster exists.
    pub fn latest_counters(&self, cluster: &str) -> Vec<DirectorCounters> {
        let live = self.inner.counters.0.lock().expect("counters lock");
        let mut found: Vec<DirectorCounters> = live
            .iter()
            .filter(|((c, _), _)| c == cluster)
            .map(|((_, director), counters)| DirectorCounters {
                director: director.clone(),
                counters: Counters::clone(counters),
            })
            .collect();
        found.sort_by(|a, b| a.director.cmp(&b.director));
        found
    }

    /// Forgets the counters of a cluster that is gone.
    pub(super) fn forget_counters(&self, cluster: &str) {
        self.inner.counters.0.lock().expect("counters lock").retain(|(c, _), _| c != cluster);
    }
}
