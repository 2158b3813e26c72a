//! Directors' health reports: the latest per director, kept in memory like
//! their counters (directors report again within their interval after a
//! restart; on PostgreSQL shared through `director_live`, see
//! [`super::live`]), and each server going down or coming back in the audit log.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit::{Change, record};
use super::clusters::not_found;
use super::directors::parse_json;
use super::{Caller, Core, Result};
use crate::health::{HealthEvent, ServiceHealthView, Transition};
use crate::store;

/// One director's latest view of a cluster's real servers' health (not to be
/// confused with [`super::DirectorHealth`], the director's own state in one word).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DirectorServersHealth {
    pub director: String,
    /// When the director reported it, RFC 3339.
    pub at: String,
    /// The services with health checks or a sorry server.
    pub services: Vec<ServiceHealthView>,
}

/// Latest health by `(cluster, director)`.
#[derive(Default)]
pub(super) struct LiveHealth(pub(super) Mutex<HashMap<(String, String), DirectorServersHealth>>);

impl Core {
    /// The latest health of every director of `cluster` that reported it
    /// (since this server started, on SQLite), by director name.
    pub async fn health(&self, cluster: &str) -> Result<Vec<DirectorServersHealth>> {
        store::active_revision(self.store().reader(), cluster)
            .await?
            .ok_or_else(|| not_found(cluster))?;
        if self.shares_live() {
            let rows = store::directors_live(self.store().reader(), cluster).await?;
            let mut found = rows
                .into_iter()
                .filter_map(|row| row.health)
                .map(|json| parse_json::<DirectorServersHealth>("health", &json))
                .collect::<Result<Vec<_>>>()?;
            // In Rust's order, as from memory: the database's collation may differ.
            found.sort_by(|a, b| a.director.cmp(&b.director));
            return Ok(found);
        }
        let live = self.inner.health.0.lock().expect("health lock");
        let mut found: Vec<DirectorServersHealth> = live
            .iter()
            .filter(|((c, _), _)| c == cluster)
            .map(|(_, report)| report.clone())
            .collect();
        found.sort_by(|a, b| a.director.cmp(&b.director));
        Ok(found)
    }

    /// Records each server going down (`health.down`) or coming back
    /// (`health.up`) in the audit log, as done by director `director`.
    pub async fn record_health_events(
        &self,
        cluster: &str,
        director: &str,
        events: &[HealthEvent],
    ) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let caller = Caller::new(
            format!("director:{director}"),
            uuid::Uuid::new_v4().to_string(),
        );
        let mut tx = self.store().begin().await?;
        for event in events {
            let (action, reason) = match &event.transition {
                Transition::Down { reason } => ("health.down", Some(reason.as_str())),
                Transition::Up => ("health.up", None),
            };
            let detail = json!({
                "director": director,
                "service": event.service.to_string(),
                "server": event.server.to_string(),
                "reason": reason,
                "at": crate::model::time::rfc3339(event.at),
            });
            let change = Change {
                cluster: Some(cluster),
                action,
                target: format!("{} {}", event.service, event.server),
                detail,
            };
            record(&mut tx, &caller, change).await?;
        }
        tx.commit().await.map_err(crate::store::StoreError::from)?;
        Ok(())
    }

    /// Forgets the health of a cluster that is gone.
    pub(super) fn forget_health(&self, cluster: &str) {
        self.inner
            .health
            .0
            .lock()
            .expect("health lock")
            .retain(|(c, _), _| c != cluster);
    }
}
