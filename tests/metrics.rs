//! `GET /metrics` scraped from a real `lvsd serve` after known API calls,
//! parsed as Prometheus parses it: every count is the number of calls made.

mod auth_support;
mod common;

use std::time::Duration;

use common::{TestServer, nat_example};
use lvsd::api::grpc::pb;
use lvsd::api::grpc::pb::lvs_service_client::LvsServiceClient;
use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use serde_json::json;

const SERVICE: &str = "tcp:192.168.31.100:80";

type Scrape = MetricsExposition<PrometheusType, PrometheusValue>;

async fn scrape(server: &TestServer, authorization: Option<&str>) -> Scrape {
    let mut request = server.client.get(server.url("/metrics"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.expect("lvsd answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    parse_prometheus(&text).expect("Prometheus text format")
}

/// The value of the one sample of `metric` with (at least) these labels;
/// for a histogram, its count.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let family = scrape.families.get(metric)?;
    let mut found = family
        .iter_samples()
        .filter(|sample| {
            let set = sample.get_labelset().expect("labels");
            labels
                .iter()
                .all(|(name, value)| set.get_label_value(name) == Some(*value))
        })
        .map(|sample| match &sample.value {
            PrometheusValue::Unknown(n) | PrometheusValue::Gauge(n) => n.as_f64(),
            PrometheusValue::Counter(c) => c.value.as_f64(),
            PrometheusValue::Histogram(h) => h.count.expect("a histogram's count") as f64,
            PrometheusValue::Summary(_) => panic!("{metric} is a summary"),
        });
    let first = found.next();
    assert!(
        found.next().is_none(),
        "more than one sample of {metric} with {labels:?}"
    );
    first
}

#[tokio::test]
async fn counts_requests_commits_and_rollbacks_as_they_were_made() {
    let server = TestServer::start();
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    server
        .post(
            "/v1/clusters/web/revisions",
            json!({"message": "nat", "spec": nat_example()}),
        )
        .await
        .expect(201);
    let mut changed = nat_example();
    changed["services"][0]["servers"][0]["weight"] = json!(5);
    server
        .post(
            "/v1/clusters/web/revisions",
            json!({"message": "more to rs1", "spec": changed}),
        )
        .await
        .expect(201);
    // The same spec again makes no revision, so it is no commit.
    server
        .post(
            "/v1/clusters/web/revisions",
            json!({"message": "again", "spec": changed}),
        )
        .await
        .expect(200);
    server
        .post("/v1/clusters/web/rollback", json!({"to": 1}))
        .await
        .expect(201);
    for _ in 0..3 {
        server.get("/v1/clusters/web").await.expect(200);
    }
    server.get("/v1/clusters/nope").await.expect(404);
    server.get("/no/such/thing").await.expect(404);

    let mut grpc = LvsServiceClient::connect(server.grpc.clone())
        .await
        .expect("gRPC connects");
    grpc.list_clusters(pb::ListClustersRequest::default())
        .await
        .expect("ListClusters");
    grpc.list_clusters(pb::ListClustersRequest::default())
        .await
        .expect("ListClusters");
    let missing = grpc
        .get_cluster(pb::GetClusterRequest {
            name: "nope".into(),
        })
        .await
        .expect_err("no such cluster");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let watch = pb::WatchDesiredRequest {
        cluster: "nope".into(),
        director: "lb-1".into(),
    };
    let refused = grpc
        .watch_desired(watch)
        .await
        .expect_err("no such cluster to watch");
    assert_eq!(refused.code(), tonic::Code::NotFound);

    let metrics = scrape(&server, None).await;
    let web = [("cluster", "web")];
    assert_eq!(value(&metrics, "lvsd_commits_total", &web), Some(2.0));
    assert_eq!(value(&metrics, "lvsd_rollbacks_total", &web), Some(1.0));
    assert_eq!(
        value(&metrics, "lvsd_cluster_active_revision", &web),
        Some(3.0)
    );
    assert_eq!(
        value(&metrics, "lvsd_cluster_latest_revision", &web),
        Some(3.0)
    );

    let get_cluster = [("method", "GET"), ("route", "/v1/clusters/{cluster}")];
    let requests = |status| {
        value(
            &metrics,
            "lvsd_http_requests_total",
            &[get_cluster[0], get_cluster[1], ("status", status)],
        )
    };
    assert_eq!(requests("200"), Some(3.0));
    assert_eq!(requests("404"), Some(1.0));
    let commits = [
        ("method", "POST"),
        ("route", "/v1/clusters/{cluster}/revisions"),
    ];
    assert_eq!(
        value(
            &metrics,
            "lvsd_http_requests_total",
            &[commits[0], commits[1], ("status", "201")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &metrics,
            "lvsd_http_requests_total",
            &[commits[0], commits[1], ("status", "200")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &metrics,
            "lvsd_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        Some(1.0)
    );
    // Every request timed: the histogram's +Inf bucket holds them all.
    let durations = [get_cluster[0], get_cluster[1], ("status", "200")];
    assert_eq!(
        value(&metrics, "lvsd_http_request_duration_seconds", &durations),
        Some(3.0)
    );

    assert_eq!(
        value(
            &metrics,
            "lvsd_grpc_requests_total",
            &[("method", "ListClusters"), ("code", "OK")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &metrics,
            "lvsd_grpc_requests_total",
            &[("method", "GetCluster"), ("code", "NotFound")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &metrics,
            "lvsd_grpc_requests_total",
            &[("method", "WatchDesired"), ("code", "NotFound")]
        ),
        Some(1.0)
    );

    // The scrape itself is counted by the next one.
    let again = scrape(&server, None).await;
    assert_eq!(
        value(
            &again,
            "lvsd_http_requests_total",
            &[("route", "/metrics"), ("status", "200")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn directors_and_real_servers_of_the_local_table() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--apply-local",
        "--table",
        "memory",
        "--director",
        "d1",
        "--counters-interval",
        "200ms",
    ];
    let server = TestServer::start_with(dir.path().join("lvsd.db"), &args);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    server
        .post(
            "/v1/clusters/web/revisions",
            json!({"message": "nat", "spec": nat_example()}),
        )
        .await
        .expect(201);

    // The director applies, then counts its table every 200 ms.
    let mut metrics = scrape(&server, None).await;
    for _ in 0..100 {
        let applied = value(
            &metrics,
            "lvsd_director_applied_revision",
            &[("director", "d1")],
        ) == Some(1.0);
        if applied
            && value(
                &metrics,
                "lvsd_real_server_weight",
                &[("server", "172.25.0.33:80")],
            )
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        metrics = scrape(&server, None).await;
    }
    let d1 = [("cluster", "web"), ("director", "d1")];
    assert_eq!(
        value(&metrics, "lvsd_director_applied_revision", &d1),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics, "lvsd_director_desired_revision", &d1),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics, "lvsd_director_revision_lag", &d1),
        Some(0.0)
    );
    let health = |state| {
        value(
            &metrics,
            "lvsd_director_health",
            &[d1[0], d1[1], ("state", state)],
        )
    };
    assert_eq!(
        (health("ok"), health("applying"), health("stale")),
        (Some(1.0), Some(0.0), Some(0.0))
    );
    assert_eq!(value(&metrics, "lvsd_director_stale", &d1), Some(0.0));
    assert_eq!(
        value(&metrics, "lvsd_director_heartbeat_age_seconds", &d1),
        None,
        "no agent, no heartbeat"
    );
    for (server_id, weight) in [
        ("172.25.0.31:80", 1.0),
        ("172.25.0.32:80", 2.0),
        ("172.25.0.33:80", 3.0),
    ] {
        let labels = [d1[0], d1[1], ("service", SERVICE), ("server", server_id)];
        assert_eq!(
            value(&metrics, "lvsd_real_server_weight", &labels),
            Some(weight),
            "{server_id}"
        );
        assert_eq!(
            value(&metrics, "lvsd_real_server_active_connections", &labels),
            Some(0.0)
        );
        assert_eq!(
            value(&metrics, "lvsd_real_server_connections_total", &labels),
            Some(0.0)
        );
        let inward = [
            labels[0],
            labels[1],
            labels[2],
            labels[3],
            ("direction", "in"),
        ];
        assert_eq!(
            value(&metrics, "lvsd_real_server_bytes_total", &inward),
            Some(0.0)
        );
    }
    let service = [d1[0], d1[1], ("service", SERVICE)];
    assert_eq!(
        value(&metrics, "lvsd_virtual_service_connections_total", &service),
        Some(0.0)
    );
}

/// `/metrics` needs what `auth::policy` says, like every `/v1` route.
#[tokio::test]
async fn scraping_needs_the_access_the_role_table_gives() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lvsd.db");
    let tokens = auth_support::Tokens::make(&db);
    let server = TestServer::start_on(&db);
    let access =
        lvsd::auth::policy::rest("GET", "/metrics").expect("/metrics is in the role table");
    for caller in tokens.callers() {
        let (status, _) = auth_support::call(
            &server.client,
            &server.http,
            "GET",
            "/metrics",
            caller.authorization.as_deref(),
            None,
        )
        .await;
        assert_eq!(
            status,
            caller.refusal(access, None).unwrap_or(200),
            "{} ({:?})",
            caller.actor,
            caller.role
        );
    }
    let viewer = format!("Bearer {}", tokens.viewer);
    let metrics = scrape(&server, Some(&viewer)).await;
    assert!(
        value(
            &metrics,
            "lvsd_http_requests_total",
            &[("route", "/metrics"), ("status", "401")]
        )
        .is_some()
    );
}

/// A remote director's agent reports: its revision, lag, health, heartbeat
/// and the drift it found are in the scrape.
#[tokio::test]
async fn an_agents_reports_show_in_its_director_metrics() {
    let server = TestServer::start();
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    server
        .post(
            "/v1/clusters/web/revisions",
            json!({"message": "nat", "spec": nat_example()}),
        )
        .await
        .expect(201);
    let mut changed = nat_example();
    changed["services"][0]["servers"][0]["weight"] = json!(5);
    server
        .post(
            "/v1/clusters/web/revisions",
            json!({"message": "rs1", "spec": changed}),
        )
        .await
        .expect(201);

    // Still on revision 1, and its table differs from it.
    let report = json!({
        "agent_version": "lvsd 0.1.0",
        "applied_revision": 1,
        "drift_check": {
            "at": "2026-01-01T00:00:02.000Z", "revision": 1, "mode": "report",
            "drift": [{"object": "tcp 192.168.31.100:80 -> 172.25.0.31:80", "kind": "differs", "details": ["weight 5, spec 1"]}],
        },
        "report_interval_secs": 30,
    });
    server
        .call("PUT", "/v1/clusters/web/directors/lb-1", Some(report), None)
        .await
        .expect(200);

    let metrics = scrape(&server, None).await;
    let lb1 = [("cluster", "web"), ("director", "lb-1")];
    assert_eq!(
        value(&metrics, "lvsd_director_applied_revision", &lb1),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics, "lvsd_director_desired_revision", &lb1),
        Some(2.0)
    );
    assert_eq!(
        value(&metrics, "lvsd_director_revision_lag", &lb1),
        Some(1.0)
    );
    assert_eq!(value(&metrics, "lvsd_director_stale", &lb1), Some(0.0));
    let health = |state| {
        value(
            &metrics,
            "lvsd_director_health",
            &[lb1[0], lb1[1], ("state", state)],
        )
    };
    let states = ["ok", "applying", "refused", "failed", "drift", "stale"].map(health);
    assert_eq!(
        states.iter().flatten().sum::<f64>(),
        1.0,
        "one state at a time: {states:?}"
    );
    assert_eq!(health("ok"), Some(0.0));
    let age =
        value(&metrics, "lvsd_director_heartbeat_age_seconds", &lb1).expect("a heartbeat age");
    assert!(age >= 0.0, "{age}");
    assert_eq!(value(&metrics, "lvsd_drift_events_total", &lb1), Some(1.0));
}
