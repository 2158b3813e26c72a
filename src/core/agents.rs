//! Remote directors (`lvsd agent`): what a director should run
//! ([`Desired`], answered at once or held as a long-poll until it changes),
//! and what it reports back ([`DirectorReport`]): stored like the local
//! director's steps, with a heartbeat that tells fresh directors from stale ones.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::clusters::not_found;
use super::directors::{DirectorUpdate, store_step};
use super::{Caller, Core, DirectorView, Error, LiveReport, Result, now};
use crate::apply::{DirectorState, DrainRecord, Event};
use crate::contract::agent::{AgentRole, Desired, DirectorReport, HealthChange, ZeroRequest};
use crate::health::{HealthEvent, Transition};
use crate::ipvs::DestKey;
use crate::model::{ServiceKey, Spec, ValidationError};
use crate::store::{self, DirectorRow, Topic};

/// Longest a long-poll is held: under the REST request timeout (60 s by default).
pub const MAX_WAIT: Duration = Duration::from_secs(55);

/// The mode of directors that report through the API.
pub const AGENT_MODE: &str = "agent";

/// The mode of real servers' agents (`lvsd agent --role realserver`): host settings, no table.
pub const REALSERVER_MODE: &str = "realserver";

/// A director is stale after this many report intervals without a report.
const STALE_INTERVALS: u64 = 3;

/// Bounds on one report, so that a confused agent cannot fill the store.
const MAX_APPLIES: usize = 100;
const MAX_DRAINS: usize = 100_000;
const MAX_DRIFT: usize = 100_000;
const MAX_COUNTED_SERVICES: usize = 100_000;
const MAX_VERSION_LEN: usize = 64;
const MAX_HOST_ERRORS: usize = 20;
const MAX_HEALTH_CHANGES: usize = 10_000;
const MAX_REPORT_INTERVAL_SECS: u64 = 3600;

/// Director names: host names, as `lvsd serve --director` and `lvsd agent` use them.
pub(crate) fn validate_director_name(name: &str) -> std::result::Result<(), String> {
    let ok = (1..=253).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a director name: 1 to 253 characters of A-Z, a-z, 0-9, '-', '_' or '.', starting with a letter or digit"
        ))
    }
}

/// A long-poll's `wait` (`30s`, `1m`, `500ms`), at most [`MAX_WAIT`].
pub fn parse_wait(text: &str) -> Result<Duration> {
    let wait = humantime::parse_duration(text).map_err(|e| {
        Error::invalid(
            "wait",
            format!("`{text}` is not a duration such as 30s: {e}"),
        )
    })?;
    if wait > MAX_WAIT {
        return Err(Error::invalid(
            "wait",
            format!("`{text}` is too long: at most {} s", MAX_WAIT.as_secs()),
        ));
    }
    Ok(wait)
}

fn parse_time(at: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(at).ok()
}

impl Core {
    /// Whether `row`'s director has missed three report intervals; the local
    /// director counts as fresh while this server runs it.
    pub(crate) fn is_stale(&self, row: &DirectorRow, now: SystemTime) -> bool {
        if row.mode != AGENT_MODE && row.mode != REALSERVER_MODE {
            return self
                .local_director()
                .is_none_or(|local| local.name() != row.director);
        }
        let (Some(interval), Some(heartbeat)) =
            (row.report_interval_secs, row.heartbeat_at.as_deref())
        else {
            return true;
        };
        let Some(heartbeat) = parse_time(heartbeat) else {
            return true;
        };
        let limit = Duration::from_secs(
            u64::try_from(interval)
                .unwrap_or(0)
                .saturating_mul(STALE_INTERVALS),
        );
        now.duration_since(heartbeat).unwrap_or_default() > limit
    }

    /// Notifies when what some director should run changed other than by an
    /// activation or new settings: a rollout released, a zeroing request.
    pub fn desired_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.desired.subscribe()
    }

    pub(crate) fn desired_changed(&self) {
        self.inner.desired.send_modify(|n| *n += 1);
        self.tell_other_servers(Topic::Desired);
    }

    /// The revision `director` should run for `cluster` (see [`super::rollout`]).
    pub async fn director_revision(&self, cluster: &str, director: &str) -> Result<Option<i64>> {
        let now = self.rollout_now(cluster).await?;
        Ok(now.rollout.desired_for(&now.settings.canaries, director))
    }

    /// The revision `director` should run for `cluster`, and its spec;
    /// `None` without an active revision. The active revision's spec is
    /// parsed once (see [`Core::active_spec`]).
    pub async fn director_spec(
        &self,
        cluster: &str,
        director: &str,
    ) -> Result<Option<(i64, Arc<Spec>)>> {
        let Some(revision) = self.director_revision(cluster, director).await? else {
            return Ok(None);
        };
        match self.active_spec(cluster).await? {
            Some((active, spec)) if active == revision => Ok(Some((active, spec))),
            _ => Ok(Some((
                revision,
                Arc::new(self.revision_spec(cluster, revision).await?),
            ))),
        }
    }

    /// What `director` should run for `cluster` now, without the spec.
    async fn desired_state(&self, cluster: &str, director: &str) -> Result<Desired> {
        let rollout = self.rollout_now(cluster).await?;
        let zero = store::zero_request(self.store().reader(), cluster)
            .await?
            .map(|row| ZeroRequest {
                seq: u64::try_from(row.seq).unwrap_or(0),
                service: row.service,
            });
        Ok(Desired {
            cluster: cluster.to_string(),
            revision: rollout
                .rollout
                .desired_for(&rollout.settings.canaries, director),
            active_revision: rollout.rollout.revision,
            spec: None,
            settings: rollout.settings,
            zero,
            switchover: self.switchover_request(cluster).await?,
        })
    }

    async fn with_spec(&self, mut desired: Desired) -> Result<Desired> {
        // Not `director_spec`: the revision is the one `desired_state` saw.
        if let Some(revision) = desired.revision {
            let spec = match self.active_spec(&desired.cluster).await? {
                Some((active, spec)) if active == revision => spec.to_doc(),
                _ => self
                    .revision_spec(&desired.cluster, revision)
                    .await?
                    .to_doc(),
            };
            desired.spec = Some(spec);
        }
        Ok(desired)
    }

    /// What `director` should run for `cluster`. With `after` (the revision
    /// it runs) and the same revision still desired, waits up to `wait` for
    /// something it acts on to change (revision, settings, a zeroing
    /// request, a release); answers the state then, changed or not.
    pub async fn desired(
        &self,
        cluster: &str,
        director: &str,
        after: Option<i64>,
        wait: Duration,
    ) -> Result<Desired> {
        validate_director_name(director).map_err(|e| Error::invalid("director", e))?;
        // Subscribed before the first look, so that no change slips between.
        let mut activations = self.activations();
        let mut wakeups = self.wakeups();
        let mut changes = self.desired_changes();
        let first = self.desired_state(cluster, director).await?;
        if after.is_none() || first.revision != after {
            return self.with_spec(first).await;
        }
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        loop {
            tokio::select! {
                _ = activations.changed() => {}
                _ = wakeups.changed() => {}
                _ = changes.changed() => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
            let now = self.desired_state(cluster, director).await?;
            if now != first {
                return self.with_spec(now).await;
            }
        }
        let now = self.desired_state(cluster, director).await?;
        self.with_spec(now).await
    }

    /// Follows what `director` should run: sends the state now and after
    /// every change of it into `updates`, until its receiver goes away (or
    /// an error, sent last: a bad name, the cluster deleted).
    pub async fn watch_desired(
        &self,
        cluster: &str,
        director: &str,
        updates: mpsc::Sender<Result<Desired>>,
    ) {
        let closed = updates.clone();
        tokio::select! {
            () = self.follow_desired(cluster, director, &updates) => {}
            // The receiver going away ends the watch without waiting for a change.
            () = closed.closed() => {}
        }
    }

    async fn follow_desired(
        &self,
        cluster: &str,
        director: &str,
        updates: &mpsc::Sender<Result<Desired>>,
    ) {
        if let Err(err) = validate_director_name(director) {
            let _ = updates.send(Err(Error::invalid("director", err))).await;
            return;
        }
        let mut activations = self.activations();
        let mut wakeups = self.wakeups();
        let mut changes = self.desired_changes();
        let mut last: Option<Desired> = None;
        loop {
            match self.desired_state(cluster, director).await {
                Ok(state) if last.as_ref() == Some(&state) => {}
                Ok(state) => {
                    last = Some(state.clone());
                    if updates.send(self.with_spec(state).await).await.is_err() {
                        return;
                    }
                }
                Err(err) => {
                    let _ = updates.send(Err(err)).await;
                    return;
                }
            }
            tokio::select! {
                changed = activations.changed() => if changed.is_err() { return },
                changed = wakeups.changed() => if changed.is_err() { return },
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Stores what the agent of director `name` reports for `cluster`: its
    /// status, drains and counters, an audit entry per apply and per drift
    /// found, and its heartbeat. Answers the director as the API shows it.
    pub async fn report_director(
        &self,
        caller: &Caller,
        cluster: &str,
        name: &str,
        report: DirectorReport,
    ) -> Result<DirectorView> {
        self.audited(caller, Some(cluster), "director.report", name, async {
            validate_director_name(name).map_err(|e| Error::invalid("name", e))?;
            let drains = validate_report(&report)?;
            let health_events = health_events_in(&report.health_changes)?;
            let reader = self.store().reader();
            store::active_revision(reader, cluster).await?.ok_or_else(|| not_found(cluster))?;
            self.check_revisions(cluster, &report).await?;
            if self.local_director().is_some_and(|local| local.name() == name) {
                return Err(Error::Conflict(format!(
                    "director {name} is this server's own (lvsd serve --apply-local): no agent reports for it"
                )));
            }
            let mode = match report.role {
                AgentRole::Director => AGENT_MODE,
                AgentRole::Realserver => REALSERVER_MODE,
            };
            let existing = store::director(reader, cluster, name).await?;
            if let Some(row) = existing.as_ref().filter(|row| row.mode != mode) {
                return Err(Error::Conflict(format!(
                    "director {name} of cluster {cluster} is a {} director: no {mode} reports for it",
                    row.mode
                )));
            }
            let zero_seq = store::zero_request(reader, cluster).await?.map_or(0, |z| z.seq);
            if let Some(seq) = report.zeroed_seq
                && i64::try_from(seq).map_or(true, |seq| seq > zero_seq)
            {
                return Err(Error::invalid(
                    "zeroed_seq",
                    format!("{seq} was never requested: the latest zeroing request of cluster {cluster} is {zero_seq}"),
                ));
            }
            if let Some(ha) = &report.ha {
                let requested = store::switchover_request(reader, cluster).await?.map_or(0, |s| s.seq);
                super::ha::validate_ha_report(ha, requested, cluster)?;
            }
            let rollout = self.rollout_now(cluster).await?;
            let desired = rollout.rollout.desired_for(&rollout.settings.canaries, name);

            let before = self.director_state(cluster, name).await?;
            let after = DirectorState {
                applied: report.applied_revision,
                blocked: report.blocked_revision,
                drains,
                created: before.created.clone(),
            };
            let mut events: Vec<Event> = report.applies.iter().map(|r| Event::Applied(Box::new(r.clone()))).collect();
            let at = now();
            let mut row = existing.unwrap_or_else(|| DirectorRow {
                cluster: cluster.to_string(),
                director: name.to_string(),
                ..DirectorRow::default()
            });
            if let Some(check) = &report.drift_check {
                if !check.drift.is_empty() {
                    events.push(Event::Drift { revision: check.revision, drift: check.drift.clone(), mode: check.mode });
                } else if let Some(hash) = &check.hash {
                    events.push(Event::InSync { revision: check.revision, hash: hash.clone() });
                } else {
                    row.checked_at = Some(at.clone());
                    row.drift = Some("[]".to_string());
                }
            }
            row.agent_version = Some(report.agent_version.clone());
            row.report_interval_secs = i64::try_from(report.report_interval_secs).ok();
            row.heartbeat_at = Some(at);
            if let Some(seq) = report.zeroed_seq {
                let seq = i64::try_from(seq).unwrap_or(i64::MAX);
                row.zeroed_seq = Some(row.zeroed_seq.map_or(seq, |known| known.max(seq)));
            }
            let update = DirectorUpdate {
                cluster,
                director: name,
                mode,
                before: &before,
                after: &after,
                events: &events,
            };
            let mut tx = self.store().begin().await?;
            store::active_revision(&mut *tx, cluster).await?.ok_or_else(|| not_found(cluster))?;
            store_step(&mut tx, caller, &update, row, desired).await?;
            tx.commit().await.map_err(store::StoreError::from)?;
            self.count_drift(&update);
            self.director_recorded();
            let live = LiveReport {
                counters: report.counters,
                health: (!report.health.is_empty()).then(|| report.health.clone()),
                // The agent's own faults are shown with its host's, marked.
                host_errors: Some(
                    report
                        .host_errors
                        .iter()
                        .cloned()
                        .chain(report.agent_errors.iter().map(|e| format!("agent: {e}")))
                        .collect(),
                ),
                ha: Some(report.ha.clone().map(|mut ha| {
                    ha.transitions.clear();
                    ha
                })),
            };
            // Audited before they show: whoever sees a real server down in
            // the views finds its audit entry too.
            self.record_health_events(cluster, name, &health_events).await?;
            self.record_live(cluster, name, live).await;
            let transitions = report.ha.as_ref().map_or(&[][..], |ha| &ha.transitions[..]);
            self.record_ha(cluster, name, transitions).await?;
            // A canary's report may end its rollout's soak, or halt it.
            self.rollout_now(cluster).await?;
            self.director(cluster, name).await
        })
        .await
    }

    /// Refuses a report that names revisions the cluster does not have.
    async fn check_revisions(&self, cluster: &str, report: &DirectorReport) -> Result<()> {
        let mut named: Vec<(String, i64)> = Vec::new();
        named.extend(
            report
                .applied_revision
                .map(|n| ("applied_revision".to_string(), n)),
        );
        named.extend(
            report
                .blocked_revision
                .map(|n| ("blocked_revision".to_string(), n)),
        );
        for (i, apply) in report.applies.iter().enumerate() {
            named.extend(
                apply
                    .revision
                    .map(|n| (format!("applies[{i}].revision"), n)),
            );
        }
        named.extend(
            report
                .drift_check
                .as_ref()
                .map(|c| ("drift_check.revision".to_string(), c.revision)),
        );
        let numbers: BTreeSet<i64> = named.iter().map(|(_, n)| *n).collect();
        let missing = store::missing_revisions(self.store().reader(), cluster, numbers).await?;
        match named.into_iter().find(|(_, n)| missing.contains(n)) {
            Some((field, number)) => Err(Error::invalid(
                field,
                format!("{number} is not a revision of cluster {cluster}"),
            )),
            None => Ok(()),
        }
    }
}

/// Checks a report's sizes and texts; returns its drains as the director state keeps them.
fn validate_report(
    report: &DirectorReport,
) -> Result<std::collections::BTreeMap<(ServiceKey, DestKey), DrainRecord>> {
    let version = report.agent_version.trim();
    if version.is_empty()
        || version.len() > MAX_VERSION_LEN
        || !version.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(Error::invalid(
            "agent_version",
            format!(
                "`{}` is not a version: 1 to {MAX_VERSION_LEN} printable characters",
                report.agent_version
            ),
        ));
    }
    if !(1..=MAX_REPORT_INTERVAL_SECS).contains(&report.report_interval_secs) {
        return Err(Error::invalid(
            "report_interval_secs",
            format!(
                "{} is out of range: 1 to {MAX_REPORT_INTERVAL_SECS} seconds",
                report.report_interval_secs
            ),
        ));
    }
    let bounded = |field: &str, len: usize, max: usize| {
        if len > max {
            Err(Error::invalid(
                field,
                format!("{len} entries: at most {max} in one report"),
            ))
        } else {
            Ok(())
        }
    };
    bounded("applies", report.applies.len(), MAX_APPLIES)?;
    bounded("draining", report.draining.len(), MAX_DRAINS)?;
    bounded("host_errors", report.host_errors.len(), MAX_HOST_ERRORS)?;
    bounded("agent_errors", report.agent_errors.len(), MAX_HOST_ERRORS)?;
    bounded(
        "health_changes",
        report.health_changes.len(),
        MAX_HEALTH_CHANGES,
    )?;
    if let Some(check) = &report.drift_check {
        bounded("drift_check.drift", check.drift.len(), MAX_DRIFT)?;
    }
    if let Some(counters) = &report.counters {
        bounded(
            "counters.services",
            counters.services.len(),
            MAX_COUNTED_SERVICES,
        )?;
    }
    for (i, revision) in [
        ("applied_revision", report.applied_revision),
        ("blocked_revision", report.blocked_revision),
    ] {
        if revision.is_some_and(|n| n < 1) {
            return Err(Error::invalid(i, "revision numbers start at 1"));
        }
    }
    let mut drains = std::collections::BTreeMap::new();
    for (i, drain) in report.draining.iter().enumerate() {
        let field = |name: &str| format!("draining[{i}].{name}");
        let service = drain
            .service
            .parse::<ServiceKey>()
            .map_err(|e| Error::invalid(field("service"), e.message))?;
        let server = drain.server.parse::<std::net::SocketAddr>().map_err(|e| {
            Error::invalid(
                field("server"),
                format!("`{}` is not an address:port: {e}", drain.server),
            )
        })?;
        let time = |name: &str, text: &str| {
            parse_time(text).ok_or_else(|| {
                Error::invalid(field(name), format!("`{text}` is not an RFC 3339 time"))
            })
        };
        let record = DrainRecord {
            started_at: time("started_at", &drain.started_at)?,
            deadline: time("deadline", &drain.deadline)?,
        };
        drains.insert(
            (
                service,
                DestKey {
                    addr: server.ip(),
                    port: server.port(),
                },
            ),
            record,
        );
    }
    Ok(drains)
}

/// The health changes of a report as the audit log records them; refuses
/// one that names no service or server, or no time.
fn health_events_in(changes: &[HealthChange]) -> Result<Vec<HealthEvent>> {
    changes
        .iter()
        .enumerate()
        .map(|(i, change)| {
            let field = |name: &str| format!("health_changes[{i}].{name}");
            let at = humantime::parse_rfc3339_weak(&change.at).map_err(|e| {
                Error::invalid(
                    field("at"),
                    format!("`{}` is not an RFC 3339 time: {e}", change.at),
                )
            })?;
            let service = change
                .service
                .parse()
                .map_err(|e: ValidationError| Error::invalid(field("service"), e.message))?;
            let server = change
                .server
                .parse()
                .map_err(|e: ValidationError| Error::invalid(field("server"), e.message))?;
            let transition = match change.healthy {
                true => Transition::Up,
                false => Transition::Down {
                    reason: change.reason.clone().unwrap_or_default(),
                },
            };
            Ok(HealthEvent {
                at,
                service,
                server,
                transition,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_parse_and_are_capped() {
        assert_eq!(parse_wait("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_wait("500ms").unwrap(), Duration::from_millis(500));
        let err = parse_wait("2m").unwrap_err();
        assert_eq!(err.field(), Some("wait"));
        assert!(err.message().contains("at most 55 s"), "{err}");
        let err = parse_wait("soon").unwrap_err();
        assert!(err.message().contains("`soon` is not a duration"), "{err}");
    }

    #[test]
    fn director_names_are_host_names() {
        assert!(validate_director_name("lb-1.example.org").is_ok());
        assert!(validate_director_name("LB1").is_ok());
        assert!(validate_director_name("").is_err());
        assert!(validate_director_name("-lb").is_err());
        assert!(validate_director_name("lb/1").is_err());
        assert!(validate_director_name(&"a".repeat(254)).is_err());
    }
}
