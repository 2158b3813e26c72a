//! What is true at scrape time, read from the core: each cluster's active
//! and latest revision, each director's state, and the live counters of
//! every virtual service and real server.

use std::fmt;
use std::time::SystemTime;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use serde_json::Value;

use crate::apply::{ServerCounters, ServiceCounters, Traffic};
use crate::core::{Core, DirectorCounters, DirectorView, Error};

type Labels = Vec<(&'static str, String)>;

fn json(view: &DirectorView) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

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
}

#[derive(Debug, PartialEq)]
struct DirectorNow {
    name: String,
    /// The revision it should run.
    desired: Option<i64>,
    applied: Option<i64>,
    /// Revisions between the desired and the applied one.
    lag: Option<i64>,
    in_sync: bool,
    stale: Option<bool>,
    /// Seconds since the director last showed it is alive.
    heartbeat_age: Option<f64>,
}

impl DirectorNow {
    /// Reads a director's view by its serialized fields, so that fields
    /// only some directors report (an agent's `desired_revision`, `stale`,
    /// `last_heartbeat`) are used when present and skipped when not.
    fn of(view: &Value, now: SystemTime) -> Self {
        let number = |field: &str| view.get(field).and_then(Value::as_i64);
        let desired = number("desired_revision").or(number("active_revision"));
        let applied = number("applied_revision");
        let lag = desired.map(|desired| (desired - applied.unwrap_or(0)).max(0));
        // The latest sign of life: a heartbeat, else the last drift check or apply.
        let seen = ["last_heartbeat", "checked_at", "applied_at"]
            .iter()
            .find_map(|field| view.get(*field).and_then(Value::as_str))
            .and_then(|at| humantime::parse_rfc3339_weak(at).ok());
        DirectorNow {
            name: view
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            desired,
            applied,
            lag,
            in_sync: view
                .get("in_sync")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            stale: view.get("stale").and_then(Value::as_bool),
            heartbeat_age: seen
                .map(|seen| now.duration_since(seen).unwrap_or_default().as_secs_f64()),
        }
    }
}

impl Snapshot {
    /// Reads it all from `core` now.
    pub async fn gather(core: &Core) -> Result<Self, Error> {
        let now = SystemTime::now();
        let mut clusters = Vec::new();
        for cluster in core.list_clusters().await? {
            let directors = match core.directors(&cluster.name).await {
                Ok(views) => views
                    .iter()
                    .map(|view| DirectorNow::of(&json(view), now))
                    .collect(),
                Err(Error::NotFound(_)) => continue, // deleted meanwhile
                Err(err) => return Err(err),
            };
            clusters.push(ClusterNow {
                counters: core.latest_counters(&cluster.name),
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
            "Revisions the director is behind the one it should run",
            directors().filter_map(|(l, d)| Some((l, d.lag?))),
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
            "1 when the director has not reported within its expected interval",
            directors().filter_map(|(l, d)| Some((l, i64::from(d.stale?)))),
        )?;
        gauge(
            e,
            "director_heartbeat_age_seconds",
            "Seconds since the director last showed it is alive (heartbeat, drift check or apply)",
            directors().filter_map(|(l, d)| Some((l, d.heartbeat_age?))),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn at(rfc3339: &str) -> SystemTime {
        humantime::parse_rfc3339_weak(rfc3339).unwrap()
    }

    #[test]
    fn a_local_director_lags_by_the_revisions_it_has_not_applied() {
        let view = json!({"name": "d1", "active_revision": 5, "applied_revision": 3, "in_sync": false,
                          "applied_at": "2026-11-25T10:00:00.000Z", "checked_at": null});
        let director = DirectorNow::of(&view, at("2026-11-25T10:00:30Z"));
        assert_eq!(
            (director.desired, director.applied, director.lag),
            (Some(5), Some(3), Some(2))
        );
        assert_eq!(
            director.stale, None,
            "no staleness without an agent's report"
        );
        assert_eq!(
            director.heartbeat_age,
            Some(30.0),
            "the last apply is its last sign of life"
        );
    }

    #[test]
    fn an_agents_fields_are_used_when_present() {
        let view = json!({"name": "edge-2", "active_revision": 7, "desired_revision": 6, "applied_revision": 6,
                          "in_sync": true, "stale": true, "last_heartbeat": "2026-11-25T10:00:00Z",
                          "checked_at": "2026-11-25T10:00:20Z"});
        let director = DirectorNow::of(
            &view,
            at("2026-11-25T10:01:00Z") + Duration::from_millis(500),
        );
        assert_eq!((director.desired, director.lag), (Some(6), Some(0)));
        assert_eq!(director.stale, Some(true));
        assert_eq!(
            director.heartbeat_age,
            Some(60.5),
            "a heartbeat wins over the last check"
        );
    }

    #[test]
    fn nothing_applied_yet_lags_by_the_whole_history() {
        let view =
            json!({"name": "d1", "active_revision": 2, "applied_revision": null, "in_sync": false});
        let director = DirectorNow::of(&view, SystemTime::now());
        assert_eq!(
            (director.applied, director.lag, director.heartbeat_age),
            (None, Some(2), None)
        );
    }
}
