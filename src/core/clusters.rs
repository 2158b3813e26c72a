//! Clusters: create, list, get, delete.

use serde_json::json;
use sha2::Digest;

use super::audit::{Change, record};
use super::{Caller, ClusterView, Core, Error, Result, now};
use crate::model::{Spec, text};
use crate::store::{self, ClusterRow};

/// Cluster names go into URLs, file names and metric labels: keep them plain.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let ok = (1..=63).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
        })
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "name",
            format!(
                "`{name}` is not a cluster name: 1 to 63 characters of a-z, 0-9, '-', '_' or '.', starting with a letter or digit"
            ),
        ))
    }
}

pub(crate) fn etag(row: &ClusterRow) -> String {
    format!("\"{}.{}\"", &row.uid[..8], row.draft_version)
}

impl Core {
    pub(crate) async fn view(
        &self,
        exec: impl sqlx::AnyExecutor<'_>,
        row: ClusterRow,
    ) -> Result<ClusterView> {
        let latest = store::latest_revision_head(exec, &row.name).await?;
        // From the reader: a cluster being created in a transaction has none.
        let pending_confirm = store::pending_confirm(self.store().reader(), &row.name)
            .await?
            .map(Into::into);
        let draft_dirty = match &latest {
            Some(rev) => row.draft_hash != rev.content_hash,
            None => row.draft_hash != Spec::default().content_hash(),
        };
        Ok(ClusterView {
            draft_etag: etag(&row),
            name: row.name,
            description: row.description,
            created_at: row.created_at,
            created_by: row.created_by,
            active_revision: row.active_revision,
            latest_revision: latest.map(|r| r.number),
            draft_dirty,
            pending_confirm,
        })
    }

    pub async fn create_cluster(
        &self,
        caller: &Caller,
        name: &str,
        description: &str,
    ) -> Result<ClusterView> {
        self.audited(caller, Some(name), "cluster.create", name, async {
            validate_name(name)?;
            text::bounded("description", description, text::DESCRIPTION_MAX)?;
            let at = now();
            let empty = Spec::default().to_canonical_json();
            let mut row = ClusterRow {
                name: name.to_string(),
                uid: uuid::Uuid::new_v4().simple().to_string(),
                description: description.to_string(),
                created_at: at.clone(),
                created_by: caller.actor.clone(),
                draft_spec_id: 0,
                draft_hash: hex::encode(sha2::Sha256::digest(empty.as_bytes())),
                draft_version: 1,
                draft_updated_at: at,
                draft_updated_by: caller.actor.clone(),
                active_revision: None,
            };
            let mut tx = self.store().begin().await?;
            if store::cluster(&mut *tx, name).await?.is_some() {
                return Err(Error::AlreadyExists(format!(
                    "cluster {name} already exists"
                )));
            }
            store::insert_cluster(&mut tx, &mut row, &empty).await?;
            let change = Change {
                cluster: Some(name),
                action: "cluster.create",
                target: name.to_string(),
                detail: json!({ "description": description }),
            };
            record(&mut tx, caller, change).await?;
            let view = self.view(&mut *tx, row).await?;
            tx.commit().await.map_err(store::StoreError::from)?;
            Ok(view)
        })
        .await
    }

    pub async fn list_clusters(&self) -> Result<Vec<ClusterView>> {
        let rows = store::clusters(self.store().reader()).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            views.push(self.view(self.store().reader(), row).await?);
        }
        Ok(views)
    }

    pub async fn get_cluster(&self, name: &str) -> Result<ClusterView> {
        let row = store::cluster(self.store().reader(), name)
            .await?
            .ok_or_else(|| not_found(name))?;
        self.view(self.store().reader(), row).await
    }

    /// Deletes a cluster and its revisions; refused while a revision is active unless `force`.
    pub async fn delete_cluster(&self, caller: &Caller, name: &str, force: bool) -> Result<()> {
        self.audited(caller, Some(name), "cluster.delete", name, async {
            let mut tx = self.store().begin().await?;
            let row = store::cluster(&mut *tx, name).await?.ok_or_else(|| not_found(name))?;
            if let (Some(active), false) = (row.active_revision, force) {
                return Err(Error::Conflict(format!(
                    "cluster {name} has active revision {active}: directors may be running it; delete with force to remove it anyway"
                )));
            }
            store::delete_cluster(&mut tx, name).await?;
            let change = Change {
                cluster: Some(name),
                action: "cluster.delete",
                target: name.to_string(),
                detail: json!({ "active_revision": row.active_revision, "forced": force }),
            };
            record(&mut tx, caller, change).await?;
            tx.commit().await.map_err(store::StoreError::from)?;
            self.forget_counters(name);
            self.forget_health(name);
            self.activation_committed();
            Ok(())
        })
        .await
    }
}

pub(crate) fn not_found(name: &str) -> Error {
    Error::NotFound(format!("no cluster named {name}"))
}

/// Reads a stored spec. Stored specs were valid when written, so a failure
/// here means the database was altered behind lvsd's back.
pub(crate) fn parse_spec(json: &str) -> Result<Spec> {
    Spec::from_json(json.as_bytes()).map_err(|err| {
        tracing::error!(error = %err, "stored spec does not validate");
        Error::Internal(format!("a stored spec does not validate ({err})"))
    })
}
