//! Controlled switchover (`lvsd ha switchover`): the request is stored with
//! a sequence number that survives restarts, like a zeroing request; agents
//! see it in `Desired.switchover`, and the VRRP master of the instance (of
//! every instance when none is named) steps down when its `seq` passes the
//! one it acted on (`HaReport::switchover_seq`).

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::super::audit::{Change, record};
use super::super::clusters::not_found;
use super::super::{Caller, Core, Error, Result, now};
use super::validate_instance_name;
use crate::contract::agent::SwitchoverRequest;
use crate::store::{self, SwitchoverRow};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchoverBody {
    /// The VRRP instance to move (`VI_1`); every instance of the cluster when absent.
    #[serde(default)]
    pub instance: Option<String>,
}

/// A switchover request, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SwitchoverView {
    pub cluster: String,
    /// Increases with every request for the cluster; agents acknowledge it
    /// in their reports (`ha.switchover_seq`).
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    pub requested_at: String,
    pub requested_by: String,
    /// The directors that were master of the instances concerned when it
    /// was requested: they step down.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masters: Vec<String>,
}

impl From<SwitchoverRow> for SwitchoverView {
    fn from(row: SwitchoverRow) -> Self {
        SwitchoverView {
            cluster: row.cluster,
            seq: u64::try_from(row.seq).unwrap_or(0),
            instance: row.instance,
            requested_at: row.requested_at,
            requested_by: row.requested_by,
            masters: Vec::new(),
        }
    }
}

impl Core {
    /// Asks the VRRP master of `instance` (of every instance of `cluster`
    /// when `None`) to step down, so that a backup takes over.
    pub async fn switchover(
        &self,
        caller: &Caller,
        cluster: &str,
        instance: Option<String>,
    ) -> Result<SwitchoverView> {
        let target = instance.clone().unwrap_or_else(|| cluster.to_string());
        self.audited(caller, Some(cluster), "ha.switchover", target.clone(), async {
            if let Some(name) = &instance {
                validate_instance_name(name).map_err(|e| Error::invalid("instance", e))?;
            }
            let ha = self.ha(cluster).await?;
            let concerned: Vec<_> = ha
                .instances
                .iter()
                .filter(|i| instance.as_ref().is_none_or(|name| &i.instance == name))
                .collect();
            if concerned.is_empty() {
                return Err(match &instance {
                    Some(name) => {
                        let known: Vec<&str> = ha.instances.iter().map(|i| i.instance.as_str()).collect();
                        Error::invalid(
                            "instance",
                            format!(
                                "no director of cluster {cluster} reports VRRP instance {name} (reported: {})",
                                if known.is_empty() { "none".to_string() } else { known.join(", ") }
                            ),
                        )
                    }
                    None => Error::Conflict(format!(
                        "no director of cluster {cluster} reports VRRP state: nothing to switch over"
                    )),
                });
            }
            let mut masters: Vec<String> = concerned.iter().flat_map(|i| i.masters.iter().cloned()).collect();
            masters.sort();
            masters.dedup();
            let mut tx = self.store().begin().await?;
            store::active_revision(&mut *tx, cluster).await?.ok_or_else(|| not_found(cluster))?;
            let seq = store::switchover_request(&mut *tx, cluster).await?.map_or(0, |row| row.seq) + 1;
            let row = SwitchoverRow {
                cluster: cluster.to_string(),
                seq,
                instance: instance.clone(),
                requested_at: now(),
                requested_by: caller.actor.clone(),
            };
            store::put_switchover_request(&mut *tx, &row).await?;
            let change = Change {
                cluster: Some(cluster),
                action: "ha.switchover",
                target: target.clone(),
                detail: json!({ "seq": seq, "instance": instance, "masters": masters }),
            };
            record(&mut tx, caller, change).await?;
            tx.commit().await.map_err(store::StoreError::from)?;
            self.desired_changed();
            Ok(SwitchoverView { masters, ..SwitchoverView::from(row) })
        })
        .await
    }

    /// The latest switchover request of `cluster`, as agents see it.
    pub(in crate::core) async fn switchover_request(
        &self,
        cluster: &str,
    ) -> Result<Option<SwitchoverRequest>> {
        Ok(store::switchover_request(self.store().reader(), cluster)
            .await?
            .map(|row| SwitchoverRequest {
                seq: u64::try_from(row.seq).unwrap_or(0),
                instance: row.instance,
            }))
    }
}
