//! Director high availability as the server sees it: each director's VRRP
//! and sync daemon state (kept with its other live data, see
//! [`super::live`]), every VRRP transition in the audit log
//! (`ha.transition`), the cluster-wide view per VRRP instance with the
//! flags no director can raise itself (`no_master`, `split_brain`), and
//! controlled switchovers ([`switchover`]).
//!
//! Flags are raised and cleared after a director's report, never by a
//! read: the flags raised are stored (`ha_flags`), so each raise and each
//! clear is audited once (`ha.no_master`, `ha.split_brain`, outcome `ok`
//! when raised and `cleared` when cleared), across restarts and across the
//! servers of one PostgreSQL database (the check runs under the writers'
//! lock). A server that restarted on SQLite has lost the directors' live
//! reports: until every fresh director has reported again, `no_master`
//! stays as it was stored (see [`view::settled_flags`]).

mod switchover;
mod view;

use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

pub use switchover::{SwitchoverBody, SwitchoverView};
pub use view::{HaFlag, HaInstance, HaMember, STATES as VRRP_STATES, state_name};

use self::view::{FlagKey, HaSource};
use super::agents::AGENT_MODE;
use super::audit::{Change, record, record_outcome};
use super::clusters::not_found;
use super::{Caller, Core, Error, Result, now};
use crate::contract::agent::{HaReport, VrrpTransition};
use crate::store::{self, HaFlagRow};

/// Bounds on the HA part of one report.
const MAX_INSTANCES: usize = 255;
const MAX_TRANSITIONS: usize = 1000;
const MAX_ERRORS: usize = 20;
const MAX_INSTANCE_NAME: usize = 64;

/// The cluster's high availability: every VRRP instance its directors
/// report, with their states and the server's flags.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HaView {
    pub cluster: String,
    /// By instance name, then virtual router id.
    pub instances: Vec<HaInstance>,
    /// Fresh directors not heard from since this server started (SQLite
    /// keeps live reports in memory): `no_master` is not judged until they report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
    /// The latest controlled switchover requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switchover: Option<SwitchoverView>,
}

impl HaView {
    /// Instances flagged: no master, or two.
    pub fn flagged(&self) -> impl Iterator<Item = &HaInstance> {
        self.instances
            .iter()
            .filter(|i| i.no_master || i.split_brain)
    }
}

/// Latest HA state by `(cluster, director)`: `None` for a director whose
/// report carried none. A director missing here has not reported since
/// this server started.
#[derive(Default)]
pub(super) struct LiveHa(pub(super) std::sync::Mutex<HashMap<(String, String), Option<HaReport>>>);

/// VRRP instance names as the spec and keepalived use them.
pub(crate) fn validate_instance_name(name: &str) -> std::result::Result<(), String> {
    if (1..=MAX_INSTANCE_NAME).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a VRRP instance name: 1 to {MAX_INSTANCE_NAME} printable characters without spaces"
        ))
    }
}

fn parse_time(field: String, at: &str) -> Result<()> {
    humantime::parse_rfc3339_weak(at)
        .map(|_| ())
        .map_err(|e| Error::invalid(field, format!("`{at}` is not an RFC 3339 time: {e}")))
}

/// Checks the HA part of a report: sizes, names, times; `switchover_seq`
/// no higher than the latest request (`requested`).
pub(super) fn validate_ha_report(ha: &HaReport, requested: i64, cluster: &str) -> Result<()> {
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
    bounded("ha.vrrp", ha.vrrp.len(), MAX_INSTANCES)?;
    bounded("ha.transitions", ha.transitions.len(), MAX_TRANSITIONS)?;
    bounded("ha.errors", ha.errors.len(), MAX_ERRORS)?;
    let mut seen = BTreeSet::new();
    for (i, vrrp) in ha.vrrp.iter().enumerate() {
        let field = |name: &str| format!("ha.vrrp[{i}].{name}");
        validate_instance_name(&vrrp.instance).map_err(|e| Error::invalid(field("instance"), e))?;
        if vrrp.vrid == 0 {
            return Err(Error::invalid(
                field("vrid"),
                "virtual router ids are 1 to 255",
            ));
        }
        if !seen.insert((vrrp.instance.as_str(), vrrp.vrid)) {
            return Err(Error::invalid(
                field("instance"),
                format!("{} (vrid {}) is reported twice", vrrp.instance, vrrp.vrid),
            ));
        }
        parse_time(field("since"), &vrrp.since)?;
    }
    for (i, transition) in ha.transitions.iter().enumerate() {
        let field = |name: &str| format!("ha.transitions[{i}].{name}");
        validate_instance_name(&transition.instance)
            .map_err(|e| Error::invalid(field("instance"), e))?;
        parse_time(field("at"), &transition.at)?;
    }
    if let Some(seq) = ha.switchover_seq
        && i64::try_from(seq).map_or(true, |seq| seq > requested)
    {
        return Err(Error::invalid(
            "ha.switchover_seq",
            format!(
                "{seq} was never requested: the latest switchover request of cluster {cluster} is {requested}"
            ),
        ));
    }
    Ok(())
}

impl Core {
    /// The high availability of `cluster` now.
    pub async fn ha(&self, cluster: &str) -> Result<HaView> {
        store::active_revision(self.store().reader(), cluster)
            .await?
            .ok_or_else(|| not_found(cluster))?;
        let sources = self.ha_sources(cluster).await?;
        let switchover = store::switchover_request(self.store().reader(), cluster)
            .await?
            .map(SwitchoverView::from);
        Ok(HaView {
            cluster: cluster.to_string(),
            instances: view::instances(&sources),
            pending: view::pending(&sources),
            switchover,
        })
    }

    /// Every agent director of `cluster`, with its latest HA state.
    async fn ha_sources(&self, cluster: &str) -> Result<Vec<HaSource>> {
        let mut live = self.live_ha(cluster).await?;
        let at = SystemTime::now();
        Ok(store::directors(self.store().reader(), cluster)
            .await?
            .into_iter()
            .filter(|row| row.mode == AGENT_MODE)
            .map(|row| HaSource {
                stale: self.is_stale(&row, at),
                report: live.remove(&row.director),
                director: row.director,
            })
            .collect())
    }

    /// After a report of director `director`: audits its VRRP transitions
    /// (`ha.transition`), then raises and clears the cluster's flags.
    pub(super) async fn record_ha(
        &self,
        cluster: &str,
        director: &str,
        transitions: &[VrrpTransition],
    ) -> Result<()> {
        if !transitions.is_empty() {
            let caller = Caller::new(
                format!("director:{director}"),
                uuid::Uuid::new_v4().to_string(),
            );
            let mut tx = self.store().begin().await?;
            for t in transitions {
                let change = Change {
                    cluster: Some(cluster),
                    action: "ha.transition",
                    target: t.instance.clone(),
                    detail: json!({
                        "director": director,
                        "instance": t.instance,
                        "from": t.from,
                        "to": t.to,
                        "at": t.at,
                    }),
                };
                record(&mut tx, &caller, change).await?;
            }
            tx.commit().await.map_err(store::StoreError::from)?;
        }
        self.settle_ha_flags(cluster).await
    }

    /// Raises the flags the directors' states call for and clears the others,
    /// auditing each change once.
    async fn settle_ha_flags(&self, cluster: &str) -> Result<()> {
        let sources = self.ha_sources(cluster).await?;
        let instances = view::instances(&sources);
        let undecided = !view::pending(&sources).is_empty();
        let stored = stored_flags(&store::ha_flags(self.store().reader(), cluster).await?);
        if view::settled_flags(&instances, &stored, undecided) == stored {
            return Ok(());
        }
        // Looked at again under the writers' lock: reports recorded meanwhile
        // (here or on another server) count, and the last to settle saw them all.
        let mut tx = self.store().begin().await?;
        if store::active_revision(&mut *tx, cluster).await?.is_none() {
            return Ok(()); // deleted meanwhile
        }
        let sources = self.ha_sources(cluster).await?;
        let instances = view::instances(&sources);
        let undecided = !view::pending(&sources).is_empty();
        let stored = stored_flags(&store::ha_flags(&mut *tx, cluster).await?);
        let wanted = view::settled_flags(&instances, &stored, undecided);
        let caller = Caller::new("lvsd", uuid::Uuid::new_v4().to_string());
        let at = now();
        for key in wanted.difference(&stored) {
            let (instance, vrid, flag) = key;
            let row = HaFlagRow {
                cluster: cluster.to_string(),
                instance: instance.clone(),
                vrid: i64::from(*vrid),
                flag: flag.as_str().to_string(),
                since: at.clone(),
            };
            store::add_ha_flag(&mut *tx, &row).await?;
            let change = flag_change(cluster, key, &instances);
            record_outcome(&mut tx, &caller, change, "ok").await?;
        }
        for key in stored.difference(&wanted) {
            let (instance, vrid, flag) = key;
            store::delete_ha_flag(&mut *tx, cluster, instance, i64::from(*vrid), flag.as_str())
                .await?;
            let change = flag_change(cluster, key, &instances);
            record_outcome(&mut tx, &caller, change, "cleared").await?;
        }
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(())
    }
}

/// The audit entry of a flag raised or cleared: the instance's states now.
fn flag_change<'a>(cluster: &'a str, key: &FlagKey, instances: &[HaInstance]) -> Change<'a> {
    let (instance, vrid, flag) = key;
    let now = instances
        .iter()
        .find(|i| &i.instance == instance && i.vrid == *vrid);
    let directors: Vec<_> = now
        .map(|i| {
            i.directors
                .iter()
                .map(|m| json!({ "director": m.director, "state": m.state, "stale": m.stale }))
                .collect()
        })
        .unwrap_or_default();
    Change {
        cluster: Some(cluster),
        action: match flag {
            HaFlag::NoMaster => "ha.no_master",
            HaFlag::SplitBrain => "ha.split_brain",
        },
        target: instance.clone(),
        detail: json!({
            "instance": instance,
            "vrid": vrid,
            "masters": now.map(|i| i.masters.clone()).unwrap_or_default(),
            "directors": directors,
        }),
    }
}

fn stored_flags(rows: &[HaFlagRow]) -> BTreeSet<FlagKey> {
    rows.iter()
        .filter_map(|row| {
            Some((
                row.instance.clone(),
                u8::try_from(row.vrid).ok()?,
                HaFlag::parse(&row.flag)?,
            ))
        })
        .collect()
}
