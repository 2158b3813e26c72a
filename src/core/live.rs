//! What directors report that is not worth a write to the store: their live
//! counters, and why their host settings fail. Kept in memory, the latest per director; lost on a restart,
//! when directors report them again within their report interval.
//!
//! On PostgreSQL, where several servers share the database and an agent
//! reports to any one of them, each report is also upserted into
//! `director_live` (one row per director, outside the writers' lock), and
//! every read comes from there: each server shows every director's latest
//! report, whichever server received it. On SQLite (one server) nothing is
//! written and reads come from memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::clusters::not_found;
use super::directors::parse_json;
use super::health::DirectorServersHealth;
use super::now;
use super::{Core, Error, Result};
use crate::apply::Counters;
use crate::contract::agent::HaReport;
use crate::health::ServiceHealthView;
use crate::ipvs::conns::Connection;
use crate::model::{ServiceKey, Spec};
use crate::store::{self, DirectorLiveRow};

/// One director's latest counters for a cluster.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DirectorCounters {
    pub director: String,
    pub counters: Counters,
}

/// Latest counters by `(cluster, director)`.
#[derive(Default)]
pub(super) struct LiveCounters(Mutex<HashMap<(String, String), Arc<Counters>>>);

/// Latest host errors by `(cluster, director)`; only directors whose host settings fail.
#[derive(Default)]
pub(super) struct LiveHostErrors(Mutex<HashMap<(String, String), Vec<String>>>);

/// What one report of a director brought; `None`: nothing of that kind,
/// what it reported before stands.
#[derive(Debug, Default)]
pub struct LiveReport {
    pub counters: Option<Counters>,
    pub health: Option<Vec<ServiceHealthView>>,
    pub host_errors: Option<Vec<String>>,
    /// Its high-availability state, transitions left out (they are audited,
    /// not kept); `Some(None)`: the report carried none.
    pub ha: Option<Option<HaReport>>,
}

impl Core {
    /// Whether directors' live reports are shared through the database
    /// (PostgreSQL: several servers) rather than kept in memory only.
    pub(super) fn shares_live(&self) -> bool {
        self.store().is_shared()
    }

    /// Keeps what director `director` of `cluster` just reported: in memory
    /// on SQLite; on PostgreSQL upserted into `director_live`, for every
    /// server to read.
    pub async fn record_live(&self, cluster: &str, director: &str, report: LiveReport) {
        if self.shares_live() {
            return self.share_live(cluster, director, &report).await;
        }
        let key = || (cluster.to_string(), director.to_string());
        if let Some(counters) = report.counters {
            self.inner
                .counters
                .0
                .lock()
                .expect("counters lock")
                .insert(key(), Arc::new(counters));
        }
        if let Some(services) = report.health {
            let report = DirectorServersHealth {
                director: director.to_string(),
                at: now(),
                services,
            };
            self.inner
                .health
                .0
                .lock()
                .expect("health lock")
                .insert(key(), report);
        }
        if let Some(ha) = report.ha {
            self.inner.ha.0.lock().expect("ha lock").insert(key(), ha);
        }
        if let Some(errors) = report.host_errors {
            let mut live = self.inner.host_errors.0.lock().expect("host errors lock");
            match errors.is_empty() {
                true => live.remove(&key()),
                false => live.insert(key(), errors),
            };
        }
    }

    /// A single-row upsert on the pool, without the writers' lock: reports
    /// never wait on commits. Best effort, like the memory it stands for: a
    /// failure is logged, and the director's next report makes up for it.
    async fn share_live(&self, cluster: &str, director: &str, report: &LiveReport) {
        let at = now();
        let row = (|| -> serde_json::Result<DirectorLiveRow> {
            let health = report
                .health
                .as_ref()
                .map(|services| DirectorServersHealth {
                    director: director.to_string(),
                    at: at.clone(),
                    services: services.clone(),
                });
            Ok(DirectorLiveRow {
                cluster: cluster.to_string(),
                director: director.to_string(),
                counters: report
                    .counters
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?,
                health: health.as_ref().map(serde_json::to_string).transpose()?,
                host_errors: report
                    .host_errors
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?,
                ha: report.ha.as_ref().map(serde_json::to_string).transpose()?,
                reported_at: at.clone(),
            })
        })();
        let result = match row {
            Ok(row) => store::put_director_live(self.store().reader(), &row)
                .await
                .map_err(|e| e.to_string()),
            Err(err) => Err(err.to_string()),
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, cluster, director, "sharing a director's live report with the other servers");
        }
    }

    /// The latest counters of every director of `cluster` that reported
    /// some (since this server started, on SQLite), by director name.
    pub async fn counters(&self, cluster: &str) -> Result<Vec<DirectorCounters>> {
        store::active_revision(self.store().reader(), cluster)
            .await?
            .ok_or_else(|| not_found(cluster))?;
        self.latest_counters(cluster).await
    }

    /// The same without checking that the cluster exists.
    pub async fn latest_counters(&self, cluster: &str) -> Result<Vec<DirectorCounters>> {
        if self.shares_live() {
            let rows = store::directors_live(self.store().reader(), cluster).await?;
            let mut found = rows
                .into_iter()
                .filter_map(|row| Some((row.director, row.counters?)))
                .map(|(director, json)| {
                    Ok(DirectorCounters {
                        director,
                        counters: parse_json("counters", &json)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            // In Rust's order, as from memory: the database's collation may differ.
            found.sort_by(|a, b| a.director.cmp(&b.director));
            return Ok(found);
        }
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
        Ok(found)
    }

    /// The connection entries of `cluster`'s services on director
    /// `director` (`ipvsadm -Lcn`): read from this host's kernel when the
    /// director is this server's own (`serve --apply-local`).
    pub async fn connections(&self, cluster: &str, director: &str) -> Result<Vec<Connection>> {
        let spec = match self.active_spec(cluster).await? {
            Some((_, spec)) => spec,
            None => return Ok(Vec::new()),
        };
        let Some(local) = self.local_director().filter(|d| d.name() == director) else {
            return Err(
                match store::director(self.store().reader(), cluster, director).await? {
                    Some(_) => Error::Conflict(format!(
                        "director {director} is remote: its connection entries are in its own kernel (`lvsd show -c` there)"
                    )),
                    None => Error::NotFound(format!(
                        "cluster {cluster} has no director named {director}"
                    )),
                },
            );
        };
        let all = local.connections().await?;
        Ok(all.into_iter().filter(|c| belongs(&spec, c)).collect())
    }

    /// Forgets the counters and host errors of a cluster that is gone (on
    /// PostgreSQL its `director_live` rows went with it).
    pub(super) fn forget_counters(&self, cluster: &str) {
        self.inner
            .counters
            .0
            .lock()
            .expect("counters lock")
            .retain(|(c, _), _| c != cluster);
        self.inner
            .host_errors
            .0
            .lock()
            .expect("host errors lock")
            .retain(|(c, _), _| c != cluster);
        self.inner
            .ha
            .0
            .lock()
            .expect("ha lock")
            .retain(|(c, _), _| c != cluster);
    }

    /// Why director `director`'s host settings failed at its last report,
    /// and its high-availability state then.
    pub(super) async fn live_extras(
        &self,
        cluster: &str,
        director: &str,
    ) -> Result<(Vec<String>, Option<HaReport>)> {
        if self.shares_live() {
            let row = store::director_live(self.store().reader(), cluster, director).await?;
            let Some(row) = row else {
                return Ok((Vec::new(), None));
            };
            let errors = match row.host_errors {
                Some(json) => parse_json("host errors", &json)?,
                None => Vec::new(),
            };
            let ha = match row.ha {
                Some(json) => parse_json::<Option<HaReport>>("ha", &json)?,
                None => None,
            };
            return Ok((errors, ha));
        }
        let key = (cluster.to_string(), director.to_string());
        let errors = {
            let live = self.inner.host_errors.0.lock().expect("host errors lock");
            live.get(&key).cloned().unwrap_or_default()
        };
        let ha = {
            let live = self.inner.ha.0.lock().expect("ha lock");
            live.get(&key).cloned().flatten()
        };
        Ok((errors, ha))
    }

    /// The latest high-availability state of every director of `cluster`
    /// that reported since this server started (on SQLite; on PostgreSQL,
    /// since its `director_live` row got the `ha` column), by director name.
    pub(super) async fn live_ha(&self, cluster: &str) -> Result<HashMap<String, Option<HaReport>>> {
        if self.shares_live() {
            let rows = store::directors_live(self.store().reader(), cluster).await?;
            return rows
                .into_iter()
                .filter_map(|row| Some((row.director, row.ha?)))
                .map(|(director, json)| Ok((director, parse_json("ha", &json)?)))
                .collect();
        }
        let live = self.inner.ha.0.lock().expect("ha lock");
        Ok(live
            .iter()
            .filter(|((c, _), _)| c == cluster)
            .map(|((_, director), ha)| (director.clone(), ha.clone()))
            .collect())
    }
}

/// Whether a connection entry is one of `spec`'s: to one of its virtual
/// addresses, or (fwmark services, whose mark is not in the entry) to one of
/// its fwmark services' real servers.
fn belongs(spec: &Spec, c: &Connection) -> bool {
    spec.services().iter().any(|svc| match svc.key {
        ServiceKey::Addr { protocol, addr } => {
            addr == c.virtual_addr && protocol.as_str().eq_ignore_ascii_case(&c.protocol)
        }
        ServiceKey::Fwmark { .. } => svc
            .servers()
            .iter()
            .any(|rs| rs.key.ip() == c.destination.ip()),
    })
}
