//! What is true at scrape time, read from the core: each cluster's active
//! and latest revision, each director's state, and the live counters of
//! every virtual service and real server.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, NoLabelSet,
};
use prometheus_client::metrics::MetricType;

use crate::apply::{ServerCounters, ServiceCounters, Traffic};
use crate::core::{
    Core, DirectorCounters, DirectorHealth, DirectorServersHealth, DirectorView, Error, HaInstance,
    HaMember, VRRP_STATES, state_name,
};
use crate::health::{ServerHealthView, ServiceHealthView};

type Labels = Vec<(&'static str, String)>;

/// Everything read at one scrape.
#[derive(Debug, Default)]
pub struct Snapshot {
    clusters: Vec<ClusterNow>,
}

#[derive(Debug)]
struct ClusterNow {
    name: String,
    active: Option<i64>,
    latest: Option<i64>,
    directors: Vec<DirectorNow>,
    counters: Vec<DirectorCounters>,
    health: Vec<DirectorServersHealth>,
    /// Its VRRP instances across directors.
    ha: Vec<HaInstance>,
}

/// A director's IPVS sync daemon, as its agent last reported it.
#[derive(Debug, Clone, Copy)]
struct SyncNow {
    master: bool,
    backup: bool,
    connections: Option<u64>,
}

#[derive(Debug)]
struct DirectorNow {
    name: String,
    /// The revision it should run.
    desired: Option<i64>,
    applied: Option<i64>,
    /// Revisions between the active one and the one it applied.
    lag: Option<i64>,
    in_sync: bool,
    stale: bool,
    health: DirectorHealth,
    /// Seconds since its agent last reported (agents only).
    heartbeat_age: Option<u64>,
    sync: Option<SyncNow>,
    /// Errors it reported: host settings not applied, its agent's own faults.
    errors: usize,
}

impl From<&DirectorView> for DirectorNow {
    fn from(view: &DirectorView) -> Self {
        DirectorNow {
            name: view.name.clone(),
            desired: view.desired_revision,
            applied: view.applied_revision,
            lag: view.lag_revisions,
            in_sync: view.in_sync,
            stale: view.stale,
            errors: view.host_errors.len(),
            health: view.health,
            heartbeat_age: view.heartbeat_age_secs,
            sync: view
                .ha
                .as_ref()
                .and_then(|ha| ha.sync.as_ref())
                .map(|s| SyncNow {
                    master: s.master,
                    backup: s.backup,
                    connections: s.connections,
                }),
        }
    }
}

/// Every state of [`DirectorHealth`], for one series per state.
const HEALTH: [DirectorHealth; 6] = [
    DirectorHealth::Ok,
    DirectorHealth::Applying,
    DirectorHealth::Refused,
    DirectorHealth::Failed,
    DirectorHealth::Drift,
    DirectorHealth::Stale,
];

impl Snapshot {
    /// Reads it all from `core` now.
    pub async fn gather(core: &Core) -> Result<Self, Error> {
        let mut clusters = Vec::new();
        for cluster in core.list_clusters().await? {
            let directors = match core.directors(&cluster.name).await {
                Ok(views) => views.iter().map(DirectorNow::from).collect(),
                Err(Error::NotFound(_)) => continue, // deleted meanwhile
                Err(err) => return Err(err),
            };
            let health = match core.health(&cluster.name).await {
                Ok(health) => health,
                Err(Error::NotFound(_)) => continue, // deleted meanwhile
                Err(err) => return Err(err),
            };
            let ha = match core.ha(&cluster.name).await {
                Ok(view) => view.instances,
                Err(Error::NotFound(_)) => continue, // deleted meanwhile
                Err(err) => return Err(err),
            };
            clusters.push(ClusterNow {
                ha,
                counters: core.latest_counters(&cluster.name).await?,
                health,
                name: cluster.name,
                active: cluster.active_revision,
                latest: cluster.latest_revision,
                directors,
            });
        }
        Ok(Snapshot { clusters })
    }

    fn directors(&self) -> impl Iterator<Item = (Labels, &DirectorNow)> {
        self.clusters.iter().flat_map(|c| {
            c.directors.iter().map(|d| {
                (
                    vec![("cluster", c.name.clone()), ("director", d.name.clone())],
                    d,
                )
            })
        })
    }

    /// VRRP instances, labelled by cluster, instance and virtual router id.
    fn vrrp_instances(&self) -> impl Iterator<Item = (Labels, &HaInstance)> {
        self.clusters.iter().flat_map(|c| {
            c.ha.iter().map(|i| {
                let labels = vec![
                    ("cluster", c.name.clone()),
                    ("instance", i.instance.clone()),
                    ("vrid", i.vrid.to_string()),
                ];
                (labels, i)
            })
        })
    }

    /// Each director's part in each VRRP instance.
    fn vrrp_members(&self) -> impl Iterator<Item = (Labels, &HaMember)> {
        self.vrrp_instances().flat_map(|(labels, instance)| {
            instance.directors.iter().map(move |member| {
                let mut labels = labels.clone();
                labels.insert(1, ("director", member.director.clone()));
                (labels, member)
            })
        })
    }

    fn services(&self) -> impl Iterator<Item = (Labels, &ServiceCounters)> {
        self.clusters.iter().flat_map(|c| {
            c.counters.iter().flat_map(move |d| {
                d.counters.services.iter().map(move |s| {
                    let labels = vec![
                        ("cluster", c.name.clone()),
                        ("director", d.director.clone()),
                        ("service", s.service.clone()),
                    ];
                    (labels, s)
                })
            })
        })
    }

    fn checked_services(&self) -> impl Iterator<Item = (Labels, &ServiceHealthView)> {
        self.clusters.iter().flat_map(|c| {
            c.health.iter().flat_map(move |d| {
                d.services.iter().map(move |s| {
                    let labels = vec![
                        ("cluster", c.name.clone()),
                        ("director", d.director.clone()),
                        ("service", s.service.clone()),
                    ];
                    (labels, s)
                })
            })
        })
    }

    fn checked_servers(&self) -> impl Iterator<Item = (Labels, &ServerHealthView)> {
        self.checked_services().flat_map(|(labels, service)| {
            service.servers.iter().map(move |server| {
                let mut labels = labels.clone();
                labels.push(("server", server.server.clone()));
                (labels, server)
            })
        })
    }

    fn servers(&self) -> impl Iterator<Item = (Labels, &ServerCounters)> {
        self.services().flat_map(|(labels, service)| {
            service.servers.iter().map(move |server| {
                let mut labels = labels.clone();
                labels.push(("server", server.server.clone()));
                (labels, server)
            })
        })
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let e = &mut encoder;
        let clusters = || {
            self.clusters
                .iter()
                .map(|c| (vec![("cluster", c.name.clone())], c))
        };
        gauge(
            e,
            "cluster_active_revision",
            "The revision every director of the cluster should run",
            clusters().filter_map(|(l, c)| Some((l, c.active?))),
        )?;
        gauge(
            e,
            "cluster_latest_revision",
            "The cluster's latest revision number (its count of revisions)",
            clusters().filter_map(|(l, c)| Some((l, c.latest?))),
        )?;

        let directors = || self.directors();
        gauge(
            e,
            "director_desired_revision",
            "The revision the director should run",
            directors().filter_map(|(l, d)| Some((l, d.desired?))),
        )?;
        gauge(
            e,
            "director_applied_revision",
            "The revision the director last applied and verified",
            directors().filter_map(|(l, d)| Some((l, d.applied?))),
        )?;
        gauge(
            e,
            "director_revision_lag",
            "Revisions between the cluster's active revision and the one the director applied",
            directors().filter_map(|(l, d)| Some((l, d.lag?))),
        )?;
        gauge(
            e,
            "director_errors",
            "Errors the director reported at its last report: host settings not applied, its agent's own faults (cache not writable)",
            directors().map(|(l, d)| (l, i64::try_from(d.errors).unwrap_or(i64::MAX))),
        )?;
        gauge(
            e,
            "director_in_sync",
            "1 when the director runs the active revision and its last drift check found nothing",
            directors().map(|(l, d)| (l, i64::from(d.in_sync))),
        )?;
        gauge(
            e,
            "director_stale",
            "1 when the director has not reported for three of its report intervals",
            directors().map(|(l, d)| (l, i64::from(d.stale))),
        )?;
        gauge(
            e,
            "director_health",
            "1 for the director's state (ok, applying, refused, failed, drift, stale), 0 for the others",
            directors().flat_map(|(labels, d)| {
                HEALTH.map(|state| {
                    let mut labels = labels.clone();
                    labels.push(("state", state.as_str().to_string()));
                    (labels, i64::from(d.health == state))
                })
            }),
        )?;
        gauge(
            e,
            "director_heartbeat_age_seconds",
            "Seconds since the director's agent last reported",
            directors().filter_map(|(l, d)| Some((l, d.heartbeat_age?))),
        )?;

        let members = || self.vrrp_members();
        gauge(
            e,
            "vrrp_state",
            "1 for the VRRP state the director reports for the instance (master, backup, fault, stopped), 0 for the others",
            members().flat_map(|(labels, m)| {
                VRRP_STATES.map(|state| {
                    let mut labels = labels.clone();
                    labels.push(("state", state_name(state).to_string()));
                    (labels, i64::from(m.state == state))
                })
            }),
        )?;
        gauge(
            e,
            "vrrp_priority",
            "The VRRP priority the director advertises for the instance now",
            members().map(|(l, m)| (l, i64::from(m.priority))),
        )?;
        counter(
            e,
            "vrrp_transitions",
            "VRRP state changes of the instance on the director since its agent started",
            members().map(|(l, m)| (l, m.transitions)),
        )?;
        gauge(
            e,
            "vrrp_masters",
            "Directors (not stale) that are VRRP master of the instance: 1 is right, 0 is no master, 2 or more a split brain",
            self.vrrp_instances()
                .map(|(l, i)| (l, i.masters.len() as i64)),
        )?;
        let syncs = || directors().filter_map(|(l, d)| Some((l, d.sync?)));
        gauge(
            e,
            "ipvs_sync_thread_up",
            "1 while the director's IPVS connection sync thread (master: sends, backup: receives) runs",
            syncs().flat_map(|(labels, s)| {
                [("master", s.master), ("backup", s.backup)].map(|(thread, up)| {
                    let mut labels = labels.clone();
                    labels.push(("thread", thread.to_string()));
                    (labels, i64::from(up))
                })
            }),
        )?;
        gauge(
            e,
            "ipvs_sync_connections",
            "Connection entries in the director's table, synced ones included",
            syncs().filter_map(|(l, s)| Some((l, s.connections?))),
        )?;

        let servers = || self.servers();
        gauge(
            e,
            "real_server_active_connections",
            "Active connections to the real server (ESTABLISHED TCP)",
            servers().map(|(l, s)| (l, s.active_conns)),
        )?;
        gauge(
            e,
            "real_server_inactive_connections",
            "Inactive connections to the real server (other states)",
            servers().map(|(l, s)| (l, s.inactive_conns)),
        )?;
        gauge(
            e,
            "real_server_persistent_connections",
            "Persistence templates pointing at the real server",
            servers().map(|(l, s)| (l, s.persistent_conns)),
        )?;
        gauge(
            e,
            "real_server_weight",
            "The real server's weight in the kernel now",
            servers().map(|(l, s)| (l, s.weight)),
        )?;
        gauge(
            e,
            "real_server_healthy",
            "1 while the real server passes its health check as this director sees it, 0 while it fails",
            self.checked_servers()
                .map(|(l, s)| (l, i64::from(s.healthy))),
        )?;
        gauge(
            e,
            "virtual_service_healthy_servers",
            "Real servers of the service passing their health checks",
            self.checked_services()
                .map(|(l, s)| (l, s.healthy_servers as i64)),
        )?;
        gauge(
            e,
            "virtual_service_degraded",
            "1 while fewer real servers than the service's quorum are healthy",
            self.checked_services()
                .map(|(l, s)| (l, i64::from(s.degraded))),
        )?;
        traffic(e, "real_server", &|| {
            Box::new(servers().map(|(l, s)| (l, s.traffic)))
        })?;
        traffic(e, "virtual_service", &|| {
            Box::new(self.services().map(|(l, s)| (l, s.traffic)))
        })
    }
}

type Samples<'a> = Box<dyn Iterator<Item = (Labels, Traffic)> + 'a>;

/// Connections, packets and bytes of `what`: totals and the kernel's rates.
fn traffic<'a>(
    e: &mut DescriptorEncoder,
    what: &str,
    samples: &dyn Fn() -> Samples<'a>,
) -> fmt::Result {
    let directed = |pick: fn(&Traffic) -> (u64, u64)| {
        samples().flat_map(move |(labels, t)| {
            let (inward, outward) = pick(&t);
            [("in", inward), ("out", outward)].map(|(direction, value)| {
                let mut labels = labels.clone();
                labels.push(("direction", direction.to_string()));
                (labels, value)
            })
        })
    };
    counter(
        e,
        &format!("{what}_connections"),
        "Connections scheduled since the counters were last zeroed",
        samples().map(|(l, t)| (l, t.conns)),
    )?;
    counter(
        e,
        &format!("{what}_packets"),
        "Packets since the counters were last zeroed, by direction",
        directed(|t| (t.in_packets, t.out_packets)),
    )?;
    counter(
        e,
        &format!("{what}_bytes"),
        "Bytes since the counters were last zeroed, by direction",
        directed(|t| (t.in_bytes, t.out_bytes)),
    )?;
    gauge(
        e,
        &format!("{what}_connections_per_second"),
        "Connections per second, as the kernel estimates it",
        samples().map(|(l, t)| (l, t.cps)),
    )?;
    gauge(
        e,
        &format!("{what}_packets_per_second"),
        "Packets per second by direction, as the kernel estimates it",
        directed(|t| (t.in_pps, t.out_pps)),
    )?;
    gauge(
        e,
        &format!("{what}_bytes_per_second"),
        "Bytes per second by direction, as the kernel estimates it",
        directed(|t| (t.in_bps, t.out_bps)),
    )
}

fn gauge<V: EncodeGaugeValue>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (Labels, V)>,
) -> fmt::Result {
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        metric.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

/// `name` gets its `_total` from the encoder.
fn counter<V: EncodeCounterValue>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (Labels, V)>,
) -> fmt::Result {
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        metric
            .encode_family(&labels)?
            .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
    }
    Ok(())
}
