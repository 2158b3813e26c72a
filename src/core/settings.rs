//! Per-cluster apply settings: ownership, drains, removal limit.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Digest;
use utoipa::ToSchema;

use super::audit::{Change, record};
use super::clusters::not_found;
use super::{Caller, Core, Error, Precondition, Result, now};
use crate::apply::{OwnershipMode, Policy};
use crate::model::{MAX_TIMEOUT_SECS, ServiceKey};
use crate::store::{self, SettingsRow};

fn default_drain_timeout() -> u64 {
    crate::apply::DEFAULT_DRAIN_TIMEOUT.as_secs()
}

fn default_canary_soak() -> u64 {
    60
}

fn is_default_canary_soak(secs: &u64) -> bool {
    *secs == default_canary_soak()
}

/// Most canaries a cluster may name.
const MAX_CANARIES: usize = 64;

/// How the cluster's revisions are applied to its directors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// `table` (the default): the director's whole IPVS table is the
    /// cluster's, and what the spec does not list is removed. `created`: only
    /// the services lvsd created for the cluster (and those its spec lists);
    /// others are left as they are. Adopting a hand-managed director never
    /// flushes it either way: the first apply is an ordinary plan.
    #[serde(default)]
    pub ownership: OwnershipMode,
    /// Drain real servers that leave the spec (weight 0 until their active
    /// and inactive connections reach 0, or `drain_timeout_secs` passes)
    /// instead of deleting them at once.
    #[serde(default)]
    pub drain: bool,
    /// Per-service exceptions to `drain`, by service id (`tcp:192.168.31.100:80`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub drain_services: BTreeMap<String, bool>,
    /// Longest a real server drains before it is deleted with connections left; 300 by default.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_secs: u64,
    /// Largest share (0 to 1) of the managed services, or of their real
    /// servers, one apply may take out of service; above it the apply is
    /// refused unless forced. The server's `--removal-limit` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removal_limit: Option<f64>,
    /// Directors (by name) that run a newly active revision first; the
    /// others keep the last released revision until every canary has run
    /// the new one in sync for `canary_soak_secs`. Empty (the default): every
    /// director runs the active revision at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canaries: Vec<String>,
    /// How long every canary must run a new revision, applied, in sync and
    /// reporting, before the other directors get it; 60 by default.
    #[serde(
        default = "default_canary_soak",
        skip_serializing_if = "is_default_canary_soak"
    )]
    pub canary_soak_secs: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            ownership: OwnershipMode::Table,
            drain: false,
            drain_services: BTreeMap::new(),
            drain_timeout_secs: default_drain_timeout(),
            removal_limit: None,
            canaries: Vec::new(),
            canary_soak_secs: default_canary_soak(),
        }
    }
}

impl ClusterSettings {
    fn validate(&self) -> Result<()> {
        for id in self.drain_services.keys() {
            id.parse::<ServiceKey>()
                .map_err(|e| Error::invalid(format!("drain_services.{id}"), e.message))?;
        }
        if !(1..=u64::from(MAX_TIMEOUT_SECS)).contains(&self.drain_timeout_secs) {
            return Err(Error::invalid(
                "drain_timeout_secs",
                format!(
                    "{} is out of range: 1 to {MAX_TIMEOUT_SECS} seconds",
                    self.drain_timeout_secs
                ),
            ));
        }
        if let Some(limit) = self.removal_limit
            && !(0.0..=1.0).contains(&limit)
        {
            return Err(Error::invalid(
                "removal_limit",
                format!("{limit} is out of range: a share from 0 to 1"),
            ));
        }
        if self.canaries.len() > MAX_CANARIES {
            return Err(Error::invalid(
                "canaries",
                format!("{} canaries: at most {MAX_CANARIES}", self.canaries.len()),
            ));
        }
        for (i, name) in self.canaries.iter().enumerate() {
            super::agents::validate_director_name(name)
                .map_err(|e| Error::invalid(format!("canaries[{i}]"), e))?;
            if self.canaries[..i].contains(name) {
                return Err(Error::invalid(
                    format!("canaries[{i}]"),
                    format!("{name} is listed twice"),
                ));
            }
        }
        if !(1..=u64::from(MAX_TIMEOUT_SECS)).contains(&self.canary_soak_secs) {
            return Err(Error::invalid(
                "canary_soak_secs",
                format!(
                    "{} is out of range: 1 to {MAX_TIMEOUT_SECS} seconds",
                    self.canary_soak_secs
                ),
            ));
        }
        Ok(())
    }

    /// The engine's policy: these settings, with `default_limit` where they set no removal limit.
    pub fn policy(&self, default_limit: Option<f64>) -> Policy {
        Policy {
            ownership: self.ownership,
            drain: self.drain,
            drain_services: self
                .drain_services
                .iter()
                .filter_map(|(id, drain)| id.parse::<ServiceKey>().ok().map(|key| (key, *drain)))
                .collect(),
            drain_timeout: Duration::from_secs(self.drain_timeout_secs),
            removal_limit: self.removal_limit.or(default_limit),
            foreign: Default::default(),
        }
    }
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
            settings.validate()?;
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
