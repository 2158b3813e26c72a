//! Prometheus metrics, served at `GET /metrics` in the text format (0.0.4).
//!
//! Two kinds: what happens in this process is counted as it happens
//! ([`Metrics`]: API requests by route and status, gRPC calls by method and
//! code, revisions made, drift found), and what is true now is read at
//! scrape time by a collector the caller gives [`Metrics::encode`] (the
//! `/metrics` handler's read model of the core: active revisions, directors,
//! live counters of every virtual service and real server).
//!
//! A leaf: it takes plain labels and knows nothing of the core or the
//! transports that feed it.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`Metrics::encode`] writes.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    /// The route template (`/v1/clusters/{cluster}`), never the path: one
    /// series per endpoint, whatever names clients send.
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrpcLabels {
    method: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    cluster: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectorLabels {
    cluster: String,
    director: String,
}

type Durations<L> = Family<L, Histogram, fn() -> Histogram>;

/// What this process counts as it happens; cheap to clone (shared).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Instruments>,
}

struct Instruments {
    http_requests: Family<HttpLabels, Counter>,
    http_durations: Durations<HttpLabels>,
    grpc_requests: Family<GrpcLabels, Counter>,
    grpc_durations: Durations<GrpcLabels>,
    commits: Family<ClusterLabels, Counter>,
    rollbacks: Family<ClusterLabels, Counter>,
    drifts: Family<DirectorLabels, Counter>,
}

/// 1 ms to about 16 s: a revision read takes a millisecond, a large commit seconds.
fn request_durations() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            inner: Arc::new(Instruments {
                http_requests: Family::default(),
                http_durations: Family::new_with_constructor(request_durations),
                grpc_requests: Family::default(),
                grpc_durations: Family::new_with_constructor(request_durations),
                commits: Family::default(),
                rollbacks: Family::default(),
                drifts: Family::default(),
            }),
        }
    }
}

impl Metrics {
    /// One REST request answered; `route` is the matched route template.
    pub fn http_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let labels = HttpLabels {
            method: method.to_string(),
            route: route.to_string(),
            status,
        };
        self.inner.http_requests.get_or_create(&labels).inc();
        self.inner
            .http_durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// One gRPC call answered: `method` as `Commit`, `code` as `OK` or
    /// `InvalidArgument`.
    pub fn grpc_request(&self, method: &str, code: &str, took: Duration) {
        let labels = GrpcLabels {
            method: method.to_string(),
            code: code.to_string(),
        };
        self.inner.grpc_requests.get_or_create(&labels).inc();
        self.inner
            .grpc_durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// A revision was made by a commit.
    pub fn commit_made(&self, cluster: &str) {
        self.inner
            .commits
            .get_or_create(&cluster_labels(cluster))
            .inc();
    }

    /// A revision was made by a rollback (asked for or automatic).
    pub fn rollback_made(&self, cluster: &str) {
        self.inner
            .rollbacks
            .get_or_create(&cluster_labels(cluster))
            .inc();
    }

    /// A director's drift check found the kernel differing from the active revision.
    pub fn drift_found(&self, cluster: &str, director: &str) {
        let labels = DirectorLabels {
            cluster: cluster.to_string(),
            director: director.to_string(),
        };
        self.inner.drifts.get_or_create(&labels).inc();
    }

    /// Everything, as Prometheus scrapes it: these counters and what `now`
    /// collects at this scrape.
    pub fn encode(&self, now: Box<dyn Collector>) -> String {
        let i = &self.inner;
        let mut registry = Registry::with_prefix("lvsd");
        registry.register(
            "http_requests",
            "REST requests answered, by route template and status",
            i.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer REST requests, by route template and status",
            i.http_durations.clone(),
        );
        registry.register(
            "grpc_requests",
            "gRPC calls of lvs.v1.LvsService answered, by method and code",
            i.grpc_requests.clone(),
        );
        registry.register(
            "grpc_request_duration_seconds",
            "Time to answer gRPC calls, by method and code",
            i.grpc_durations.clone(),
        );
        registry.register(
            "commits",
            "Revisions made by commits since this server started",
            i.commits.clone(),
        );
        registry.register(
            "rollbacks",
            "Revisions made by rollbacks (asked for, or after a missed confirmation) since this server started",
            i.rollbacks.clone(),
        );
        registry.register(
            "drift_events",
            "Drift checks that found a director's kernel table differing from the active revision",
            i.drifts.clone(),
        );
        registry.register_collector(now);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
            .expect("writing to a String cannot fail");
        text
    }
}

fn cluster_labels(cluster: &str) -> ClusterLabels {
    ClusterLabels {
        cluster: cluster.to_string(),
    }
}
