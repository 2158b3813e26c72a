//! Per-cluster apply settings: ownership, drains, removal limit.

use serde::Serialize;
use serde_json::json;
use sha2::Digest;
use utoipa::ToSchema;

use super::audit::{Change, record};
use super::clusters::not_found;
use super::{Caller, Core, Error, Precondition, Result, now};
pub use crate::contract::ClusterSettings;
use crate::model::{MAX_TIMEOUT_SECS, ServiceKey};
use crate::store::{self, SettingsRow};

/// Most canaries a cluster may name.
const MAX_CANARIES: usize = 64;

/// Settings a client sent, checked before they are stored.
fn validate(settings: &ClusterSettings) -> Result<()> {
    for id in settings.drain_services.keys() {
        id.parse::<ServiceKey>()
            .map_err(|e| Error::invalid(format!("drain_services.{id}"), e.message))?;
    }
    if !(1..=u64::from(MAX_TIMEOUT_SECS)).contains(&settings.drain_timeout_secs) {
        return Err(Error::invalid(
            "drain_timeout_secs",
            format!(
                "{} is out of range: 1 to {MAX_TIMEOUT_SECS} seconds",
                settings.drain_timeout_secs
            ),
        ));
    }
    if let Some(limit) = settings.removal_limit
        && !(0.0..=1.0).contains(&limit)
    {
        return Err(Error::invalid(
            "removal_limit",
            format!("{limit} is out of range: a share from 0 to 1"),
        ));
    }
    if settings.canaries.len() > MAX_CANARIES {
        return Err(Error::invalid(
            "canaries",
            format!(
                "{} canaries: at most {MAX_CANARIES}",
                settings.canaries.len()
            ),
        ));
    }
    for (i, name) in settings.canaries.iter().enumerate() {
        super::agents::validate_director_name(name)
            .map_err(|e| Error::invalid(format!("canaries[{i}]"), e))?;
        if settings.canaries[..i].contains(name) {
            return Err(Error::invalid(
                format!("canaries[{i}]"),
                format!("{name} is listed twice"),
            ));
        }
    }
    if !(1..=u64::from(MAX_TIMEOUT_SECS)).contains(&settings.canary_soak_secs) {
        return Err(Error::invalid(
            "canary_soak_secs",
            format!(
                "{} is out of range: 1 to {MAX_TIMEOUT_SECS} seconds",
                settings.canary_soak_secs
            ),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettingsView {
    pub cluster: String,
    pub settings: ClusterSettings,
    /// Absent while the cluster has the defaults.
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
    /// Also the `ETag` header: send it back as `If-Match` to replace only
    /// these settings, not ones someone else wrote since.
    pub etag: String,
}

/// The tag of a cluster's settings: of their last write, or of the defaults.
fn settings_etag(row: Option<&SettingsRow>) -> String {
    match row {
        Some(row) => {
            let digest = sha2::Sha256::digest(format!(
                "{}\n{}\n{}",
                row.updated_at, row.updated_by, row.settings
            ));
            format!("\"s.{}\"", &hex::encode(digest)[..16])
        }
        None => "\"s.defaults\"".to_string(),
    }
}

/// The settings a stored row holds: the defaults without one.
pub(super) fn stored_settings(row: Option<&SettingsRow>) -> Result<ClusterSettings> {
    row.map_or_else(
        || Ok(ClusterSettings::default()),
        |row| parse_settings(&row.settings),
    )
}

fn settings_view(cluster: &str, row: Option<SettingsRow>) -> Result<SettingsView> {
    Ok(SettingsView {
        etag: settings_etag(row.as_ref()),
        settings: stored_settings(row.as_ref())?,
        cluster: cluster.to_string(),
        updated_at: row.as_ref().map(|row| row.updated_at.clone()),
        updated_by: row.map(|row| row.updated_by),
    })
}

impl Core {
    /// The settings of `cluster` (the defaults until set).
    pub async fn settings(&self, cluster: &str) -> Result<SettingsView> {
        let reader = self.store().reader();
        store::active_revision(reader, cluster)
            .await?
            .ok_or_else(|| not_found(cluster))?;
        settings_view(cluster, store::settings(reader, cluster).await?)
    }

    /// Replaces the settings of `cluster`, if they are still those
    /// `precondition` names; they apply from the director's next step.
    pub async fn put_settings(
        &self,
        caller: &Caller,
        cluster: &str,
        settings: ClusterSettings,
        precondition: &Precondition,
    ) -> Result<SettingsView> {
        self.audited(caller, Some(cluster), "cluster.settings", cluster, async {
            validate(&settings)?;
            // The rollout brought up to date under the settings so far: a
            // cluster without canaries released every revision it activated.
            self.rollout_now(cluster).await?;
            let mut tx = self.store().begin().await?;
            store::active_revision(&mut *tx, cluster).await?.ok_or_else(|| not_found(cluster))?;
            let current = settings_etag(store::settings(&mut *tx, cluster).await?.as_ref());
            precondition.check(&current, |current, wanted| {
                format!(
                    "the settings of {cluster} changed since you read them (they are now {current}, you sent {wanted}): read them again and reapply your change"
                )
            })?;
            let row = SettingsRow {
                cluster: cluster.to_string(),
                settings: serde_json::to_string(&settings).expect("settings serialize"),
                updated_at: now(),
                updated_by: caller.actor.clone(),
            };
            store::put_settings(&mut *tx, &row).await?;
            let change = Change {
                cluster: Some(cluster),
                action: "cluster.settings",
                target: cluster.to_string(),
                detail: json!({ "settings": settings }),
            };
            record(&mut tx, caller, change).await?;
            tx.commit().await.map_err(store::StoreError::from)?;
            self.settings_changed();
            // New canaries (or none) move the rollout at once; the first
            // settings of a cluster also start tracking it, its active revision released.
            if let Err(err) = self.rollout_now(cluster).await {
                tracing::error!(error = %err, cluster, "evaluating the rollout after new settings");
            }
            Ok(SettingsView {
                etag: settings_etag(Some(&row)),
                cluster: row.cluster,
                settings,
                updated_at: Some(row.updated_at),
                updated_by: Some(row.updated_by),
            })
        })
        .await
    }
}

fn parse_settings(json: &str) -> Result<ClusterSettings> {
    serde_json::from_str(json).map_err(|err| {
        tracing::error!(error = %err, "stored cluster settings do not parse");
        Error::Internal(format!("stored cluster settings do not parse ({err})"))
    })
}
