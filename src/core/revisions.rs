//! Revisions: commit, list, get, diff, rollback, activate.

use std::sync::Arc;

use serde_json::json;
use sha2::Digest;

use super::audit::{Change, record};
use super::clusters::{not_found, parse_spec};
use super::confirm::parse_confirm_within;
use super::{
    Caller, CommitOutcome, Core, Error, Precondition, Result, RevisionKind, RevisionView, now,
};
use crate::model::diff::SpecDiff;
use crate::model::{Spec, SpecDoc, text};
use crate::store::{self, ClusterRow, RevisionRow, Tx};

/// A commit: of the draft, or of a whole spec given in the request.
#[derive(Debug, Clone)]
pub struct CommitRequest {
    pub message: String,
    /// Recorded as the revision's author; the caller when absent.
    pub author: Option<String>,
    /// Compare-and-swap: commit only if the latest revision is this one (0: none yet).
    pub expected_base: Option<i64>,
    /// Make the new revision the active one (the default).
    pub activate: bool,
    /// Commit this spec (and make it the draft) instead of the draft.
    pub spec: Option<SpecDoc>,
    /// With a draft commit: commit only this version of the draft.
    pub precondition: Precondition,
    /// Commit confirmed: unless `Core::confirm` is called within this long
    /// (`90s`, `5m`, `1h`, as the client sent it; checked, and refused with
    /// an audit entry, like every other field of the request), the cluster
    /// rolls back to the revision active before.
    pub confirm_within: Option<String>,
}

/// One page of revisions, newest first.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RevisionPage {
    pub revisions: Vec<RevisionView>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

fn view(row: RevisionRow, active: Option<i64>, with_spec: bool) -> Result<RevisionView> {
    let spec = parse_spec(&row.spec)?;
    Ok(view_of(row, active, Arc::new(spec), with_spec))
}

/// The view of `row`, whose spec is `spec` (already parsed).
fn view_of(
    row: RevisionRow,
    active: Option<i64>,
    spec: Arc<Spec>,
    with_spec: bool,
) -> RevisionView {
    RevisionView {
        active: active == Some(row.number),
        services: spec.services().len(),
        servers: spec.server_count(),
        spec: with_spec.then_some(spec),
        cluster: row.cluster,
        number: row.number,
        parent: row.parent,
        author: row.author,
        message: row.message,
        created_at: row.created_at,
        content_hash: row.content_hash,
        kind: RevisionKind::parse(&row.kind),
        rollback_of: row.rollback_of,
    }
}

/// How many services `to` adds, removes and changes from `from`, for the audit log.
fn diff_counts(from: &Spec, to: &Spec) -> (usize, usize, usize) {
    let (mut added, mut removed, mut changed) = (0, 0, 0);
    let (mut a, mut b) = (
        from.services().iter().peekable(),
        to.services().iter().peekable(),
    );
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => return (added, removed, changed),
            (Some(_), None) => {
                removed += 1;
                a.next();
            }
            (None, Some(_)) => {
                added += 1;
                b.next();
            }
            (Some(x), Some(y)) => match x.key.cmp(&y.key) {
                std::cmp::Ordering::Less => {
                    removed += 1;
                    a.next();
                }
                std::cmp::Ordering::Greater => {
                    added += 1;
                    b.next();
                }
                std::cmp::Ordering::Equal => {
                    if x != y {
                        changed += 1;
                    }
                    a.next();
                    b.next();
                }
            },
        }
    }
}

fn no_revision(cluster: &str, number: i64) -> Error {
    Error::NotFound(format!("cluster {cluster} has no revision {number}"))
}

fn validate_message(message: &str) -> Result<()> {
    if message.trim().is_empty() {
        return Err(Error::invalid(
            "message",
            "missing: say why, it goes into the history",
        ));
    }
    text::bounded("message", message, text::MESSAGE_MAX)?;
    Ok(())
}

/// What a new revision is, beyond its spec.
pub(super) struct NewRevision<'a> {
    pub spec: Arc<Spec>,
    /// The spec's content hash when the spec is stored already (the draft's,
    /// or an earlier revision's): nothing is serialized, hashed or written
    /// for it. Otherwise the spec is serialized, hashed and stored here.
    pub stored_hash: Option<String>,
    pub message: &'a str,
    pub author: &'a str,
    pub kind: RevisionKind,
    pub rollback_of: Option<i64>,
    pub expected_base: Option<i64>,
    pub activate: bool,
}

impl Core {
    /// Adds a revision after `latest`, or returns the existing one when the
    /// spec is unchanged or the same commit was already made (a retry).
    ///
    /// Returns the outcome and the revision's spec. Work proportional to the
    /// spec's size is done at most once: a draft this process wrote comes
    /// parsed, a stored spec is named by its hash rather than written again,
    /// the previous revision's spec comes from the cache of active specs, and
    /// the view shares the parsed spec.
    pub(super) async fn add_revision(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        cluster: &mut ClusterRow,
        new: NewRevision<'_>,
    ) -> Result<(CommitOutcome, Arc<Spec>)> {
        let name = cluster.name.clone();
        let latest = store::latest_revision_head(&mut **tx, &name).await?;
        let latest_number = latest.as_ref().map_or(0, |r| r.number);
        let (hash, unstored_json) = match new.stored_hash {
            Some(hash) => (hash, None),
            None => {
                let json = new.spec.to_canonical_json();
                (
                    hex::encode(sha2::Sha256::digest(json.as_bytes())),
                    Some(json),
                )
            }
        };
        let same_as_latest = latest.as_ref().filter(|r| r.content_hash == hash);

        if let Some(expected) = new.expected_base {
            let retried = same_as_latest.is_some_and(|r| r.parent.unwrap_or(0) == expected);
            if expected != latest_number && !retried {
                return Err(Error::PreconditionFailed(format!(
                    "cluster {name} is at revision {latest_number}, not the expected base {expected}: someone committed first; review their change and retry"
                )));
            }
        }
        if let Some(existing) = same_as_latest {
            // Nothing new to record; activating it may still be asked for.
            let existing = existing.clone();
            if new.activate && cluster.active_revision != Some(existing.number) {
                store::set_active(&mut **tx, &name, Some(existing.number)).await?;
                self.release_on_activation(tx, &name, existing.number)
                    .await?;
                cluster.active_revision = Some(existing.number);
                let change = Change {
                    cluster: Some(&name),
                    action: "revision.activate",
                    target: existing.number.to_string(),
                    detail: json!({ "reason": "commit of an unchanged spec" }),
                };
                record(tx, caller, change).await?;
            }
            // Same content hash: the spec in hand is the revision's.
            let revision = view_of(existing, cluster.active_revision, new.spec.clone(), true);
            return Ok((
                CommitOutcome {
                    created: false,
                    revision,
                    confirm: None,
                },
                new.spec,
            ));
        }

        let previous_spec = match &latest {
            Some(head) => match self
                .cached_spec(&name)
                .filter(|(number, _)| *number == head.number)
            {
                Some((_, spec)) => spec,
                None => {
                    let row = store::revision(&mut **tx, &name, head.number).await?;
                    Arc::new(parse_spec(&row.map(|r| r.spec).unwrap_or_default())?)
                }
            },
            None => Arc::new(Spec::default()),
        };
        let row = RevisionRow {
            cluster: name.clone(),
            number: latest_number + 1,
            parent: latest.as_ref().map(|r| r.number),
            author: new.author.to_string(),
            message: new.message.to_string(),
            created_at: now(),
            spec: String::new(),
            content_hash: hash,
            kind: new.kind.as_str().to_string(),
            rollback_of: new.rollback_of,
        };
        let spec_id = match &unstored_json {
            Some(json) => Some(store::put_spec(tx, &row.content_hash, json).await?),
            None => None,
        };
        store::insert_revision(&mut **tx, &row).await?;
        if new.activate {
            store::set_active(&mut **tx, &name, Some(row.number)).await?;
            self.release_on_activation(tx, &name, row.number).await?;
            cluster.active_revision = Some(row.number);
        }
        // The draft follows what was committed, so the next edit starts from
        // it; a commit of the draft itself leaves it alone.
        if row.content_hash != cluster.draft_hash {
            let previous_spec_id = cluster.draft_spec_id;
            cluster.draft_spec_id = match spec_id {
                Some(id) => id,
                None => store::spec_id(&mut **tx, &row.content_hash)
                    .await?
                    .ok_or_else(|| {
                        Error::Internal(format!(
                            "the spec of revision {} is not stored",
                            row.number
                        ))
                    })?,
            };
            cluster.draft_hash = row.content_hash.clone();
            cluster.draft_version += 1;
            cluster.draft_updated_at = row.created_at.clone();
            cluster.draft_updated_by = caller.actor.clone();
            store::update_draft(tx, cluster, previous_spec_id).await?;
        }
        let (services_added, services_removed, services_changed) =
            diff_counts(&previous_spec, &new.spec);
        let action = match new.kind {
            RevisionKind::Commit => "revision.commit",
            RevisionKind::Rollback => "revision.rollback",
        };
        let change = Change {
            cluster: Some(&name),
            action,
            target: row.number.to_string(),
            detail: json!({
                "message": row.message,
                "parent": row.parent,
                "rollback_of": row.rollback_of,
                "activated": new.activate,
                "services_added": services_added,
                "services_removed": services_removed,
                "services_changed": services_changed,
            }),
        };
        record(tx, caller, change).await?;
        let revision = view_of(row, cluster.active_revision, new.spec.clone(), true);
        Ok((
            CommitOutcome {
                created: true,
                revision,
                confirm: None,
            },
            new.spec,
        ))
    }

    /// Commits the draft (or the request's spec) as the next revision.
    pub async fn commit(
        &self,
        caller: &Caller,
        cluster: &str,
        request: CommitRequest,
    ) -> Result<CommitOutcome> {
        let started = std::time::Instant::now();
        self.audited(caller, Some(cluster), "revision.commit", cluster, async {
            validate_message(&request.message)?;
            let confirm_within = request
                .confirm_within
                .as_deref()
                .map(parse_confirm_within)
                .transpose()?;
            let mut tx = self.store().begin().await?;
            let locked = started.elapsed();
            let mut row = store::cluster(&mut *tx, cluster)
                .await?
                .ok_or_else(|| not_found(cluster))?;
            let (spec, stored_hash) = match &request.spec {
                Some(doc) => {
                    let spec = doc.validate().map_err(|e| e.within("spec"))?;
                    self.limits().check(&spec, "spec")?;
                    (Arc::new(spec), None)
                }
                None => {
                    request.precondition.check_row(&row)?;
                    let spec = match self.cached_draft(&row) {
                        Some(spec) => spec,
                        None => Arc::new(parse_spec(
                            &store::spec_json(&mut *tx, row.draft_spec_id).await?,
                        )?),
                    };
                    (spec, Some(row.draft_hash.clone()))
                }
            };
            let author = match request.author.as_deref() {
                Some(author) => text::bounded("author", author, text::AUTHOR_MAX)?,
                None => &caller.actor,
            };
            let new = NewRevision {
                spec,
                stored_hash,
                message: &request.message,
                author,
                kind: RevisionKind::Commit,
                rollback_of: None,
                expected_base: request.expected_base,
                activate: request.activate,
            };
            let (previous_active, draft_version) = (row.active_revision, row.draft_version);
            let read = started.elapsed();
            let (mut outcome, spec) = self.add_revision(&mut tx, caller, &mut row, new).await?;
            self.settle_confirm(
                &mut tx,
                caller,
                cluster,
                previous_active,
                &mut outcome,
                confirm_within,
            )
            .await?;
            let written = started.elapsed();
            tx.commit().await.map_err(store::StoreError::from)?;
            if row.draft_version != draft_version {
                self.remember_draft(&row, spec.clone());
            }
            self.remember_outcome(cluster, &outcome, spec, started);
            self.activation_committed();
            if confirm_within.is_some()
                || outcome.confirm.is_some()
                || previous_active != row.active_revision
            {
                self.confirms_changed();
            }
            // Where a commit's time goes, for `RUST_LOG=lvsd::timing=debug`.
            tracing::debug!(
                target: "lvsd::timing",
                cluster,
                revision = outcome.revision.number,
                lock_ms = locked.as_secs_f64() * 1e3,
                read_ms = (read - locked).as_secs_f64() * 1e3,
                write_ms = (written - read).as_secs_f64() * 1e3,
                durable_ms = (started.elapsed() - written).as_secs_f64() * 1e3,
                "commit"
            );
            Ok(outcome)
        })
        .await
    }

    /// Makes a new revision whose spec equals revision `to`'s, and activates
    /// it; with `confirm_within`, as a commit confirmed.
    pub async fn rollback(
        &self,
        caller: &Caller,
        cluster: &str,
        to: i64,
        expected_base: Option<i64>,
        message: Option<String>,
        confirm_within: Option<&str>,
    ) -> Result<CommitOutcome> {
        let started = std::time::Instant::now();
        self.audited(
            caller,
            Some(cluster),
            "revision.rollback",
            to.to_string(),
            async {
                let mut tx = self.store().begin().await?;
                let mut row = store::cluster(&mut *tx, cluster)
                    .await?
                    .ok_or_else(|| not_found(cluster))?;
                let target = store::revision(&mut *tx, cluster, to)
                    .await?
                    .ok_or_else(|| no_revision(cluster, to))?;
                let message = message.unwrap_or_else(|| format!("rollback to revision {to}"));
                validate_message(&message)?;
                let confirm_within = confirm_within.map(parse_confirm_within).transpose()?;
                let new = NewRevision {
                    spec: Arc::new(parse_spec(&target.spec)?),
                    stored_hash: Some(target.content_hash.clone()),
                    message: &message,
                    author: &caller.actor,
                    kind: RevisionKind::Rollback,
                    rollback_of: Some(to),
                    expected_base,
                    activate: true,
                };
                let (previous_active, draft_version) = (row.active_revision, row.draft_version);
                let (mut outcome, spec) = self.add_revision(&mut tx, caller, &mut row, new).await?;
                self.settle_confirm(
                    &mut tx,
                    caller,
                    cluster,
                    previous_active,
                    &mut outcome,
                    confirm_within,
                )
                .await?;
                tx.commit().await.map_err(store::StoreError::from)?;
                if row.draft_version != draft_version {
                    self.remember_draft(&row, spec.clone());
                }
                self.remember_outcome(cluster, &outcome, spec, started);
                self.activation_committed();
                self.confirms_changed();
                Ok(outcome)
            },
        )
        .await
    }

    /// Points the cluster's active revision at an existing revision (one
    /// committed without activation). Going back in history is a rollback.
    pub async fn activate(
        &self,
        caller: &Caller,
        cluster: &str,
        number: i64,
    ) -> Result<RevisionView> {
        let started = std::time::Instant::now();
        self.audited(caller, Some(cluster), "revision.activate", number.to_string(), async {
            let mut tx = self.store().begin().await?;
            let row = store::cluster(&mut *tx, cluster).await?.ok_or_else(|| not_found(cluster))?;
            let revision = store::revision(&mut *tx, cluster, number).await?.ok_or_else(|| no_revision(cluster, number))?;
            if row.active_revision.is_some_and(|active| active > number) {
                return Err(Error::Conflict(format!(
                    "revision {number} is older than the active revision {}: roll back to it instead, which records a new revision",
                    row.active_revision.unwrap_or_default()
                )));
            }
            if row.active_revision != Some(number) {
                store::set_active(&mut *tx, cluster, Some(number)).await?;
                self.release_on_activation(&mut tx, cluster, number).await?;
                let change = Change {
                    cluster: Some(cluster),
                    action: "revision.activate",
                    target: number.to_string(),
                    detail: json!({ "previous": row.active_revision }),
                };
                record(&mut tx, caller, change).await?;
            }
            let shared = Arc::new(parse_spec(&revision.spec)?);
            let view = view_of(revision, Some(number), shared.clone(), true);
            let mut outcome = CommitOutcome { created: false, revision: view, confirm: None };
            self.settle_confirm(&mut tx, caller, cluster, row.active_revision, &mut outcome, None).await?;
            tx.commit().await.map_err(store::StoreError::from)?;
            self.remember_outcome(cluster, &outcome, shared, started);
            self.activation_committed();
            self.confirms_changed();
            Ok(outcome.revision)
        })
        .await
    }

    pub async fn list_revisions(
        &self,
        cluster: &str,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<RevisionPage> {
        let limit = limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("{limit} is out of range: 1 to 500"),
            ));
        }
        let reader = self.store().reader();
        let cluster_row = store::cluster(reader, cluster)
            .await?
            .ok_or_else(|| not_found(cluster))?;
        let rows = store::revisions(reader, cluster, before, i64::from(limit) + 1).await?;
        let more = rows.len() > limit as usize;
        let revisions = rows
            .into_iter()
            .take(limit as usize)
            .map(|row| view(row, cluster_row.active_revision, false))
            .collect::<Result<Vec<_>>>()?;
        let next_before = if more {
            revisions.last().map(|r| r.number)
        } else {
            None
        };
        Ok(RevisionPage {
            revisions,
            next_before,
        })
    }

    pub async fn get_revision(&self, cluster: &str, number: i64) -> Result<RevisionView> {
        let reader = self.store().reader();
        let cluster_row = store::cluster(reader, cluster)
            .await?
            .ok_or_else(|| not_found(cluster))?;
        let row = match store::revision(reader, cluster, number).await {
            Err(damaged @ store::StoreError::Damaged(_)) => {
                return Err(self.refuse_damaged(cluster, number, damaged).await);
            }
            row => row?.ok_or_else(|| no_revision(cluster, number))?,
        };
        view(row, cluster_row.active_revision, true)
    }

    /// Audits a damaged stored spec found on a read, and the error refusing it.
    async fn refuse_damaged(
        &self,
        cluster: &str,
        number: i64,
        damaged: store::StoreError,
    ) -> Error {
        let err = Error::from(damaged);
        let change = Change {
            cluster: Some(cluster),
            action: "spec.damaged",
            target: format!("revisions/{number}"),
            detail: json!({ "code": err.code(), "reason": err.message() }),
        };
        self.audit_refusal(&Caller::new("lvsd", ""), &change).await;
        err
    }

    /// What changed from revision `against` (its parent by default) to `number`.
    pub async fn diff_revisions(
        &self,
        cluster: &str,
        number: i64,
        against: Option<i64>,
    ) -> Result<(i64, SpecDiff)> {
        let to = self.get_revision(cluster, number).await?;
        let (from_number, from_spec) = match against.or(to.parent) {
            Some(n) => (
                n,
                self.get_revision(cluster, n)
                    .await?
                    .spec
                    .unwrap_or_default(),
            ),
            None => (0, Arc::default()),
        };
        Ok((
            from_number,
            SpecDiff::between(&from_spec, &to.spec.unwrap_or_default()),
        ))
    }

    /// Revision `number` as `ipvsadm -R` input.
    pub async fn export_revision(&self, cluster: &str, number: i64) -> Result<String> {
        Ok(crate::ipvsadm::to_restore(
            &self.revision_spec(cluster, number).await?,
        ))
    }

    /// The spec of revision `number`.
    pub async fn revision_spec(&self, cluster: &str, number: i64) -> Result<Spec> {
        Ok(self
            .get_revision(cluster, number)
            .await?
            .spec
            .map(Arc::unwrap_or_clone)
            .unwrap_or_default())
    }
}
