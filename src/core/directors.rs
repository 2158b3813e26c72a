//! Directors: what each one last did for a cluster (applied revision,
//! result, errors, verified hash, drift, drains), what activating a revision
//! would do to one (the plan preview), and the state a director keeps in the
//! store between applies.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::audit::{Change, record};
use super::clusters::not_found;
use super::rollout::RolloutNow;
use super::{Caller, Core, Error, Result, now};
use crate::apply::{ApplyResult, DirectorState, DrainRecord, DrainView, Event, Report};
use crate::contract::agent::HaReport;
use crate::ipvs::DestKey;
use crate::model::time::rfc3339;
use crate::model::{ServiceKey, Spec};
use crate::plan::{BlastRadius, Drift, Summary};
use crate::store::{self, DirectorRow, DrainRow};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The director running on this server's own host (`lvsd serve --apply-local`).
pub trait LocalDirector: Send + Sync + 'static {
    fn name(&self) -> &str;

    /// What applying `spec` for `cluster` would do to the local table.
    fn preview<'a>(
        &'a self,
        cluster: &'a str,
        spec: Arc<Spec>,
    ) -> BoxFuture<'a, Result<crate::apply::Preview>>;

    /// Applies the active revision of `cluster` now (past the removal limit
    /// when `force`), and returns the report.
    fn apply_now<'a>(&'a self, cluster: &'a str, force: bool) -> BoxFuture<'a, Result<Report>>;

    /// The connection entries of the local table.
    fn connections(&self) -> BoxFuture<'_, Result<Vec<crate::ipvs::conns::Connection>>>;
    /// Zeroes the counters of `service` in the local table now, or of every
    /// service of `cluster`'s active revision (`ipvsadm -Z`).
    fn zero<'a>(
        &'a self,
        cluster: &'a str,
        service: Option<ServiceKey>,
    ) -> BoxFuture<'a, Result<()>>;
}

/// A director of a cluster, as it last reported.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DirectorView {
    pub cluster: String,
    pub name: String,
    /// `local`: this server's own kernel; `agent`: a remote director's agent reports it.
    pub mode: String,
    /// One word for a dashboard: `ok` (runs its desired revision, in sync),
    /// `applying` (not yet on its desired revision), `refused` / `failed`
    /// (its desired revision was refused / failed), `drift` (its table
    /// differs from the revision), `stale` (no report for three intervals).
    pub health: DirectorHealth,
    /// The cluster's active revision.
    pub active_revision: Option<i64>,
    /// The revision the director should run: the active one, or the last
    /// released one while a canary rollout holds it back (the local director
    /// follows the rollout too).
    pub desired_revision: Option<i64>,
    /// Revisions between the active one and the one it applied (0: none).
    pub lag_revisions: Option<i64>,
    /// Since when it has not run its desired revision, RFC 3339.
    pub behind_since: Option<String>,
    /// When it last reported, RFC 3339 (agents only).
    pub last_heartbeat: Option<String>,
    pub heartbeat_age_secs: Option<u64>,
    /// How often its agent promised to report at the least.
    pub report_interval_secs: Option<u64>,
    /// No report for three report intervals (the local director: not run by this server).
    pub stale: bool,
    /// The version of its agent (`lvsd --version`).
    pub agent_version: Option<String>,
    /// The last zeroing request it did.
    pub zeroed_seq: Option<u64>,
    /// The revision it last applied and verified.
    pub applied_revision: Option<i64>,
    /// Applied the active revision, and the last drift check found nothing.
    pub in_sync: bool,
    /// A revision refused or failed for good: not retried until the active
    /// revision changes or an apply is forced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_revision: Option<i64>,
    /// The last apply's result.
    pub result: Option<ApplyResult>,
    /// The last apply's errors.
    pub errors: Vec<String>,
    /// When the last apply ended.
    pub applied_at: Option<String>,
    /// SHA-256 of the kernel state the last apply verified.
    pub verified_hash: Option<String>,
    /// When the last drift check ran, and what it found.
    pub checked_at: Option<String>,
    pub drift: Vec<Drift>,
    /// Real servers at weight 0 waiting for their connections.
    pub draining: Vec<DrainView>,
    /// The last apply in full.
    pub last_report: Option<Report>,
    /// Why its host settings (VIPs, sysctls, FULLNAT rules) failed at its
    /// last report, while its table stays applied (agents only; kept in memory).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host_errors: Vec<String>,
    /// Its high-availability state at its last report (agents with an `ha`
    /// section): each VRRP instance's state, since when, priority and
    /// transitions, and the sync daemon's threads and connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ha: Option<HaReport>,
}

/// A director's state in one word, for a dashboard to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DirectorHealth {
    Ok,
    Applying,
    Refused,
    Failed,
    Drift,
    Stale,
}

impl DirectorHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            DirectorHealth::Ok => "ok",
            DirectorHealth::Applying => "applying",
            DirectorHealth::Refused => "refused",
            DirectorHealth::Failed => "failed",
            DirectorHealth::Drift => "drift",
            DirectorHealth::Stale => "stale",
        }
    }

    /// From what the director last said: whether it is stale, the revision it
    /// should run, what it applied, blocked, and its last apply and drift check.
    fn of(
        stale: bool,
        desired: Option<i64>,
        row: &DirectorRow,
        report: Option<&Report>,
        drifted: bool,
    ) -> Self {
        let failed_desired =
            report.filter(|r| r.revision == desired && desired.is_some() && !r.result.is_ok());
        if stale {
            DirectorHealth::Stale
        } else if let Some(report) = failed_desired {
            if report.result == ApplyResult::Refused {
                DirectorHealth::Refused
            } else {
                DirectorHealth::Failed
            }
        } else if desired.is_some() && row.blocked_revision == desired {
            DirectorHealth::Failed
        } else if row.applied_revision != desired {
            DirectorHealth::Applying
        } else if drifted {
            DirectorHealth::Drift
        } else {
            DirectorHealth::Ok
        }
    }
}

/// What activating a revision would do to a director's table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanPreview {
    pub cluster: String,
    pub revision: i64,
    /// `director`: planned against the local director's table as it is now;
    /// `empty_table`: this server applies to no kernel, so planned against
    /// a freshly loaded, empty IPVS table.
    pub against: PlanTarget,
    /// The director planned against, when `against` is `director`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub director: Option<String>,
    /// The plan, one line per change (`+` add, `~` edit in place, `-` remove,
    /// `=` drain in progress, `!` not yet possible).
    pub changes: Vec<String>,
    /// The kernel operations, in order.
    pub ops: Vec<String>,
    pub summary: Summary,
    pub blast_radius: BlastRadius,
    /// Why the director would refuse to apply it, if it would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanTarget {
    Director,
    EmptyTable,
}

impl PlanPreview {
    pub fn new(
        cluster: &str,
        revision: i64,
        director: Option<&str>,
        preview: crate::apply::Preview,
    ) -> Self {
        PlanPreview {
            cluster: cluster.to_string(),
            revision,
            against: if director.is_some() {
                PlanTarget::Director
            } else {
                PlanTarget::EmptyTable
            },
            director: director.map(str::to_string),
            changes: preview
                .plan
                .to_string()
                .lines()
                .map(str::to_string)
                .collect(),
            ops: preview
                .plan
                .ops()
                .iter()
                .map(crate::ipvs::error::describe)
                .collect(),
            summary: preview.plan.summary(),
            blast_radius: preview.radius,
            refused: preview.refusal,
        }
    }
}

fn parse_time(at: &str) -> Result<SystemTime> {
    humantime::parse_rfc3339_weak(at)
        .map_err(|e| Error::Internal(format!("stored time `{at}` does not parse: {e}")))
}

pub(super) fn parse_json<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T> {
    serde_json::from_str(json)
        .map_err(|e| Error::Internal(format!("stored {what} does not parse: {e}")))
}

fn drain_key(row: &DrainRow) -> Result<(ServiceKey, DestKey)> {
    let service = row
        .service
        .parse::<ServiceKey>()
        .map_err(|e| Error::Internal(e.message))?;
    let server = row
        .server
        .parse::<std::net::SocketAddr>()
        .map_err(|e| Error::Internal(format!("stored drain server `{}`: {e}", row.server)))?;
    Ok((
        service,
        DestKey {
            addr: server.ip(),
            port: server.port(),
        },
    ))
}

/// The state change one director step made, to store.
pub struct DirectorUpdate<'a> {
    pub cluster: &'a str,
    pub director: &'a str,
    pub mode: &'a str,
    pub before: &'a DirectorState,
    pub after: &'a DirectorState,
    pub events: &'a [Event],
}

impl Core {
    /// The revision `cluster` should run and its spec; `None` without an active revision.
    ///
    /// Specs of active revisions are kept in memory once parsed, so that a
    /// director does not parse a large spec again after every commit.
    pub async fn active_spec(&self, cluster: &str) -> Result<Option<(i64, Arc<Spec>)>> {
        let active = store::active_revision(self.store().reader(), cluster)
            .await?
            .ok_or_else(|| not_found(cluster))?;
        let Some(active) = active else {
            return Ok(None);
        };
        if let Some((number, spec)) = self.cached_spec(cluster)
            && number == active
        {
            return Ok(Some((number, spec)));
        }
        let spec = Arc::new(self.revision_spec(cluster, active).await?);
        self.remember_spec(cluster, active, spec.clone());
        Ok(Some((active, spec)))
    }

    /// Every cluster with its active revision.
    pub async fn active_revisions(&self) -> Result<Vec<(String, Option<i64>)>> {
        Ok(store::active_revisions(self.store().reader()).await?)
    }

    /// What the director `name` remembers of `cluster`.
    pub async fn director_state(&self, cluster: &str, name: &str) -> Result<DirectorState> {
        let reader = self.store().reader();
        let row = store::director(reader, cluster, name).await?;
        let mut state = DirectorState {
            applied: row.as_ref().and_then(|r| r.applied_revision),
            blocked: row.as_ref().and_then(|r| r.blocked_revision),
            ..DirectorState::default()
        };
        for drain in store::drains(reader, cluster, name).await? {
            let record = DrainRecord {
                started_at: parse_time(&drain.started_at)?,
                deadline: parse_time(&drain.deadline)?,
            };
            state.drains.insert(drain_key(&drain)?, record);
        }
        for service in store::created_services(reader, cluster, name).await? {
            state.created.insert(
                service
                    .parse()
                    .map_err(|e: crate::model::ValidationError| Error::Internal(e.message))?,
            );
        }
        Ok(state)
    }

    /// Stores what one director step changed and did: its status, drains,
    /// created services, and an audit entry per apply and per drift found.
    pub async fn record_director(&self, update: DirectorUpdate<'_>) -> Result<()> {
        let caller = Caller::new(
            format!("director:{}", update.director),
            uuid::Uuid::new_v4().to_string(),
        );
        // Read before the transaction: evaluating the rollout may write.
        let desired = match self
            .director_revision(update.cluster, update.director)
            .await
        {
            Ok(desired) => desired,
            Err(Error::NotFound(_)) => return Ok(()), // deleted meanwhile: nothing to record it for
            Err(err) => return Err(err),
        };
        let mut tx = self.store().begin().await?;
        if store::active_revision(&mut *tx, update.cluster)
            .await?
            .is_none()
        {
            return Ok(());
        }
        let row = store::director(&mut *tx, update.cluster, update.director)
            .await?
            .unwrap_or_else(|| DirectorRow {
                cluster: update.cluster.to_string(),
                director: update.director.to_string(),
                ..DirectorRow::default()
            });
        store_step(&mut tx, &caller, &update, row, desired).await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        self.count_drift(&update);
        self.director_recorded();
        Ok(())
    }

    /// Counts the drift a stored step found, for `GET /metrics`.
    pub(super) fn count_drift(&self, update: &DirectorUpdate<'_>) {
        for _ in update
            .events
            .iter()
            .filter(|event| matches!(event, Event::Drift { .. }))
        {
            self.metrics().drift_found(update.cluster, update.director);
        }
    }

    pub async fn directors(&self, cluster: &str) -> Result<Vec<DirectorView>> {
        let rollout = self.rollout_now(cluster).await?;
        let mut views = Vec::new();
        for director in store::directors(self.store().reader(), cluster).await? {
            views.push(self.director_view(director, &rollout).await?);
        }
        Ok(views)
    }

    pub async fn director(&self, cluster: &str, name: &str) -> Result<DirectorView> {
        let rollout = self.rollout_now(cluster).await?;
        let director = store::director(self.store().reader(), cluster, name)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("cluster {cluster} has no director named {name}"))
            })?;
        self.director_view(director, &rollout).await
    }

    async fn director_view(&self, row: DirectorRow, rollout: &RolloutNow) -> Result<DirectorView> {
        let active = rollout.rollout.revision;
        let desired = rollout
            .rollout
            .desired_for(&rollout.settings.canaries, &row.director);
        let at = SystemTime::now();
        let stale = self.is_stale(&row, at);
        let heartbeat_age_secs = row
            .heartbeat_at
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
            .map(|t| at.duration_since(t).unwrap_or_default().as_secs());
        let behind_since = (row.applied_revision != desired).then(|| {
            row.behind_since
                .clone()
                .unwrap_or_else(|| rfc3339(rollout.rollout.since))
        });
        let report: Option<Report> = row
            .report
            .as_deref()
            .map(|json| parse_json("report", json))
            .transpose()?;
        let drift: Vec<Drift> = row
            .drift
            .as_deref()
            .map(|json| parse_json("drift", json))
            .transpose()?
            .unwrap_or_default();
        // Drains as stored, with the connection counts of the last report.
        let counts: BTreeMap<(String, String), &DrainView> = report
            .iter()
            .flat_map(|r| &r.draining)
            .map(|d| ((d.service.clone(), d.server.clone()), d))
            .collect();
        let draining = store::drains(self.store().reader(), &row.cluster, &row.director)
            .await?
            .into_iter()
            .map(|d| {
                let seen = counts.get(&(d.service.clone(), d.server.clone()));
                DrainView {
                    active_conns: seen.map_or(0, |s| s.active_conns),
                    inactive_conns: seen.map_or(0, |s| s.inactive_conns),
                    service_leaves: seen.is_some_and(|s| s.service_leaves),
                    service: d.service,
                    server: d.server,
                    started_at: d.started_at,
                    deadline: d.deadline,
                }
            })
            .collect();
        let (host_errors, ha) = self.live_extras(&row.cluster, &row.director).await?;
        Ok(DirectorView {
            host_errors,
            ha,
            in_sync: active.is_some() && row.applied_revision == active && drift.is_empty(),
            health: DirectorHealth::of(stale, desired, &row, report.as_ref(), !drift.is_empty()),
            desired_revision: desired,
            lag_revisions: active.map(|a| a - row.applied_revision.unwrap_or(0)),
            behind_since,
            last_heartbeat: row.heartbeat_at,
            heartbeat_age_secs,
            report_interval_secs: row.report_interval_secs.and_then(|n| u64::try_from(n).ok()),
            stale,
            agent_version: row.agent_version,
            zeroed_seq: row.zeroed_seq.and_then(|n| u64::try_from(n).ok()),
            cluster: row.cluster,
            name: row.director,
            mode: row.mode,
            active_revision: active,
            applied_revision: row.applied_revision,
            blocked_revision: row.blocked_revision,
            result: report.as_ref().map(|r| r.result),
            errors: report
                .as_ref()
                .map(|r| r.errors.clone())
                .unwrap_or_default(),
            applied_at: row.applied_at,
            verified_hash: row.verified_hash,
            checked_at: row.checked_at,
            drift,
            draining,
            last_report: report,
        })
    }

    /// What activating revision `number` would do: to the local director's
    /// table when this server applies to its kernel, otherwise to an empty table.
    pub async fn plan_preview(&self, cluster: &str, number: i64) -> Result<PlanPreview> {
        let spec = Arc::new(self.revision_spec(cluster, number).await?);
        match self.local_director() {
            Some(director) => {
                let preview = director.preview(cluster, spec).await?;
                Ok(PlanPreview::new(
                    cluster,
                    number,
                    Some(director.name()),
                    preview,
                ))
            }
            None => {
                let policy = self.settings(cluster).await?.settings.policy(None);
                let mut table = crate::ipvs::MemoryTable::new();
                let state = DirectorState::default();
                let preview = crate::apply::Engine::new()
                    .preview(&mut table, &spec, &policy, &state, SystemTime::now())
                    .map_err(|e| {
                        Error::Internal(format!("planning against an empty table: {e}"))
                    })?;
                Ok(PlanPreview::new(cluster, number, None, preview))
            }
        }
    }

    /// Applies the active revision of `cluster` on the director `name` now.
    pub async fn apply_director(
        &self,
        caller: &Caller,
        cluster: &str,
        name: &str,
        force: bool,
    ) -> Result<Report> {
        self.audited(caller, Some(cluster), "director.apply.request", name, async {
            store::active_revision(self.store().reader(), cluster).await?.ok_or_else(|| not_found(cluster))?;
            let director = self.local_director().filter(|d| d.name() == name).ok_or_else(|| {
                Error::Conflict(format!(
                    "director {name} is not this server's own (lvsd serve --apply-local): an agent applies on its own"
                ))
            })?;
            let mut tx = self.store().begin().await?;
            let change = Change {
                cluster: Some(cluster),
                action: "director.apply.request",
                target: name.to_string(),
                detail: json!({ "force": force }),
            };
            record(&mut tx, caller, change).await?;
            tx.commit().await.map_err(store::StoreError::from)?;
            director.apply_now(cluster, force).await
        })
        .await
    }
}

/// Stores one director step in `tx`: `row` (as loaded, with whatever else
/// the caller set) with the step's outcome, the director's drains and
/// created services, and an audit entry per apply and per drift found.
/// `desired` is the revision the director should run, to tell since when it lags.
pub(super) async fn store_step(
    tx: &mut store::Tx,
    caller: &Caller,
    update: &DirectorUpdate<'_>,
    mut row: DirectorRow,
    desired: Option<i64>,
) -> Result<()> {
    let DirectorUpdate {
        cluster,
        director,
        mode,
        before,
        after,
        events,
    } = *update;
    let at = now();
    row.mode = mode.to_string();
    row.applied_revision = after.applied;
    row.blocked_revision = after.blocked;
    row.updated_at = at.clone();
    row.behind_since = if after.applied == desired {
        None
    } else {
        row.behind_since.or_else(|| Some(at.clone()))
    };

    for event in events {
        match event {
            Event::Applied(report) => {
                row.result = Some(report.result.as_str().to_string());
                row.applied_at = Some(report.at.clone());
                row.report = Some(serde_json::to_string(report).expect("reports serialize"));
                if report.result.is_ok() {
                    row.verified_hash.clone_from(&report.verified_hash);
                    if report.cause == crate::apply::Cause::Drift {
                        row.drift = Some("[]".to_string());
                    }
                }
                let outcome = match report.result {
                    ApplyResult::Applied => "ok",
                    ApplyResult::Refused => "refused",
                    _ => "failed",
                };
                let detail = json!({
                    "director": director,
                    "revision": report.revision,
                    "cause": report.cause,
                    "result": report.result,
                    "errors": report.errors,
                    "failed_op": report.failed_op,
                    "restore": report.restore,
                    "summary": report.summary,
                    "verified_hash": report.verified_hash,
                    "total_ms": report.timings.total_ms,
                });
                let target = report.revision.map_or_else(String::new, |n| n.to_string());
                let change = Change {
                    cluster: Some(cluster),
                    action: "director.apply",
                    target,
                    detail,
                };
                super::audit::record_outcome(tx, caller, change, outcome).await?;
            }
            Event::Drift {
                revision,
                drift,
                mode,
            } => {
                row.checked_at = Some(at.clone());
                row.drift = Some(serde_json::to_string(drift).expect("drift serializes"));
                let detail = json!({
                    "director": director,
                    "revision": revision,
                    "mode": mode.as_str(),
                    "differences": drift.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "drift": drift,
                });
                let change = Change {
                    cluster: Some(cluster),
                    action: "director.drift",
                    target: revision.to_string(),
                    detail,
                };
                record(tx, caller, change).await?;
            }
            Event::InSync { hash, .. } => {
                row.checked_at = Some(at.clone());
                row.drift = Some("[]".to_string());
                row.verified_hash = Some(hash.clone());
            }
        }
    }
    store::put_director(&mut **tx, &row).await?;

    for (key, record) in &after.drains {
        if before.drains.get(key) != Some(record) {
            let drain = DrainRow {
                cluster: cluster.to_string(),
                director: director.to_string(),
                service: key.0.to_string(),
                server: key.1.to_string(),
                started_at: rfc3339(record.started_at),
                deadline: rfc3339(record.deadline),
            };
            store::put_drain(&mut **tx, &drain).await?;
        }
    }
    for key in before
        .drains
        .keys()
        .filter(|key| !after.drains.contains_key(key))
    {
        store::delete_drain(
            &mut **tx,
            cluster,
            director,
            &key.0.to_string(),
            &key.1.to_string(),
        )
        .await?;
    }
    for key in after.created.difference(&before.created) {
        store::add_created(&mut **tx, cluster, director, &key.to_string(), &at).await?;
    }
    for key in before.created.difference(&after.created) {
        store::delete_created(&mut **tx, cluster, director, &key.to_string()).await?;
    }
    Ok(())
}

/// Services of `clusters` other than `cluster`: their active specs' and those they created.
pub fn foreign_services<'a>(
    cluster: &str,
    clusters: impl IntoIterator<Item = (&'a str, &'a Spec, &'a BTreeSet<ServiceKey>)>,
) -> BTreeSet<ServiceKey> {
    clusters
        .into_iter()
        .filter(|(name, _, _)| *name != cluster)
        .flat_map(|(_, spec, created)| {
            spec.services()
                .iter()
                .map(|s| s.key)
                .chain(created.iter().copied())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(revision: i64, result: ApplyResult) -> Report {
        Report {
            revision: Some(revision),
            result,
            ..Report::new(crate::apply::Cause::Activation)
        }
    }

    #[test]
    fn health_is_one_word_from_what_the_director_said() {
        let row = |applied: Option<i64>, blocked: Option<i64>| DirectorRow {
            applied_revision: applied,
            blocked_revision: blocked,
            ..DirectorRow::default()
        };
        use DirectorHealth::*;
        /// (case, stale, desired, row, last report, drifted, expected)
        type Case = (
            &'static str,
            bool,
            Option<i64>,
            DirectorRow,
            Option<Report>,
            bool,
            DirectorHealth,
        );
        let cases: Vec<Case> = vec![
            (
                "on its desired revision",
                false,
                Some(2),
                row(Some(2), None),
                Some(report(2, ApplyResult::Applied)),
                false,
                Ok,
            ),
            (
                "nothing to run, nothing run",
                false,
                None,
                row(None, None),
                None,
                false,
                Ok,
            ),
            (
                "not there yet",
                false,
                Some(3),
                row(Some(2), None),
                Some(report(2, ApplyResult::Applied)),
                false,
                Applying,
            ),
            (
                "refused its desired revision",
                false,
                Some(3),
                row(Some(2), Some(3)),
                Some(report(3, ApplyResult::Refused)),
                false,
                Refused,
            ),
            (
                "failed its desired revision",
                false,
                Some(3),
                row(Some(2), None),
                Some(report(3, ApplyResult::FailedRestored)),
                false,
                Failed,
            ),
            (
                "blocked without a report kept",
                false,
                Some(3),
                row(Some(2), Some(3)),
                None,
                false,
                Failed,
            ),
            (
                "an old failure no longer counts",
                false,
                Some(3),
                row(Some(3), None),
                Some(report(2, ApplyResult::Failed)),
                false,
                Ok,
            ),
            (
                "its table drifted",
                false,
                Some(2),
                row(Some(2), None),
                None,
                true,
                Drift,
            ),
            (
                "stale above all",
                true,
                Some(2),
                row(Some(2), None),
                Some(report(2, ApplyResult::Applied)),
                false,
                Stale,
            ),
        ];
        for (case, stale, desired, row, report, drifted, expected) in cases {
            assert_eq!(
                DirectorHealth::of(stale, desired, &row, report.as_ref(), drifted),
                expected,
                "{case}"
            );
        }
    }
}
