//! Zeroing counters through the API (`ipvsadm -Z`): the request is stored
//! with a sequence number that survives restarts; the local director zeroes
//! its table at once, agents when `Desired.zero.seq` passes the one they did.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit::{Change, record};
use super::clusters::not_found;
use super::{Caller, Core, Error, Result, now};
use crate::model::ServiceKey;
use crate::store::{self, ZeroRow};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZeroBody {
    /// One service's counters (`tcp:192.168.31.100:80`, `fwmark:12`); every
    /// service of the cluster's when absent.
    #[serde(default)]
    pub service: Option<String>,
}

/// A request to zero counters, as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ZeroView {
    pub cluster: String,
    /// Increases with every request for the cluster; agents acknowledge it
    /// in their reports (`zeroed_seq`).
    pub seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub requested_at: String,
    pub requested_by: String,
    /// This server's own director, when it zeroed its table already.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zeroed_by: Option<String>,
    /// Why this server's own director could not zero its table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_error: Option<String>,
}

impl Core {
    /// Asks every director of `cluster` to zero the counters of `service`
    /// (all the cluster's services when `None`).
    pub async fn zero(
        &self,
        caller: &Caller,
        cluster: &str,
        service: Option<String>,
    ) -> Result<ZeroView> {
        self.audited(caller, Some(cluster), "cluster.zero", cluster, async {
            let key = service
                .as_deref()
                .map(|id| {
                    id.parse::<ServiceKey>()
                        .map_err(|e| Error::invalid("service", e.message))
                })
                .transpose()?;
            let active = self.active_spec(cluster).await?;
            if let Some(key) = key
                && active
                    .as_ref()
                    .is_none_or(|(_, spec)| spec.service(&key).is_none())
            {
                return Err(Error::invalid(
                    "service",
                    format!("{key} is not a service of cluster {cluster}'s active revision"),
                ));
            }
            let mut tx = self.store().begin().await?;
            store::active_revision(&mut *tx, cluster)
                .await?
                .ok_or_else(|| not_found(cluster))?;
            let seq = store::zero_request(&mut *tx, cluster)
                .await?
                .map_or(0, |row| row.seq)
                + 1;
            let row = ZeroRow {
                cluster: cluster.to_string(),
                seq,
                service: key.map(|k| k.to_string()),
                requested_at: now(),
                requested_by: caller.actor.clone(),
            };
            store::put_zero_request(&mut *tx, &row).await?;
            let change = Change {
                cluster: Some(cluster),
                action: "cluster.zero",
                target: row.service.clone().unwrap_or_else(|| cluster.to_string()),
                detail: json!({ "seq": seq, "service": row.service }),
            };
            record(&mut tx, caller, change).await?;
            tx.commit().await.map_err(store::StoreError::from)?;
            self.desired_changed();
            let (mut zeroed_by, mut local_error) = (None, None);
            if let Some(local) = self.local_director() {
                match local.zero(cluster, key).await {
                    Ok(()) => zeroed_by = Some(local.name().to_string()),
                    Err(err) => local_error = Some(err.message()),
                }
            }
            Ok(ZeroView {
                cluster: row.cluster,
                seq: u64::try_from(seq).unwrap_or(0),
                service: row.service,
                requested_at: row.requested_at,
                requested_by: row.requested_by,
                zeroed_by,
                local_error,
            })
        })
        .await
    }
}
