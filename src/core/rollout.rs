//! Canary rollouts: which revision each director of a cluster should run.
//!
//! When revision R becomes active, the cluster's canaries (settings
//! `canaries`) should run R at once; the other directors keep the last
//! released revision until every canary has run R, applied, in sync and
//! reporting, for `canary_soak_secs` without a break. Then R is released and
//! every director should run it. A canary that refuses or fails R halts the
//! rollout: the others stay where they are until a new activation (a fix
//! forward or a rollback) starts a new rollout, or an operator releases R.
//! Without canaries every revision is released as it becomes active, in the
//! activation's own transaction ([`Core::release_on_activation`]).
//!
//! The decision is a pure function ([`next_rollout`]) of the stored rollout,
//! the active revision and how each canary stands. The core evaluates it when
//! asked what a director should run, after every report, and from a timer
//! task ([`Core::watch_rollouts`]) that ends the soak without waiting for a
//! report; transitions are stored (they survive a restart) and audited
//! (`rollout.start` when canaries go first, `rollout.release`, `rollout.halt`).
//! The revision active when a cluster's rollout is first looked at counts
//! as released. Agents and the local director (`serve --apply-local`) alike
//! run what [`Rollout::desired_for`] says.

use std::future::Future;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit::{Change, record};
use super::clusters::not_found;
use super::settings::stored_settings;
use super::{Caller, ClusterSettings, Core, Error, Result};
use crate::apply::Report;
use crate::model::time::rfc3339;
use crate::store::{self, DirectorRow, RolloutRow, Tx};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    /// The canaries run the new revision; the others keep the released one.
    Canary,
    /// Every director should run the revision.
    Released,
    /// A canary refused or failed the revision: the others stay on the
    /// released one until a new activation or an operator's release.
    Halted,
}

impl RolloutState {
    fn as_str(self) -> &'static str {
        match self {
            RolloutState::Canary => "canary",
            RolloutState::Released => "released",
            RolloutState::Halted => "halted",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "canary" => Ok(RolloutState::Canary),
            "released" => Ok(RolloutState::Released),
            "halted" => Ok(RolloutState::Halted),
            other => Err(Error::Internal(format!(
                "stored rollout state `{other}` is unknown"
            ))),
        }
    }
}

/// How often rollouts waiting on canaries are looked at without a report.
const CANARY_RECHECK: Duration = Duration::from_secs(5);

/// The rollout of a cluster's active revision.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rollout {
    /// The active revision it is about.
    pub revision: Option<i64>,
    /// What directors other than the canaries should run.
    pub released: Option<i64>,
    pub state: RolloutState,
    /// When it entered `state`.
    pub since: SystemTime,
    pub reason: Option<String>,
    /// Since when every canary has run `revision` in sync, without a break.
    pub soak_started: Option<SystemTime>,
}

impl Rollout {
    /// The revision `director` should run.
    pub fn desired_for(&self, canaries: &[String], director: &str) -> Option<i64> {
        if self.state == RolloutState::Released || canaries.iter().any(|c| c == director) {
            self.revision
        } else {
            self.released
        }
    }

    fn row(&self, cluster: &str) -> RolloutRow {
        RolloutRow {
            cluster: cluster.to_string(),
            revision: self.revision,
            released: self.released,
            state: self.state.as_str().to_string(),
            since: rfc3339(self.since),
            reason: self.reason.clone(),
            soak_started_at: self.soak_started.map(rfc3339),
        }
    }

    fn from_row(row: &RolloutRow) -> Result<Self> {
        Ok(Rollout {
            revision: row.revision,
            released: row.released,
            state: RolloutState::parse(&row.state)?,
            since: parse_time(&row.since)?,
            reason: row.reason.clone(),
            soak_started: row.soak_started_at.as_deref().map(parse_time).transpose()?,
        })
    }
}

fn parse_time(at: &str) -> Result<SystemTime> {
    humantime::parse_rfc3339_weak(at)
        .map_err(|e| Error::Internal(format!("stored time `{at}` does not parse: {e}")))
}

/// How a canary stands with the revision being rolled out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CanaryHealth {
    /// Runs it, applied and in sync, and reports on time.
    Ready,
    /// Not there yet (or no longer): why.
    Waiting(String),
    /// Refused or failed it: why.
    Failed(String),
}

/// The rollout after `current`, given the active revision, how each canary
/// stands with it (by name, in the settings' order), the soak time and the time now.
pub(crate) fn next_rollout(
    current: Option<&Rollout>,
    active: Option<i64>,
    canaries: &[(String, CanaryHealth)],
    soak: Duration,
    now: SystemTime,
) -> Rollout {
    // Whatever is active when a cluster's rollouts are first tracked counts as released.
    let mut rollout = current.cloned().unwrap_or(Rollout {
        revision: active,
        released: active,
        state: RolloutState::Released,
        since: now,
        reason: None,
        soak_started: None,
    });
    if rollout.revision != active {
        rollout = if canaries.is_empty() || active.is_none() || active == rollout.released {
            Rollout {
                revision: active,
                released: active,
                state: RolloutState::Released,
                since: now,
                reason: Some(if canaries.is_empty() {
                    "no canaries: every director runs it at once".to_string()
                } else {
                    "the revision every director already had".to_string()
                }),
                soak_started: None,
            }
        } else {
            Rollout {
                revision: active,
                released: rollout.released,
                state: RolloutState::Canary,
                since: now,
                reason: None,
                soak_started: None,
            }
        };
    }
    if rollout.state != RolloutState::Canary {
        return rollout;
    }
    let released = |reason: String| Rollout {
        revision: rollout.revision,
        released: rollout.revision,
        state: RolloutState::Released,
        since: now,
        reason: Some(reason),
        soak_started: rollout.soak_started,
    };
    if canaries.is_empty() {
        return released("no canaries left: every director runs it".to_string());
    }
    if let Some((name, CanaryHealth::Failed(why))) = canaries
        .iter()
        .find(|(_, health)| matches!(health, CanaryHealth::Failed(_)))
    {
        return Rollout {
            state: RolloutState::Halted,
            since: now,
            reason: Some(format!("canary {name}: {why}")),
            soak_started: None,
            ..rollout
        };
    }
    if canaries
        .iter()
        .all(|(_, health)| *health == CanaryHealth::Ready)
    {
        let started = rollout.soak_started.unwrap_or(now);
        if now.duration_since(started).unwrap_or_default() >= soak {
            let names: Vec<&str> = canaries.iter().map(|(name, _)| name.as_str()).collect();
            return released(format!(
                "canaries {} ran it in sync for {} s",
                names.join(", "),
                soak.as_secs()
            ));
        }
        rollout.soak_started = Some(started);
    } else {
        rollout.soak_started = None;
    }
    rollout
}

/// How one director stands with `revision`, from its stored status.
pub(crate) fn canary_health(
    row: Option<&DirectorRow>,
    revision: Option<i64>,
    stale: bool,
) -> CanaryHealth {
    let Some(revision) = revision else {
        return CanaryHealth::Ready;
    };
    let Some(row) = row else {
        return CanaryHealth::Waiting("has not reported yet".to_string());
    };
    let report: Option<Report> = row
        .report
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok());
    let errors = report
        .as_ref()
        .filter(|r| r.revision == Some(revision))
        .map(|r| r.errors.join("; "));
    if let Some(report) = report
        .as_ref()
        .filter(|r| r.revision == Some(revision) && !r.result.is_ok())
    {
        return CanaryHealth::Failed(format!(
            "revision {revision} {}: {}",
            report.result.as_str(),
            report.errors.join("; ")
        ));
    }
    if row.blocked_revision == Some(revision) {
        return CanaryHealth::Failed(format!(
            "revision {revision} refused or failed for good{}",
            errors.map(|e| format!(": {e}")).unwrap_or_default()
        ));
    }
    if stale {
        return CanaryHealth::Waiting("stale: no report for three report intervals".to_string());
    }
    if row.applied_revision != Some(revision) {
        let runs = row
            .applied_revision
            .map_or("no revision".to_string(), |n| format!("revision {n}"));
        return CanaryHealth::Waiting(format!("runs {runs}"));
    }
    if row.drift.as_deref().is_some_and(|drift| drift != "[]") {
        return CanaryHealth::Waiting("its table drifted from the revision".to_string());
    }
    CanaryHealth::Ready
}

/// A canary as the rollout sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CanaryView {
    pub name: String,
    /// `ready`: runs the revision, applied, in sync and reporting;
    /// `waiting`: not yet (see `reason`); `failed`: refused or failed it.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub applied_revision: Option<i64>,
}

/// The rollout of a cluster's active revision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RolloutView {
    pub cluster: String,
    /// The active revision being rolled out.
    pub revision: Option<i64>,
    /// The revision directors other than the canaries run meanwhile
    /// (equal to `revision` once released).
    pub released_revision: Option<i64>,
    pub state: RolloutState,
    /// When it entered `state`, RFC 3339.
    pub since: String,
    /// Why it is in `state`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Since when every canary has run the revision in sync (the soak), RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soak_started_at: Option<String>,
    pub canary_soak_secs: u64,
    pub canaries: Vec<CanaryView>,
}

/// What one evaluation of a cluster's rollout saw.
pub(crate) struct RolloutNow {
    pub rollout: Rollout,
    pub settings: ClusterSettings,
    pub canaries: Vec<(String, CanaryHealth, Option<i64>)>,
}

impl Core {
    /// How each canary of `cluster` stands with `revision`.
    async fn canaries_health(
        &self,
        cluster: &str,
        settings: &ClusterSettings,
        revision: Option<i64>,
    ) -> Result<Vec<(String, CanaryHealth, Option<i64>)>> {
        let mut found = Vec::with_capacity(settings.canaries.len());
        for name in &settings.canaries {
            let row = store::director(self.store().reader(), cluster, name).await?;
            let stale = row
                .as_ref()
                .is_some_and(|row| self.is_stale(row, SystemTime::now()));
            let applied = row.as_ref().and_then(|r| r.applied_revision);
            found.push((
                name.clone(),
                canary_health(row.as_ref(), revision, stale),
                applied,
            ));
        }
        Ok(found)
    }

    /// The rollout of `cluster` now: evaluated, and stored (and audited) when it moved on.
    pub(crate) async fn rollout_now(&self, cluster: &str) -> Result<RolloutNow> {
        let started = std::time::Instant::now();
        let reader = self.store().reader();
        let active = store::active_revision(reader, cluster)
            .await?
            .ok_or_else(|| not_found(cluster))?;
        let settings = self.settings(cluster).await?.settings;
        let stored = store::rollout(reader, cluster)
            .await?
            .as_ref()
            .map(Rollout::from_row)
            .transpose()?;
        let soak = Duration::from_secs(settings.canary_soak_secs);
        // Health against the revision the rollout will be about: the active one.
        let canaries = self.canaries_health(cluster, &settings, active).await?;
        let health: Vec<(String, CanaryHealth)> = canaries
            .iter()
            .map(|(n, h, _)| (n.clone(), h.clone()))
            .collect();
        let next = next_rollout(stored.as_ref(), active, &health, soak, SystemTime::now());
        if stored.as_ref() == Some(&next) {
            return Ok(RolloutNow {
                rollout: next,
                settings,
                canaries,
            });
        }
        let evaluated = started.elapsed();
        // Moved on: store it, unless another request stored a change first.
        let mut tx = self.store().begin().await?;
        let locked = started.elapsed();
        let Some(active_now) = store::active_revision(&mut *tx, cluster).await? else {
            return Err(not_found(cluster));
        };
        let stored_now = store::rollout(&mut *tx, cluster)
            .await?
            .as_ref()
            .map(Rollout::from_row)
            .transpose()?;
        if active_now != active || stored_now != stored {
            drop(tx);
            return Box::pin(self.rollout_now(cluster)).await;
        }
        store::put_rollout(&mut *tx, &next.row(cluster)).await?;
        let action = match (stored.as_ref().map(|r| (r.revision, r.state)), next.state) {
            // Only a rollout that holds directors back is worth an entry; the
            // activation itself is audited already.
            (Some((revision, _)), state) if revision != next.revision => {
                (state == RolloutState::Canary).then_some("rollout.start")
            }
            (None, _) => None,
            (Some((_, before)), after) if before == after => None,
            (_, RolloutState::Released) => Some("rollout.release"),
            (_, RolloutState::Halted) => Some("rollout.halt"),
            (_, RolloutState::Canary) => None,
        };
        if let Some(action) = action {
            let caller = Caller::new("lvsd", uuid::Uuid::new_v4().to_string());
            record(
                &mut tx,
                &caller,
                change(cluster, action, &next, stored.as_ref()),
            )
            .await?;
        }
        tx.commit().await.map_err(store::StoreError::from)?;
        tracing::debug!(
            target: "lvsd::timing",
            cluster,
            revision = next.revision,
            read_ms = evaluated.as_secs_f64() * 1e3,
            lock_ms = (locked - evaluated).as_secs_f64() * 1e3,
            write_ms = (started.elapsed() - locked).as_secs_f64() * 1e3,
            "rollout stored"
        );
        if stored.as_ref().map(|r| r.released) != Some(next.released) {
            self.desired_changed();
        }
        Ok(RolloutNow {
            rollout: next,
            settings,
            canaries,
        })
    }

    /// Releases `active` in the transaction `tx` that makes it the active
    /// revision of `cluster`, when the cluster has no canaries: the stored
    /// rollout then moves with the activation itself, and whoever asks next
    /// what a director should run (the local director first of all, right
    /// after the commit) finds it up to date instead of storing it in a
    /// write transaction of its own. A cluster with canaries is left to
    /// [`Core::rollout_now`], which starts the canary rollout and audits it.
    pub(super) async fn release_on_activation(
        &self,
        tx: &mut Tx,
        cluster: &str,
        active: i64,
    ) -> Result<()> {
        let settings = stored_settings(store::settings(&mut **tx, cluster).await?.as_ref())?;
        if !settings.canaries.is_empty() {
            return Ok(());
        }
        let stored = store::rollout(&mut **tx, cluster)
            .await?
            .as_ref()
            .map(Rollout::from_row)
            .transpose()?;
        // A rollout of this very revision may still be settling (canaries
        // just removed): `rollout_now` releases and audits that.
        if stored.as_ref().is_some_and(|r| r.revision == Some(active)) {
            return Ok(());
        }
        let soak = Duration::from_secs(settings.canary_soak_secs);
        let next = next_rollout(stored.as_ref(), Some(active), &[], soak, SystemTime::now());
        store::put_rollout(&mut **tx, &next.row(cluster)).await?;
        Ok(())
    }

    /// The rollout of `cluster`'s active revision, with its canaries.
    pub async fn rollout(&self, cluster: &str) -> Result<RolloutView> {
        let now = self.rollout_now(cluster).await?;
        Ok(view(cluster, now))
    }

    /// Releases the rollout of `cluster` now: every director should run the
    /// active revision, whatever the canaries did.
    pub async fn release_rollout(&self, caller: &Caller, cluster: &str) -> Result<RolloutView> {
        self.audited(caller, Some(cluster), "rollout.release", cluster, async {
            let current = self.rollout_now(cluster).await?;
            let mut tx = self.store().begin().await?;
            let stored = store::rollout(&mut *tx, cluster)
                .await?
                .as_ref()
                .map(Rollout::from_row)
                .transpose()?;
            let before = stored.unwrap_or(current.rollout);
            if before.revision.is_none() {
                return Err(Error::Conflict(format!(
                    "cluster {cluster} has no active revision to release"
                )));
            }
            let released = Rollout {
                released: before.revision,
                state: RolloutState::Released,
                since: SystemTime::now(),
                reason: Some(format!("released by {}", caller.actor)),
                ..before.clone()
            };
            store::put_rollout(&mut *tx, &released.row(cluster)).await?;
            record(
                &mut tx,
                caller,
                change(cluster, "rollout.release", &released, Some(&before)),
            )
            .await?;
            tx.commit().await.map_err(store::StoreError::from)?;
            self.desired_changed();
            Ok(view(
                cluster,
                RolloutNow {
                    rollout: released,
                    ..current
                },
            ))
        })
        .await
    }

    /// Ends canary soaks on time, and starts the rollout of every newly
    /// active revision of a cluster with canaries as it is committed, until
    /// `shutdown` completes. (Without canaries a rollout needs no watching:
    /// every revision is released as it becomes active.)
    pub async fn watch_rollouts(self, shutdown: impl Future<Output = ()>) {
        let mut activations = self.activations();
        let mut wakeups = self.wakeups();
        let mut reports = self.director_records();
        tokio::pin!(shutdown);
        loop {
            // The earliest end of a soak, and whether any rollout waits on canaries.
            let mut next: Option<SystemTime> = None;
            let mut canaries_out = false;
            match self.store().clusters_with_canaries().await {
                Ok(clusters) => {
                    for cluster in clusters {
                        match self.rollout_now(&cluster).await {
                            Ok(now) if now.rollout.state == RolloutState::Canary => {
                                canaries_out = true;
                                if let Some(started) = now.rollout.soak_started {
                                    let ends = started
                                        + Duration::from_secs(now.settings.canary_soak_secs);
                                    next = Some(next.map_or(ends, |n| n.min(ends)));
                                }
                            }
                            Ok(_) | Err(Error::NotFound(_)) => {}
                            Err(err) => {
                                tracing::error!(error = %err, cluster, "evaluating a rollout")
                            }
                        }
                    }
                }
                Err(err) => tracing::error!(error = %err, "listing clusters for rollouts"),
            }
            // While canaries are out, look again every few seconds: a canary
            // going stale ends its soak without any report arriving.
            let wait = canaries_out.then(|| {
                let soak_ends = next.map_or(CANARY_RECHECK, |at| {
                    at.duration_since(SystemTime::now()).unwrap_or_default()
                });
                soak_ends.min(CANARY_RECHECK) + Duration::from_millis(10)
            });
            let timer = async {
                match wait {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                changed = activations.changed() => if changed.is_err() { return },
                changed = wakeups.changed() => if changed.is_err() { return },
                changed = reports.changed() => if changed.is_err() { return },
                () = timer => {}
            }
        }
    }
}

fn change<'a>(
    cluster: &'a str,
    action: &'a str,
    rollout: &Rollout,
    before: Option<&Rollout>,
) -> Change<'a> {
    Change {
        cluster: Some(cluster),
        action,
        target: rollout.revision.map_or_else(String::new, |n| n.to_string()),
        detail: json!({
            "revision": rollout.revision,
            "released": rollout.released,
            "state": rollout.state,
            "reason": rollout.reason,
            "previous_state": before.map(|b| b.state),
            "previous_released": before.and_then(|b| b.released),
        }),
    }
}

fn view(cluster: &str, now: RolloutNow) -> RolloutView {
    let RolloutNow {
        rollout,
        settings,
        canaries,
    } = now;
    RolloutView {
        cluster: cluster.to_string(),
        revision: rollout.revision,
        released_revision: rollout.released,
        state: rollout.state,
        since: rfc3339(rollout.since),
        reason: rollout.reason,
        soak_started_at: rollout
            .soak_started
            .filter(|_| rollout.state == RolloutState::Canary)
            .map(rfc3339),
        canary_soak_secs: settings.canary_soak_secs,
        canaries: canaries
            .into_iter()
            .map(|(name, health, applied_revision)| {
                let (status, reason) = match health {
                    CanaryHealth::Ready => ("ready", None),
                    CanaryHealth::Waiting(why) => ("waiting", Some(why)),
                    CanaryHealth::Failed(why) => ("failed", Some(why)),
                };
                CanaryView {
                    name,
                    status: status.to_string(),
                    reason,
                    applied_revision,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn rollout(
        revision: i64,
        released: i64,
        state: RolloutState,
        soak_started: Option<u64>,
    ) -> Rollout {
        Rollout {
            revision: Some(revision),
            released: Some(released),
            state,
            since: at(0),
            reason: None,
            soak_started: soak_started.map(at),
        }
    }

    fn canaries(health: &[CanaryHealth]) -> Vec<(String, CanaryHealth)> {
        health
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("c{i}"), h.clone()))
            .collect()
    }

    use CanaryHealth::{Failed, Ready, Waiting};
    use RolloutState::{Canary, Halted, Released};

    #[test]
    fn the_rollout_moves_as_the_table_says() {
        let soak = Duration::from_secs(60);
        let waiting = Waiting("runs revision 1".into());
        let failed = Failed("revision 2 refused".into());
        // (case, current, active, canaries, now, expected (revision, released, state, soak started))
        type Case = (
            &'static str,
            Option<Rollout>,
            i64,
            Vec<CanaryHealth>,
            u64,
            (i64, i64, RolloutState, Option<u64>),
        );
        let cases: Vec<Case> = vec![
            (
                "first seen: the active revision counts as released",
                None,
                1,
                vec![waiting.clone()],
                5,
                (1, 1, Released, None),
            ),
            (
                "no canaries: released at once",
                Some(rollout(1, 1, Released, None)),
                2,
                vec![],
                5,
                (2, 2, Released, None),
            ),
            (
                "canaries: a new revision goes to them first",
                Some(rollout(1, 1, Released, None)),
                2,
                vec![waiting.clone()],
                5,
                (2, 1, Canary, None),
            ),
            (
                "a ready canary starts the soak",
                Some(rollout(2, 1, Canary, None)),
                2,
                vec![Ready],
                5,
                (2, 1, Canary, Some(5)),
            ),
            (
                "one canary still waiting: no soak",
                Some(rollout(2, 1, Canary, None)),
                2,
                vec![Ready, waiting.clone()],
                5,
                (2, 1, Canary, None),
            ),
            (
                "the soak goes on",
                Some(rollout(2, 1, Canary, Some(5))),
                2,
                vec![Ready, Ready],
                64,
                (2, 1, Canary, Some(5)),
            ),
            (
                "a canary drops out: the soak starts over",
                Some(rollout(2, 1, Canary, Some(5))),
                2,
                vec![Ready, waiting.clone()],
                30,
                (2, 1, Canary, None),
            ),
            (
                "the soak is over: released",
                Some(rollout(2, 1, Canary, Some(5))),
                2,
                vec![Ready, Ready],
                65,
                (2, 2, Released, Some(5)),
            ),
            (
                "a canary fails: halted",
                Some(rollout(2, 1, Canary, Some(5))),
                2,
                vec![Ready, failed.clone()],
                30,
                (2, 1, Halted, None),
            ),
            (
                "halted stays halted",
                Some(rollout(2, 1, Halted, None)),
                2,
                vec![Ready],
                500,
                (2, 1, Halted, None),
            ),
            (
                "a fix forward starts a new rollout",
                Some(rollout(2, 1, Halted, None)),
                3,
                vec![waiting.clone()],
                500,
                (3, 1, Canary, None),
            ),
            (
                "back to the released revision: released at once",
                Some(rollout(2, 1, Halted, None)),
                1,
                vec![waiting.clone()],
                500,
                (1, 1, Released, None),
            ),
            (
                "canaries removed mid-rollout: released",
                Some(rollout(2, 1, Canary, None)),
                2,
                vec![],
                30,
                (2, 2, Released, None),
            ),
            (
                "released stays released",
                Some(rollout(2, 2, Released, None)),
                2,
                vec![failed.clone()],
                30,
                (2, 2, Released, None),
            ),
        ];
        for (case, current, active, health, now, (revision, released, state, soak_started)) in cases
        {
            let next = next_rollout(
                current.as_ref(),
                Some(active),
                &canaries(&health),
                soak,
                at(now),
            );
            assert_eq!(
                (next.revision, next.released, next.state, next.soak_started),
                (Some(revision), Some(released), state, soak_started.map(at)),
                "{case}"
            );
        }
    }

    #[test]
    fn a_halt_names_the_canary_and_why() {
        let current = rollout(2, 1, Canary, None);
        let health = vec![(
            "edge-1".to_string(),
            Failed("revision 2 refused: above the removal limit".into()),
        )];
        let next = next_rollout(
            Some(&current),
            Some(2),
            &health,
            Duration::from_secs(1),
            at(9),
        );
        assert_eq!(
            next.reason.as_deref(),
            Some("canary edge-1: revision 2 refused: above the removal limit")
        );
        assert_eq!(next.since, at(9));
    }

    #[test]
    fn canaries_run_the_new_revision_and_the_others_the_released_one() {
        let canaries = vec!["c1".to_string()];
        let holding = rollout(2, 1, Canary, None);
        assert_eq!(holding.desired_for(&canaries, "c1"), Some(2));
        assert_eq!(holding.desired_for(&canaries, "other"), Some(1));
        let halted = rollout(2, 1, Halted, None);
        assert_eq!(halted.desired_for(&canaries, "other"), Some(1));
        let released = rollout(2, 2, Released, None);
        assert_eq!(released.desired_for(&canaries, "other"), Some(2));
    }

    mod stored {
        use super::*;
        use crate::core::{CommitRequest, Precondition};
        use crate::store::Store;

        fn commit(weight: u32) -> CommitRequest {
            let json = format!(
                r#"{{"services": [{{"id": "tcp:192.168.31.100:80", "scheduler": "wrr",
                    "servers": [{{"address": "172.25.0.31", "forwarding": "nat", "weight": {weight}}}]}}]}}"#
            );
            CommitRequest {
                message: format!("weight {weight}"),
                author: None,
                expected_base: None,
                activate: true,
                spec: Some(serde_json::from_str(&json).unwrap()),
                precondition: Precondition::default(),
                confirm_within: None,
            }
        }

        async fn stored(core: &Core) -> (Option<i64>, Option<i64>, String, String) {
            let row = store::rollout(core.store().reader(), "web")
                .await
                .unwrap()
                .expect("a stored rollout");
            (row.revision, row.released, row.state, row.since)
        }

        #[tokio::test]
        async fn without_canaries_the_activation_itself_releases_and_asking_writes_nothing() {
            let dir = tempfile::tempdir().unwrap();
            let core = Core::new(
                Store::open(dir.path().join("lvsd.db").to_str().unwrap())
                    .await
                    .unwrap(),
            );
            let caller = Caller::anonymous();
            core.create_cluster(&caller, "web", "").await.unwrap();
            core.commit(&caller, "web", commit(1)).await.unwrap();
            core.commit(&caller, "web", commit(2)).await.unwrap();
            let released = stored(&core).await;
            assert_eq!(
                (released.0, released.1, released.2.as_str()),
                (Some(2), Some(2), "released")
            );
            let desired = core.desired_changes();
            assert_eq!(core.director_revision("web", "d1").await.unwrap(), Some(2));
            assert_eq!(
                stored(&core).await,
                released,
                "asking what to run stores nothing"
            );
            assert!(!desired.has_changed().unwrap(), "and wakes nobody");

            // With canaries the activation leaves the rollout to `rollout_now`,
            // which holds the others on the revision released without them.
            let settings = ClusterSettings {
                canaries: vec!["c1".to_string()],
                ..ClusterSettings::default()
            };
            core.put_settings(&caller, "web", settings, &Default::default())
                .await
                .unwrap();
            core.commit(&caller, "web", commit(3)).await.unwrap();
            assert_eq!(stored(&core).await, released);
            assert_eq!(core.director_revision("web", "c1").await.unwrap(), Some(3));
            assert_eq!(core.director_revision("web", "d1").await.unwrap(), Some(2));
            let canary = stored(&core).await;
            assert_eq!(
                (canary.0, canary.1, canary.2.as_str()),
                (Some(3), Some(2), "canary")
            );
        }
    }

    #[test]
    fn canary_health_from_the_stored_status() {
        let row = |applied: Option<i64>, blocked: Option<i64>, drift: &str| DirectorRow {
            applied_revision: applied,
            blocked_revision: blocked,
            drift: Some(drift.to_string()),
            ..DirectorRow::default()
        };
        assert_eq!(
            canary_health(None, Some(2), false),
            Waiting("has not reported yet".into())
        );
        assert_eq!(
            canary_health(Some(&row(Some(2), None, "[]")), Some(2), false),
            Ready
        );
        assert!(matches!(
            canary_health(Some(&row(Some(2), None, "[]")), Some(2), true),
            Waiting(_)
        ));
        assert!(matches!(
            canary_health(Some(&row(Some(1), None, "[]")), Some(2), false),
            Waiting(_)
        ));
        assert!(matches!(
            canary_health(Some(&row(Some(1), Some(2), "[]")), Some(2), false),
            Failed(_)
        ));
        assert!(matches!(
            canary_health(Some(&row(Some(2), None, "[{}]")), Some(2), false),
            Waiting(_)
        ));
    }
}
