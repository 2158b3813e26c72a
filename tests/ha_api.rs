//! Director high availability at the server, against the real binary: two
//! directors report their VRRP states over REST (and gRPC); the server
//! shows them per instance, flags no master and split brain (in the view,
//! `lvsd ha status`, `/metrics`), audits every transition and each flag
//! raised or cleared once, and serves controlled switchovers to agents.

mod auth_support;
mod common;

use std::time::Duration;

use common::{TestServer, both_backends, nat_example};
use lvsd::api::grpc::pb;
use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{PrometheusType, PrometheusValue};
use serde_json::{Value, json};

async fn setup(server: &TestServer) {
    server
        .post("/v1/clusters", json!({ "name": "web" }))
        .await
        .expect(201);
    server
        .post(
            "/v1/clusters/web/revisions",
            json!({ "message": "seed", "spec": nat_example() }),
        )
        .await
        .expect(201);
}

/// A heartbeat of a director on revision 1 with VRRP instance VI_1 (vrid
/// 51) in `state`, and these transitions `(from, to)`.
fn report_with(state: &str, priority: u8, transitions: &[(&str, &str)]) -> Value {
    let transitions: Vec<Value> = transitions
        .iter()
        .enumerate()
        .map(|(i, (from, to))| {
            json!({ "at": format!("2026-01-01T00:00:0{i}.000Z"), "instance": "VI_1", "from": from, "to": to })
        })
        .collect();
    json!({
        "agent_version": "lvsd 0.1.0",
        "applied_revision": 1,
        "report_interval_secs": 30,
        "ha": {
            "vrrp": [{
                "instance": "VI_1", "vrid": 51, "state": state,
                "since": "2026-01-01T00:00:00.000Z", "priority": priority, "transitions": transitions.len(),
            }],
            "transitions": transitions,
            "sync": { "master": true, "backup": true, "connections": 42 },
        },
    })
}

async fn report(server: &TestServer, director: &str, body: Value) -> common::Reply {
    server
        .call(
            "PUT",
            &format!("/v1/clusters/web/directors/{director}"),
            Some(body),
            None,
        )
        .await
}

/// The audit entries of `action`, oldest first.
async fn audit(server: &TestServer, action: &str) -> Vec<Value> {
    let reply = server
        .get(&format!("/v1/audit?cluster=web&action={action}&limit=1000"))
        .await
        .expect(200);
    let mut entries = reply.body.as_array().expect("a list").clone();
    entries.reverse();
    entries
}

fn outcomes(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect()
}

/// Runs `lvsd ARGS`: (exit code, stdout, stderr).
fn lvsd(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(args)
        .env_remove("LVSD_SERVER")
        .env_remove("LVSD_CLUSTER")
        .env_remove("LVSD_TOKEN")
        .output()
        .expect("lvsd runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The value of the one sample of `metric` with (at least) these labels.
async fn metric(server: &TestServer, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = server.get("/metrics").await.expect(200).text;
    let scrape = parse_prometheus(&text).expect("Prometheus text format");
    let family = scrape.families.get(metric)?;
    assert!(
        matches!(
            family.family_type,
            PrometheusType::Gauge | PrometheusType::Counter
        ),
        "{metric}"
    );
    let mut found = family
        .iter_samples()
        .filter(|sample| {
            let set = sample.get_labelset().expect("labels");
            labels
                .iter()
                .all(|(name, value)| set.get_label_value(name) == Some(*value))
        })
        .map(|sample| match &sample.value {
            PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => n.as_f64(),
            PrometheusValue::Counter(c) => c.value.as_f64(),
            _ => panic!("{metric} is neither a gauge nor a counter"),
        });
    let first = found.next();
    assert!(
        found.next().is_none(),
        "more than one sample of {metric} with {labels:?}"
    );
    first
}

both_backends! {
async fn no_master_and_split_brain_are_flagged_shown_and_audited_once(db: TestDb) {
    let mut server = TestServer::start_on(&db);
    setup(&server).await;

    // Both backup: no master, raised at the first report and not again.
    report(&server, "lb-1", report_with("backup", 100, &[])).await.expect(200);
    report(&server, "lb-2", report_with("backup", 90, &[])).await.expect(200);
    report(&server, "lb-1", report_with("backup", 100, &[])).await.expect(200);
    let ha = server.get("/v1/clusters/web/ha").await.expect(200);
    let vi1 = &ha.body["instances"][0];
    assert_eq!(vi1["instance"], "VI_1");
    assert_eq!(vi1["vrid"], 51);
    assert_eq!(vi1["no_master"], true, "{}", ha.text);
    assert_eq!(vi1["split_brain"], false);
    assert_eq!(vi1["backups"], json!(["lb-1", "lb-2"]));
    assert_eq!(outcomes(&audit(&server, "ha.no_master").await), ["ok"]);

    // One master: cleared; its transition audited, as the director did it.
    let view = report(&server, "lb-1", report_with("master", 100, &[("backup", "master")])).await.expect(200);
    assert_eq!(view.body["ha"]["vrrp"][0]["state"], "master", "{}", view.text);
    assert_eq!(view.body["ha"]["sync"], json!({ "master": true, "backup": true, "connections": 42 }));
    assert!(view.body["ha"].get("transitions").is_none(), "transitions are audited, not kept: {}", view.text);
    let ha = server.get("/v1/clusters/web/ha").await.expect(200);
    assert_eq!(ha.body["instances"][0]["masters"], json!(["lb-1"]));
    assert_eq!(ha.body["instances"][0]["no_master"], false);
    let no_master = audit(&server, "ha.no_master").await;
    assert_eq!(outcomes(&no_master), ["ok", "cleared"]);
    assert_eq!(no_master[1]["target"], "VI_1");
    assert_eq!(no_master[1]["actor"], "lvsd");
    let transitions = audit(&server, "ha.transition").await;
    assert_eq!(transitions.len(), 1, "{transitions:?}");
    assert_eq!(transitions[0]["actor"], "director:lb-1");
    assert_eq!(transitions[0]["target"], "VI_1");
    assert_eq!(transitions[0]["detail"]["from"], "backup");
    assert_eq!(transitions[0]["detail"]["to"], "master");

    // Two masters: split brain; each transition in the list audited, in order.
    report(&server, "lb-2", report_with("master", 90, &[("backup", "fault"), ("fault", "master")])).await.expect(200);
    let ha = server.get("/v1/clusters/web/ha").await.expect(200);
    assert_eq!(ha.body["instances"][0]["split_brain"], true, "{}", ha.text);
    assert_eq!(ha.body["instances"][0]["masters"], json!(["lb-1", "lb-2"]));
    let split = audit(&server, "ha.split_brain").await;
    assert_eq!(outcomes(&split), ["ok"]);
    assert_eq!(split[0]["detail"]["masters"], json!(["lb-1", "lb-2"]));
    let transitions = audit(&server, "ha.transition").await;
    let by_lb2: Vec<(&str, &str)> = transitions
        .iter()
        .filter(|e| e["actor"] == "director:lb-2")
        .map(|e| (e["detail"]["from"].as_str().unwrap(), e["detail"]["to"].as_str().unwrap()))
        .collect();
    assert_eq!(by_lb2, [("backup", "fault"), ("fault", "master")]);

    // Seen in /metrics: two masters, each director's state, priority, sync threads.
    let vi1 = [("cluster", "web"), ("instance", "VI_1")];
    assert_eq!(metric(&server, "lvsd_vrrp_masters", &vi1).await, Some(2.0));
    let lb2 = |state| [("cluster", "web"), ("director", "lb-2"), ("instance", "VI_1"), ("state", state)];
    assert_eq!(metric(&server, "lvsd_vrrp_state", &lb2("master")).await, Some(1.0));
    assert_eq!(metric(&server, "lvsd_vrrp_state", &lb2("backup")).await, Some(0.0));
    let lb2 = [("cluster", "web"), ("director", "lb-2"), ("instance", "VI_1")];
    assert_eq!(metric(&server, "lvsd_vrrp_priority", &lb2).await, Some(90.0));
    assert_eq!(metric(&server, "lvsd_vrrp_transitions_total", &lb2).await, Some(2.0));
    let thread = [("cluster", "web"), ("director", "lb-2"), ("thread", "backup")];
    assert_eq!(metric(&server, "lvsd_ipvs_sync_thread_up", &thread).await, Some(1.0));
    assert_eq!(metric(&server, "lvsd_ipvs_sync_connections", &[("director", "lb-2")]).await, Some(42.0));

    // Seen by `lvsd ha status`, loudly, and `lvsd directors`.
    let (code, stdout, stderr) = lvsd(&["ha", "status", "--server", &server.http, "--cluster", "web"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("SPLIT BRAIN: VI_1 (vrid 51) has 2 masters: lb-1, lb-2"), "{stdout}");
    let row = stdout.lines().find(|l| l.starts_with("VI_1") && l.contains("lb-2")).expect("a row for lb-2");
    let words: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(words, ["VI_1", "51", "lb-2", "master", "2026-01-01T00:00:00.000Z", "90"], "{stdout}");
    let (code, stdout, _) = lvsd(&["ha", "status", "--server", &server.http, "--cluster", "web", "--output", "json"]);
    assert_eq!(code, Some(0));
    let parsed: Value = serde_json::from_str(&stdout).expect("the server's JSON");
    assert_eq!(parsed["instances"][0]["split_brain"], true);
    let (code, stdout, stderr) = lvsd(&["directors", "--server", &server.http, "--cluster", "web"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.lines().next().unwrap().ends_with("VRRP"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("lb-1") && l.ends_with("VI_1 master")), "{stdout}");
    let (code, stdout, _) = lvsd(&["directors", "lb-2", "--server", &server.http, "--cluster", "web"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("vrrp:       VI_1 (vrid 51) master since 2026-01-01T00:00:00.000Z, priority 90, 2 transitions"), "{stdout}");
    assert!(stdout.contains("sync:       master thread running, backup thread running, 42 connections"), "{stdout}");

    // Back to one master: cleared once.
    report(&server, "lb-2", report_with("backup", 90, &[("master", "backup")])).await.expect(200);
    assert_eq!(outcomes(&audit(&server, "ha.split_brain").await), ["ok", "cleared"]);
    assert_eq!(metric(&server, "lvsd_vrrp_masters", &vi1).await, Some(1.0));

    // A restarted server audits nothing again for the same states.
    server.terminate();
    let server = TestServer::start_on(&db);
    report(&server, "lb-2", report_with("backup", 90, &[])).await.expect(200);
    report(&server, "lb-1", report_with("master", 100, &[])).await.expect(200);
    assert_eq!(outcomes(&audit(&server, "ha.split_brain").await), ["ok", "cleared"]);
    assert_eq!(outcomes(&audit(&server, "ha.no_master").await), ["ok", "cleared"]);
    let ha = server.get("/v1/clusters/web/ha").await.expect(200);
    assert_eq!(ha.body["instances"][0]["masters"], json!(["lb-1"]), "{}", ha.text);
    assert!(ha.body.get("pending").is_none(), "{}", ha.text);
}
}

both_backends! {
async fn a_bad_ha_report_is_refused_by_field_and_changes_nothing(db: TestDb) {
    let server = TestServer::start_on(&db);
    setup(&server).await;
    report(&server, "lb-1", report_with("master", 100, &[])).await.expect(200);

    type Spoil = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Spoil)> = vec![
        ("ha.vrrp[0].vrid", Box::new(|r| r["ha"]["vrrp"][0]["vrid"] = json!(0))),
        ("ha.vrrp[0].instance", Box::new(|r| r["ha"]["vrrp"][0]["instance"] = json!("VI 1"))),
        ("ha.vrrp[0].since", Box::new(|r| r["ha"]["vrrp"][0]["since"] = json!("yesterday"))),
        ("ha.transitions[0].at", Box::new(|r| r["ha"]["transitions"] = json!([{ "at": "soon", "instance": "VI_1", "from": "backup", "to": "master" }]))),
        ("ha.switchover_seq", Box::new(|r| r["ha"]["switchover_seq"] = json!(1))),
    ];
    for (field, spoil) in cases {
        let mut body = report_with("backup", 100, &[("master", "backup")]);
        spoil(&mut body);
        let reply = report(&server, "lb-1", body).await.expect(400);
        assert_eq!(reply.body["error"]["field"], field, "{}", reply.text);
    }
    // Still master, no transition audited.
    let ha = server.get("/v1/clusters/web/ha").await.expect(200);
    assert_eq!(ha.body["instances"][0]["masters"], json!(["lb-1"]));
    assert!(audit(&server, "ha.transition").await.is_empty());
    // An unknown state is refused by the JSON parser, by name.
    let mut body = report_with("master", 100, &[]);
    body["ha"]["vrrp"][0]["state"] = json!("leader");
    let reply = report(&server, "lb-1", body).await.expect(400);
    assert!(reply.text.contains("leader"), "{}", reply.text);
}
}

both_backends! {
async fn a_switchover_reaches_a_long_polling_agent_and_is_audited(db: TestDb) {
    let server = TestServer::start_on(&db);
    setup(&server).await;

    // Nothing reports VRRP state yet: nothing to switch over.
    let reply = server.call("POST", "/v1/clusters/web/ha/switchover", None, None).await.expect(409);
    assert!(reply.body["error"]["message"].as_str().unwrap().contains("reports VRRP state"), "{}", reply.text);
    report(&server, "lb-1", report_with("master", 100, &[])).await.expect(200);
    report(&server, "lb-2", report_with("backup", 90, &[])).await.expect(200);
    let reply = server.post("/v1/clusters/web/ha/switchover", json!({ "instance": "VI_9" })).await.expect(400);
    assert_eq!(reply.body["error"]["field"], "instance", "{}", reply.text);
    assert!(reply.body["error"]["message"].as_str().unwrap().contains("reported: VI_1"), "{}", reply.text);
    let desired = server.get("/v1/clusters/web/desired?director=lb-1").await.expect(200);
    assert!(desired.body.get("switchover").is_none(), "{}", desired.text);

    // A director waiting on its revision is woken by each request.
    let held = |server: &TestServer| {
        let url = server.url("/v1/clusters/web/desired?director=lb-1&after=1&wait=50s");
        tokio::spawn(server.client.get(url).send())
    };
    let first = held(&server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!first.is_finished(), "a director on its revision is answered only on a change");
    let asked = server.post("/v1/clusters/web/ha/switchover", json!({ "instance": "VI_1" })).await.expect(200);
    assert_eq!(asked.body["seq"], 1);
    assert_eq!(asked.body["masters"], json!(["lb-1"]));
    let answer = common::Reply::from_response(first.await.unwrap().unwrap()).await.expect(200);
    assert_eq!(answer.body["switchover"], json!({ "seq": 1, "instance": "VI_1" }));

    let second = held(&server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished());
    let asked = server.call("POST", "/v1/clusters/web/ha/switchover", None, None).await.expect(200);
    assert_eq!(asked.body["seq"], 2);
    let answer = common::Reply::from_response(second.await.unwrap().unwrap()).await.expect(200);
    assert_eq!(answer.body["switchover"], json!({ "seq": 2 }));

    let entries = audit(&server, "ha.switchover").await;
    assert_eq!(outcomes(&entries), ["refused", "refused", "ok", "ok"]);
    assert_eq!(entries[2]["target"], "VI_1");
    assert_eq!(entries[2]["detail"]["seq"], 1);
    let ha = server.get("/v1/clusters/web/ha").await.expect(200);
    assert_eq!(ha.body["switchover"]["seq"], 2, "{}", ha.text);

    // The agent acknowledges what was asked, not more.
    let mut ack = report_with("backup", 100, &[("master", "backup")]);
    ack["ha"]["switchover_seq"] = json!(2);
    let view = report(&server, "lb-1", ack).await.expect(200);
    assert_eq!(view.body["ha"]["switchover_seq"], 2);
    let mut ahead = report_with("backup", 100, &[]);
    ahead["ha"]["switchover_seq"] = json!(3);
    report(&server, "lb-1", ahead).await.expect(400);

    // Through the CLI.
    let (code, stdout, stderr) = lvsd(&["ha", "switchover", "--server", &server.http, "--cluster", "web", "--instance", "VI_1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("switchover request 3 for VRRP instance VI_1 of cluster web"), "{stdout}");
    let (code, _, stderr) = lvsd(&["ha", "switchover", "--server", &server.http, "--cluster", "web", "--instance", "VI_7"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("VI_7"), "{stderr}");
}
}

both_backends! {
async fn a_viewer_may_see_ha_but_not_switch_over(db: TestDb) {
    use auth_support::{Tokens, call};

    let tokens = Tokens::make(&db);
    let server = TestServer::start_on(&db);
    let (base, client) = (&server.http, &server.client);
    let admin = format!("Bearer {}", tokens.admin);
    let (status, _) = call(client, base, "POST", "/v1/clusters", Some(&admin), Some(&json!({ "name": "web" }))).await;
    assert_eq!(status, 201);
    let seed = json!({ "message": "seed", "spec": nat_example() });
    let (status, _) = call(client, base, "POST", "/v1/clusters/web/revisions", Some(&admin), Some(&seed)).await;
    assert_eq!(status, 201);
    let agent = format!("Bearer {}", tokens.agent);
    let body = report_with("master", 100, &[]);
    let (status, reply) = call(client, base, "PUT", "/v1/clusters/web/directors/lb-1", Some(&agent), Some(&body)).await;
    assert_eq!(status, 200, "{reply}");

    let viewer = format!("Bearer {}", tokens.viewer);
    let (status, view) = call(client, base, "GET", "/v1/clusters/web/ha", Some(&viewer), None).await;
    assert_eq!(status, 200);
    assert_eq!(view["instances"][0]["masters"], json!(["lb-1"]));
    let (status, _) = call(client, base, "POST", "/v1/clusters/web/ha/switchover", Some(&viewer), None).await;
    assert_eq!(status, 403);
    let (status, _) = call(client, base, "POST", "/v1/clusters/web/ha/switchover", Some(&agent), None).await;
    assert_eq!(status, 403, "an agent reports its state; it does not move the others'");
    let denied = auth_support::audit(client, base, &tokens.admin, "action=access.denied").await;
    assert!(
        denied.iter().any(|e| e["actor"] == "vera" && e["target"] == "POST /v1/clusters/web/ha/switchover"),
        "{denied:?}"
    );
    let operator = format!("Bearer {}", tokens.operator);
    let (status, reply) = call(client, base, "POST", "/v1/clusters/web/ha/switchover", Some(&operator), None).await;
    assert_eq!(status, 200, "{reply}");
    let done = auth_support::audit(client, base, &tokens.admin, "action=ha.switchover").await;
    assert_eq!(done[0]["actor"], "otto");
}
}

both_backends! {
async fn a_grpc_report_with_ha_shows_in_the_view(db: TestDb) {
    let server = TestServer::start_on(&db);
    setup(&server).await;
    let channel = tonic::transport::Channel::from_shared(server.grpc.clone()).unwrap().connect().await.unwrap();
    let mut client = pb::lvs_service_client::LvsServiceClient::new(channel);

    let vrrp = |state: pb::VrrpState, vrid: u32| pb::VrrpInstanceReport {
        instance: "VI_1".into(),
        vrid,
        state: state.into(),
        since: "2026-01-01T00:00:00.000Z".into(),
        priority: 150,
        transitions: 1,
    };
    let request = |vrid: u32| pb::ReportDirectorRequest {
        cluster: "web".into(),
        name: "lb-1".into(),
        report: Some(pb::DirectorReport {
            agent_version: "lvsd 0.1.0".into(),
            applied_revision: Some(1),
            report_interval_secs: 30,
            ha: Some(pb::HaReport {
                vrrp: vec![vrrp(pb::VrrpState::Master, vrid)],
                transitions: vec![pb::VrrpTransition {
                    at: "2026-01-01T00:00:00.000Z".into(),
                    instance: "VI_1".into(),
                    from: pb::VrrpState::Backup.into(),
                    to: pb::VrrpState::Master.into(),
                }],
                sync: Some(pb::SyncReport { master: true, backup: false, connections: Some(7) }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    let director = client.report_director(request(51)).await.expect("the report is stored").into_inner();
    let ha = director.ha.expect("the director's HA state");
    assert_eq!(ha.vrrp[0].state(), pb::VrrpState::Master);
    assert_eq!(ha.sync.unwrap().connections, Some(7));

    let view = client.get_ha(pb::GetHaRequest { cluster: "web".into() }).await.unwrap().into_inner();
    assert_eq!(view.instances[0].instance, "VI_1");
    assert_eq!(view.instances[0].masters, ["lb-1"]);
    assert_eq!(view.instances[0].directors[0].priority, 150);
    assert_eq!(audit(&server, "ha.transition").await.len(), 1);

    let err = client.report_director(request(300)).await.expect_err("vrid 300 is refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("ha.vrrp[0].vrid"), "{}", err.message());

    let done = client
        .switchover(pb::StartSwitchoverRequest { cluster: "web".into(), instance: Some("VI_1".into()) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.seq, 1);
    assert_eq!(done.masters, ["lb-1"]);
    let mut watch = client
        .watch_desired(pb::WatchDesiredRequest { cluster: "web".into(), director: "lb-1".into() })
        .await
        .unwrap()
        .into_inner();
    let desired = watch.message().await.unwrap().expect("the desired state");
    assert_eq!(desired.switchover, Some(pb::SwitchoverRequest { seq: 1, instance: Some("VI_1".into()) }));
}
}
