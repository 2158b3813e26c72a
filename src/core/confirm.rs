//! Commit confirmed, as network operating systems have it: a commit (or
//! rollback) with `confirm_within` must be confirmed before the deadline, or
//! lvsd rolls the cluster back to the revision active before it, by itself,
//! and audits why. A change that cuts the operator off cannot stay.
//!
//! The pending confirmation is stored with its deadline, so a restarted
//! server honours it (a deadline that passed while it was down expires at
//! once). A later commit that changes the active revision confirms the
//! pending one; a second commit confirmed keeps the first one's fallback,
//! the last revision known good.

use std::future::Future;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::audit::{Change, record};
use super::clusters::{not_found, parse_spec};
use super::revisions::NewRevision;
use super::{Caller, CommitOutcome, Core, Error, Result, RevisionKind, now};
use crate::store::{self, PendingConfirmRow, Tx};

/// Shortest and longest confirmation windows.
const MIN_CONFIRM: Duration = Duration::from_secs(1);
const MAX_CONFIRM: Duration = Duration::from_secs(24 * 3600);

/// A commit waiting for its confirmation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendingConfirm {
    /// The revision to confirm.
    pub revision: i64,
    /// The revision the cluster rolls back to without confirmation.
    pub fallback: i64,
    /// RFC 3339.
    pub deadline: String,
    pub requested_by: String,
    pub requested_at: String,
}

impl From<PendingConfirmRow> for PendingConfirm {
    fn from(row: PendingConfirmRow) -> Self {
        PendingConfirm {
            revision: row.revision,
            fallback: row.fallback,
            deadline: row.deadline,
            requested_by: row.requested_by,
            requested_at: row.requested_at,
        }
    }
}

/// The answer to a confirmation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Confirmed {
    pub cluster: String,
    pub revision: i64,
    pub confirmed_at: String,
}

/// Reads `5m`, `90s`, `1h 30m` as a confirmation window.
pub fn parse_confirm_within(text: &str) -> Result<Duration> {
    let within = humantime::parse_duration(text.trim()).map_err(|e| {
        Error::invalid(
            "confirm_within",
            format!("`{text}` is not a duration such as 90s, 5m or 1h ({e})"),
        )
    })?;
    if !(MIN_CONFIRM..=MAX_CONFIRM).contains(&within) {
        return Err(Error::invalid(
            "confirm_within",
            format!("`{text}` is out of range: 1s to 24h"),
        ));
    }
    Ok(within)
}

impl Core {
    /// After a commit, rollback or activation in `tx`: arms the confirmation
    /// asked for, or settles a pending one the change supersedes.
    pub(super) async fn settle_confirm(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        cluster: &str,
        previous_active: Option<i64>,
        outcome: &mut CommitOutcome,
        confirm_within: Option<Duration>,
    ) -> Result<()> {
        let revision = outcome.revision.number;
        let newly_active = outcome.revision.active && previous_active != Some(revision);
        let pending = store::pending_confirm(&mut **tx, cluster).await?;
        let Some(within) = confirm_within else {
            if let Some(pending) = pending.filter(|_| newly_active) {
                store::delete_pending_confirm(&mut **tx, cluster).await?;
                let change = Change {
                    cluster: Some(cluster),
                    action: "revision.confirm",
                    target: pending.revision.to_string(),
                    detail: json!({ "reason": format!("superseded by revision {revision}") }),
                };
                record(tx, caller, change).await?;
            }
            return Ok(());
        };
        if let Some(pending) = pending
            .as_ref()
            .filter(|p| p.revision == revision && !newly_active)
        {
            // A retry of the same commit confirmed.
            outcome.confirm = Some(pending.clone().into());
            return Ok(());
        }
        if !newly_active {
            return Err(Error::invalid(
                "confirm_within",
                format!("revision {revision} was already active: there is no change to confirm"),
            ));
        }
        let fallback = pending.map(|p| p.fallback).or(previous_active).ok_or_else(|| {
            Error::invalid(
                "confirm_within",
                "the cluster had no active revision before: there is nothing to roll back to without confirmation",
            )
        })?;
        let requested_at = now();
        let deadline = crate::model::time::rfc3339(SystemTime::now() + within);
        let row = PendingConfirmRow {
            cluster: cluster.to_string(),
            revision,
            fallback,
            deadline: deadline.clone(),
            requested_by: caller.actor.clone(),
            requested_at,
        };
        store::put_pending_confirm(&mut **tx, &row).await?;
        let change = Change {
            cluster: Some(cluster),
            action: "revision.confirm.pending",
            target: revision.to_string(),
            detail: json!({ "fallback": fallback, "deadline": deadline, "within_secs": within.as_secs() }),
        };
        record(tx, caller, change).await?;
        outcome.confirm = Some(row.into());
        Ok(())
    }

    /// Confirms the pending commit of `cluster`.
    pub async fn confirm(&self, caller: &Caller, cluster: &str) -> Result<Confirmed> {
        self.audited(caller, Some(cluster), "revision.confirm", cluster, async {
            let mut tx = self.store().begin().await?;
            store::active_revision(&mut *tx, cluster).await?.ok_or_else(|| not_found(cluster))?;
            let pending = store::pending_confirm(&mut *tx, cluster)
                .await?
                .ok_or_else(|| Error::Conflict(format!("cluster {cluster} has no commit waiting for confirmation")))?;
            store::delete_pending_confirm(&mut *tx, cluster).await?;
            let confirmed_at = now();
            let change = Change {
                cluster: Some(cluster),
                action: "revision.confirm",
                target: pending.revision.to_string(),
                detail: json!({ "deadline": pending.deadline, "requested_by": pending.requested_by }),
            };
            record(&mut tx, caller, change).await?;
            tx.commit().await.map_err(store::StoreError::from)?;
            self.confirms_changed();
            Ok(Confirmed { cluster: cluster.to_string(), revision: pending.revision, confirmed_at })
        })
        .await
    }

    /// The commit of `cluster` waiting for confirmation, if any.
    pub async fn pending_confirm(&self, cluster: &str) -> Result<Option<PendingConfirm>> {
        Ok(store::pending_confirm(self.store().reader(), cluster)
            .await?
            .map(Into::into))
    }

    /// The deadline of `cluster`'s pending confirmation passed: rolls back to
    /// its fallback revision. Returns the new revision, or `None` when the
    /// confirmation was settled meanwhile.
    pub async fn expire_confirm(&self, cluster: &str) -> Result<Option<i64>> {
        let started = std::time::Instant::now();
        let caller = Caller::new("lvsd", uuid::Uuid::new_v4().to_string());
        let mut tx = self.store().begin().await?;
        let Some(pending) = store::pending_confirm(&mut *tx, cluster).await? else {
            return Ok(None);
        };
        let Some(mut row) = store::cluster(&mut *tx, cluster).await? else {
            return Ok(None);
        };
        store::delete_pending_confirm(&mut *tx, cluster).await?;
        let target = store::revision(&mut *tx, cluster, pending.fallback)
            .await?
            .ok_or_else(|| {
                Error::Internal(format!(
                    "fallback revision {} of {cluster} is gone",
                    pending.fallback
                ))
            })?;
        let message = format!(
            "automatic rollback to revision {}: revision {} was not confirmed by {}",
            pending.fallback, pending.revision, pending.deadline
        );
        let new = NewRevision {
            spec: std::sync::Arc::new(parse_spec(&target.spec)?),
            stored_hash: Some(target.content_hash.clone()),
            message: &message,
            author: "lvsd",
            kind: RevisionKind::Rollback,
            rollback_of: Some(pending.fallback),
            expected_base: None,
            activate: true,
        };
        let draft_version = row.draft_version;
        let (outcome, spec) = self.add_revision(&mut tx, &caller, &mut row, new).await?;
        let change = Change {
            cluster: Some(cluster),
            action: "revision.confirm.expired",
            target: pending.revision.to_string(),
            detail: json!({
                "reason": "no confirmation arrived before the deadline",
                "deadline": pending.deadline,
                "requested_by": pending.requested_by,
                "fallback": pending.fallback,
                "rollback_revision": outcome.revision.number,
            }),
        };
        record(&mut tx, &caller, change).await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        tracing::warn!(
            cluster,
            revision = pending.revision,
            fallback = pending.fallback,
            "commit not confirmed in time: rolled back"
        );
        if row.draft_version != draft_version {
            self.remember_draft(&row, spec.clone());
        }
        self.remember_outcome(cluster, &outcome, spec, started);
        self.activation_committed();
        Ok(Some(outcome.revision.number))
    }

    /// Rolls back every commit not confirmed by its deadline, until `shutdown`.
    ///
    /// Deadlines are wall-clock times in the store; each is turned into a
    /// timer when read, and the timer firing is what expires it (so tests can
    /// pause tokio's clock).
    pub async fn watch_confirms(self, shutdown: impl Future<Output = ()>) {
        let mut changes = self.inner.confirms.subscribe();
        tokio::pin!(shutdown);
        loop {
            let pending = match store::pending_confirms(self.store().reader()).await {
                Ok(pending) => pending,
                Err(err) => {
                    tracing::error!(error = %err, "reading pending confirmations");
                    Vec::new()
                }
            };
            let next = pending
                .iter()
                .map(|p| {
                    let deadline = humantime::parse_rfc3339_weak(&p.deadline)
                        .unwrap_or(SystemTime::UNIX_EPOCH);
                    let left = deadline
                        .duration_since(SystemTime::now())
                        .unwrap_or_default();
                    (tokio::time::Instant::now() + left, p.cluster.clone())
                })
                .min();
            let timer = async {
                match &next {
                    Some((at, _)) => tokio::time::sleep_until(*at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = timer => {
                    let (_, cluster) = next.expect("the timer runs only with a deadline");
                    if let Err(err) = self.expire_confirm(&cluster).await {
                        tracing::error!(error = %err, cluster, "rolling back an unconfirmed commit");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::core::{CommitRequest, Precondition};
    use crate::model::SpecDoc;
    use crate::store::Store;

    fn spec(weight: u32) -> SpecDoc {
        let json = format!(
            r#"{{"services": [{{"id": "tcp:192.168.31.100:80", "scheduler": "wrr",
                "servers": [{{"address": "172.25.0.31", "forwarding": "nat", "weight": {weight}}}]}}]}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    fn commit(weight: u32, confirm_within: Option<&str>) -> CommitRequest {
        CommitRequest {
            message: format!("weight {weight}"),
            author: None,
            expected_base: None,
            activate: true,
            spec: Some(spec(weight)),
            precondition: Precondition::default(),
            confirm_within: confirm_within.map(str::to_string),
        }
    }

    async fn active(core: &Core) -> Option<i64> {
        core.get_cluster("web").await.unwrap().active_revision
    }

    #[tokio::test]
    async fn an_unconfirmed_commit_rolls_back_when_its_deadline_passes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("lvsd.db").to_str().unwrap())
            .await
            .unwrap();
        let core = Core::new(store);
        let caller = Caller::anonymous();
        core.create_cluster(&caller, "web", "").await.unwrap();
        core.commit(&caller, "web", commit(1, None)).await.unwrap();
        let outcome = core
            .commit(&caller, "web", commit(2, Some("300s")))
            .await
            .unwrap();
        let pending = outcome.confirm.unwrap();
        assert_eq!((pending.revision, pending.fallback), (2, 1));

        // The watchdog reads the pending confirmation, then time stands still
        // and moves only as the test says (nothing else may wait on a timer
        // meanwhile, or the paused clock would jump to it).
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let watchdog = tokio::spawn(core.clone().watch_confirms(async {
            let _ = stopped.await;
        }));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut activations = core.activations();
        activations.mark_unchanged();
        tokio::time::pause();

        tokio::time::advance(Duration::from_secs(290)).await;
        assert!(
            !activations.has_changed().unwrap(),
            "nothing happens before the deadline"
        );

        // The timer fires; the rollback itself talks to SQLite, whose pool
        // has timeouts of its own: let real time run again for it.
        tokio::time::advance(Duration::from_secs(15)).await;
        tokio::time::resume();
        tokio::time::timeout(Duration::from_secs(10), activations.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(active(&core).await, Some(3));
        let rollback = core.get_revision("web", 3).await.unwrap();
        assert_eq!(
            (
                rollback.kind,
                rollback.rollback_of,
                rollback.author.as_str()
            ),
            (RevisionKind::Rollback, Some(1), "lvsd")
        );
        assert_eq!(
            core.pending_confirm("web")
                .await
                .unwrap()
                .map(|p| p.revision),
            None
        );
        let query = crate::core::AuditQuery {
            action: Some("revision.confirm.expired".into()),
            ..Default::default()
        };
        let audited = core.audit(query).await.unwrap();
        assert_eq!(
            audited[0].detail["reason"],
            "no confirmation arrived before the deadline"
        );
        assert_eq!(audited[0].detail["rollback_revision"], 3);

        // Confirmed in time, it stays.
        core.commit(&caller, "web", commit(4, Some("60s")))
            .await
            .unwrap();
        let confirmed = core.confirm(&caller, "web").await.unwrap();
        assert_eq!(confirmed.revision, 4);
        tokio::time::sleep(Duration::from_millis(200)).await;
        tokio::time::pause();
        tokio::time::advance(Duration::from_secs(3600)).await;
        tokio::time::resume();
        assert_eq!(active(&core).await, Some(4));
        let _ = stop.send(());
        watchdog.await.unwrap();
    }

    #[test]
    fn confirmation_windows_are_durations_within_a_day() {
        assert_eq!(
            parse_confirm_within("5m").unwrap(),
            Duration::from_secs(300)
        );
        assert_eq!(
            parse_confirm_within(" 1h 30m ").unwrap(),
            Duration::from_secs(5400)
        );
        for bad in ["", "soon", "0s", "2d"] {
            assert_eq!(
                parse_confirm_within(bad).unwrap_err().field(),
                Some("confirm_within"),
                "{bad}"
            );
        }
    }
}
