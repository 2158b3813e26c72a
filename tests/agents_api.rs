//! The server side of remote directors, against the real binary: the
//! long-poll of what a director should run, agents' reports, staleness,
//! canary rollouts, zeroing counters, and who may do what.

mod auth_support;
mod common;

use std::time::Duration;

use common::{TestServer, both_backends, nat_example};
use lvsd::apply::{ApplyResult, Cause, Report, Timings};
use lvsd::plan::Summary;
use serde_json::{Value, json};

const SERVICE: &str = "tcp:192.168.31.100:80";

/// The NAT example with the first real server at `weight`: a new revision per weight.
fn spec_with_weight(weight: u32) -> Value {
    let mut spec = nat_example();
    spec["services"][0]["servers"][0]["weight"] = json!(weight);
    spec
}

async fn create_cluster(server: &TestServer, name: &str) {
    server
        .post("/v1/clusters", json!({ "name": name }))
        .await
        .expect(201);
}

/// Commits a spec to `web` and returns the new revision's number.
async fn commit(server: &TestServer, weight: u32) -> i64 {
    let reply = server
        .post(
            "/v1/clusters/web/revisions",
            json!({ "message": format!("weight {weight}"), "spec": spec_with_weight(weight) }),
        )
        .await
        .expect(201);
    reply.body["revision"]["number"]
        .as_i64()
        .expect("a revision number")
}

fn apply_report(revision: i64, result: ApplyResult, errors: &[&str]) -> Report {
    Report {
        revision: Some(revision),
        cause: Cause::Activation,
        result,
        errors: errors.iter().map(ToString::to_string).collect(),
        failed_op: None,
        restore: None,
        summary: Summary::default(),
        blast_radius: None,
        ops: 4,
        plan: vec!["+ tcp 192.168.31.100:80 wrr".to_string()],
        draining: Vec::new(),
        pending: Vec::new(),
        verified_hash: result.is_ok().then(|| "ab".repeat(32)),
        at: "2026-01-01T00:00:00.000Z".to_string(),
        timings: Timings::default(),
    }
}

/// A report of a director that applied `revision` and found its table in sync.
fn applied(revision: i64, interval_secs: u64) -> Value {
    json!({
        "agent_version": "lvsd 0.1.0",
        "applied_revision": revision,
        "applies": [apply_report(revision, ApplyResult::Applied, &[])],
        "drift_check": { "at": "2026-01-01T00:00:01.000Z", "revision": revision, "drift": [], "mode": "restore", "hash": "ab".repeat(32) },
        "report_interval_secs": interval_secs,
    })
}

/// A heartbeat: nothing new since the previous report.
fn heartbeat(revision: i64, interval_secs: u64) -> Value {
    json!({ "agent_version": "lvsd 0.1.0", "applied_revision": revision, "report_interval_secs": interval_secs })
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

async fn desired(server: &TestServer, query: &str) -> common::Reply {
    server
        .get(&format!("/v1/clusters/web/desired?{query}"))
        .await
}

async fn audit(server: &TestServer, action: &str) -> Vec<Value> {
    let reply = server
        .get(&format!("/v1/audit?cluster=web&action={action}&limit=1000"))
        .await
        .expect(200);
    reply.body.as_array().expect("a list").clone()
}

/// Polls `path` until `done` holds for its body (at most 20 s).
async fn eventually(
    server: &TestServer,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..200 {
        let reply = server.get(path).await;
        if reply.status == 200 && done(&reply.body) {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{what}: never happened; last {}",
        server.get(path).await.text
    );
}

both_backends! {
async fn the_long_poll_answers_when_behind_holds_until_a_commit_and_ends_after_wait(db: TestDb) {
    let server = TestServer::start_on(&db);
    create_cluster(&server, "web").await;
    let first = commit(&server, 1).await;

    // Without `after`: the state at once, with the spec to run.
    let now = desired(&server, "director=lb-1").await.expect(200);
    assert_eq!(now.body["revision"], first);
    assert_eq!(now.body["active_revision"], first);
    assert_eq!(now.body["spec"]["services"][0]["servers"][0]["weight"], 1);
    assert_eq!(now.body["settings"]["ownership"], "table");

    // Behind (runs nothing yet): answered at once even with a long wait.
    let behind = desired(&server, "director=lb-1&after=0&wait=50s").await.expect(200);
    assert_eq!(behind.body["revision"], first);

    // Up to date: held until another request commits a new revision.
    let url = server.url(&format!("/v1/clusters/web/desired?director=lb-1&after={first}&wait=50s"));
    let held = tokio::spawn(server.client.get(url).send());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!held.is_finished(), "a director already on the desired revision is answered only on a change");
    let second = commit(&server, 2).await;
    let answer = common::Reply::from_response(held.await.unwrap().unwrap()).await.expect(200);
    assert_eq!(answer.body["revision"], second);
    assert_eq!(answer.body["spec"]["services"][0]["servers"][0]["weight"], 2);

    // Nothing changes: after `wait`, the same revision.
    let same = desired(&server, &format!("director=lb-1&after={second}&wait=300ms")).await.expect(200);
    assert_eq!(same.body["revision"], second);
    assert_eq!(same.body["spec"]["services"][0]["servers"][0]["weight"], 2);

    // Bad input names the parameter.
    let reply = desired(&server, "director=lb-1&after=1&wait=soon").await.expect(400);
    assert_eq!(reply.body["error"]["field"], "wait", "{}", reply.text);
    let reply = desired(&server, "director=lb-1&after=1&wait=5m").await.expect(400);
    assert!(reply.body["error"]["message"].as_str().unwrap().contains("at most 55 s"), "{}", reply.text);
    let reply = desired(&server, "after=1").await.expect(400);
    assert!(reply.text.contains("director"), "{}", reply.text);
    let reply = desired(&server, "director=lb%2F1").await.expect(400);
    assert_eq!(reply.body["error"]["field"], "director", "{}", reply.text);
    server.get("/v1/clusters/nope/desired?director=lb-1").await.expect(404);
}
}

both_backends! {
async fn a_report_shows_in_the_directors_view_and_the_audit_and_goes_stale(db: TestDb) {
    let server = TestServer::start_on(&db);
    create_cluster(&server, "web").await;
    let first = commit(&server, 1).await;

    let mut body = applied(first, 1);
    body["draining"] = json!([{
        "service": SERVICE, "server": "172.25.0.34:80", "active_conns": 3, "inactive_conns": 1,
        "started_at": "2026-01-01T00:00:00.000Z", "deadline": "2026-01-01T00:05:00.000Z", "service_leaves": false,
    }]);
    body["counters"] = json!({ "at": "2026-01-01T00:00:01.000Z", "services": [] });
    let view = report(&server, "lb-1", body).await.expect(200);
    assert_eq!(view.body["mode"], "agent");
    assert_eq!(view.body["applied_revision"], first);
    assert_eq!(view.body["desired_revision"], first);
    assert_eq!(view.body["lag_revisions"], 0);
    assert_eq!(view.body["health"], "ok");
    assert_eq!(view.body["stale"], false);
    assert_eq!(view.body["in_sync"], true);
    assert_eq!(view.body["agent_version"], "lvsd 0.1.0");
    assert_eq!(view.body["report_interval_secs"], 1);
    assert!(view.body["last_heartbeat"].as_str().is_some(), "{}", view.text);
    assert_eq!(view.body["draining"][0]["server"], "172.25.0.34:80");

    let listed = server.get("/v1/clusters/web/directors").await.expect(200);
    assert_eq!(listed.body[0]["name"], "lb-1");
    let counters = server.get("/v1/clusters/web/counters").await.expect(200);
    assert_eq!(counters.body[0]["director"], "lb-1");

    let applies = audit(&server, "director.apply").await;
    assert_eq!(applies.len(), 1, "{applies:?}");
    assert_eq!(applies[0]["detail"]["director"], "lb-1");
    assert_eq!(applies[0]["detail"]["revision"], first);
    assert_eq!(applies[0]["outcome"], "ok");

    // A new revision: the director lags until it reports it.
    let second = commit(&server, 2).await;
    let view = server.get("/v1/clusters/web/directors/lb-1").await.expect(200);
    assert_eq!(view.body["lag_revisions"], second - first);
    assert_eq!(view.body["desired_revision"], second);
    assert_eq!(view.body["health"], "applying");
    assert!(view.body["behind_since"].as_str().is_some(), "{}", view.text);

    // A drift check that found drift is audited and shows.
    let drifted = json!({
        "agent_version": "lvsd 0.1.0",
        "applied_revision": first,
        "drift_check": {
            "at": "2026-01-01T00:00:02.000Z", "revision": first, "mode": "report",
            "drift": [{ "object": "tcp 192.168.31.100:80 -> 172.25.0.31:80", "kind": "differs", "details": ["weight 5, spec 1"] }],
        },
        "report_interval_secs": 1,
    });
    report(&server, "lb-1", drifted).await.expect(200);
    let drifts = audit(&server, "director.drift").await;
    assert_eq!(drifts.len(), 1, "{drifts:?}");
    assert_eq!(drifts[0]["detail"]["director"], "lb-1");

    // A report naming a revision the cluster does not have: refused, audited, nothing stored.
    let mut bad = applied(99, 1);
    bad["applies"] = json!([]);
    let reply = report(&server, "lb-1", bad).await.expect(400);
    assert_eq!(reply.body["error"]["field"], "applied_revision", "{}", reply.text);
    let reply = report(&server, "lb-1", json!({ "agent_version": "x", "report_interval_secs": 0 })).await.expect(400);
    assert_eq!(reply.body["error"]["field"], "report_interval_secs", "{}", reply.text);
    let reply = report(&server, "lb%2F1", heartbeat(first, 1)).await.expect(400);
    assert_eq!(reply.body["error"]["field"], "name", "{}", reply.text);
    let view = server.get("/v1/clusters/web/directors/lb-1").await.expect(200);
    assert_eq!(view.body["applied_revision"], first, "a refused report changed the director");
    let refused = audit(&server, "director.report").await;
    assert!(refused.iter().any(|e| e["outcome"] == "refused" && e["detail"]["field"] == "applied_revision"), "{refused:?}");

    // No report for three intervals of 1 s: stale.
    let stale = eventually(&server, "/v1/clusters/web/directors/lb-1", "lb-1 goes stale", |v| v["stale"] == true).await;
    assert_eq!(stale["health"], "stale");
    assert!(stale["heartbeat_age_secs"].as_u64().unwrap() >= 3, "{stale}");
    // A heartbeat brings it back.
    let view = report(&server, "lb-1", heartbeat(first, 1)).await.expect(200);
    assert_eq!(view.body["stale"], false);
}
}

both_backends! {
async fn a_canary_rollout_holds_the_others_back_until_the_soak_ends_and_halts_on_a_refusal(db: TestDb) {
    let mut server = TestServer::start_on(&db);
    create_cluster(&server, "web").await;
    let first = commit(&server, 1).await;
    let settings = json!({ "canaries": ["canary-1"], "canary_soak_secs": 1 });
    server.call("PUT", "/v1/clusters/web/settings", Some(settings), None).await.expect(200);
    report(&server, "canary-1", applied(first, 30)).await.expect(200);
    report(&server, "lb-2", applied(first, 30)).await.expect(200);

    // R2: the canary gets it, the other keeps R1.
    let second = commit(&server, 2).await;
    assert_eq!(desired(&server, "director=canary-1").await.expect(200).body["revision"], second);
    let held_back = desired(&server, "director=lb-2").await.expect(200);
    assert_eq!(held_back.body["revision"], first);
    assert_eq!(held_back.body["active_revision"], second);
    assert_eq!(held_back.body["spec"]["services"][0]["servers"][0]["weight"], 1);
    let rollout = server.get("/v1/clusters/web/rollout").await.expect(200);
    assert_eq!(rollout.body["state"], "canary", "{}", rollout.text);
    assert_eq!(rollout.body["released_revision"], first);
    assert_eq!(rollout.body["canaries"][0]["status"], "waiting");
    let view = server.get("/v1/clusters/web/directors/lb-2").await.expect(200);
    assert_eq!(view.body["desired_revision"], first);
    assert_eq!(view.body["health"], "ok", "on its desired revision: {}", view.text);

    // lb-2 waits on R1; the release must wake it though it reports nothing.
    let url = server.url(&format!("/v1/clusters/web/desired?director=lb-2&after={first}&wait=50s"));
    let held = tokio::spawn(server.client.get(url).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!held.is_finished(), "lb-2 is held back while the canary has not run R2");

    // The canary runs R2 in sync; after the 1 s soak, R2 is released.
    report(&server, "canary-1", applied(second, 30)).await.expect(200);
    let answer = common::Reply::from_response(held.await.unwrap().unwrap()).await.expect(200);
    assert_eq!(answer.body["revision"], second);
    let rollout = server.get("/v1/clusters/web/rollout").await.expect(200);
    assert_eq!(rollout.body["state"], "released", "{}", rollout.text);
    assert_eq!(rollout.body["released_revision"], second);
    let releases = audit(&server, "rollout.release").await;
    assert_eq!(releases[0]["target"], second.to_string(), "{releases:?}");
    assert_eq!(releases[0]["actor"], "lvsd");

    // R3: the canary refuses it; the rollout halts and lb-2 stays on R2.
    let third = commit(&server, 3).await;
    let refused = json!({
        "agent_version": "lvsd 0.1.0",
        "applied_revision": second,
        "blocked_revision": third,
        "applies": [apply_report(third, ApplyResult::Refused, &["the plan removes 100% of the real servers"])],
        "report_interval_secs": 30,
    });
    report(&server, "canary-1", refused).await.expect(200);
    let rollout = server.get("/v1/clusters/web/rollout").await.expect(200);
    assert_eq!(rollout.body["state"], "halted", "{}", rollout.text);
    assert!(rollout.body["reason"].as_str().unwrap().contains("canary-1"), "{}", rollout.text);
    assert_eq!(rollout.body["canaries"][0]["status"], "failed");
    let halts = audit(&server, "rollout.halt").await;
    assert_eq!(halts.len(), 1, "{halts:?}");
    assert_eq!(desired(&server, "director=lb-2").await.expect(200).body["revision"], second);
    let canary = server.get("/v1/clusters/web/directors/canary-1").await.expect(200);
    assert_eq!(canary.body["health"], "refused");

    // The halt survives a restart.
    server.terminate();
    let server = TestServer::start_on(&db);
    let rollout = server.get("/v1/clusters/web/rollout").await.expect(200);
    assert_eq!(rollout.body["state"], "halted", "{}", rollout.text);
    assert_eq!(desired(&server, "director=lb-2").await.expect(200).body["revision"], second);

    // An operator releases it anyway: everyone gets R3.
    let released = server.post("/v1/clusters/web/rollout/release", json!({})).await.expect(200);
    assert_eq!(released.body["state"], "released");
    assert_eq!(desired(&server, "director=lb-2").await.expect(200).body["revision"], third);
    let releases = audit(&server, "rollout.release").await;
    assert_eq!(releases[0]["actor"], "anonymous", "{releases:?}");
    assert_eq!(releases[0]["target"], third.to_string());
}
}

both_backends! {
async fn a_zeroing_request_reaches_agents_survives_a_restart_and_is_acknowledged(db: TestDb) {
    let mut server = TestServer::start_on(&db);
    create_cluster(&server, "web").await;
    let first = commit(&server, 1).await;
    assert!(desired(&server, "director=lb-1").await.expect(200).body.get("zero").is_none());

    // A director waiting on its revision is woken by the request.
    let url = server.url(&format!("/v1/clusters/web/desired?director=lb-1&after={first}&wait=50s"));
    let held = tokio::spawn(server.client.get(url).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!held.is_finished());
    let zero = server.post("/v1/clusters/web/zero", json!({ "service": SERVICE })).await.expect(200);
    assert_eq!(zero.body["seq"], 1);
    let answer = common::Reply::from_response(held.await.unwrap().unwrap()).await.expect(200);
    assert_eq!(answer.body["revision"], first);
    assert_eq!(answer.body["zero"], json!({ "seq": 1, "service": SERVICE }));

    // Without a body: every service of the cluster.
    let all = server.call("POST", "/v1/clusters/web/zero", None, None).await.expect(200);
    assert_eq!(all.body["seq"], 2);
    assert!(all.body.get("service").is_none(), "{}", all.text);
    // A JSON null is no body too, as the OpenAPI document allows.
    let null = server.call("POST", "/v1/clusters/web/zero", Some(Value::Null), None).await.expect(200);
    assert_eq!(null.body["seq"], 3);
    assert!(null.body.get("service").is_none(), "{}", null.text);
    let zeroes = audit(&server, "cluster.zero").await;
    assert_eq!(zeroes.len(), 3, "{zeroes:?}");

    // Bad requests name the service and leave the sequence alone.
    let reply = server.post("/v1/clusters/web/zero", json!({ "service": "tcp:10.9.9.9:80" })).await.expect(400);
    assert_eq!(reply.body["error"]["field"], "service", "{}", reply.text);
    let reply = server.post("/v1/clusters/web/zero", json!({ "service": "tcp:nowhere" })).await.expect(400);
    assert_eq!(reply.body["error"]["field"], "service", "{}", reply.text);

    server.terminate();
    let server = TestServer::start_on(&db);
    let now = desired(&server, "director=lb-1").await.expect(200);
    assert_eq!(now.body["zero"], json!({ "seq": 3 }));

    let mut ack = applied(first, 30);
    ack["zeroed_seq"] = json!(3);
    let view = report(&server, "lb-1", ack).await.expect(200);
    assert_eq!(view.body["zeroed_seq"], 3);
    let mut ahead = heartbeat(first, 30);
    ahead["zeroed_seq"] = json!(4);
    let reply = report(&server, "lb-1", ahead).await.expect(400);
    assert_eq!(reply.body["error"]["field"], "zeroed_seq", "{}", reply.text);
}
}

both_backends! {
async fn an_agent_follows_and_reports_for_its_cluster_only(db: TestDb) {
    use auth_support::{Tokens, call};

    let tokens = Tokens::make(&db);
    let server = TestServer::start_on(&db);
    let admin = format!("Bearer {}", tokens.admin);
    let (base, client) = (&server.http, &server.client);
    let (status, _) = call(client, base, "POST", "/v1/clusters", Some(&admin), Some(&json!({ "name": "web" }))).await;
    assert_eq!(status, 201);
    let seed = json!({ "message": "seed", "spec": nat_example() });
    let (status, _) = call(client, base, "POST", "/v1/clusters/web/revisions", Some(&admin), Some(&seed)).await;
    assert_eq!(status, 201);

    let agent = format!("Bearer {}", tokens.agent);
    let (status, body) = call(client, base, "GET", "/v1/clusters/web/desired?director=lb-1", Some(&agent), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revision"], 1);
    let (status, body) =
        call(client, base, "PUT", "/v1/clusters/web/directors/lb-1", Some(&agent), Some(&applied(1, 30))).await;
    assert_eq!(status, 200, "{body}");
    let entries = auth_support::audit(client, base, &tokens.admin, "action=director.apply").await;
    assert_eq!(entries[0]["actor"], "agent-web", "the agent's token names who reported");

    // The agent of cluster db may neither report for web nor follow it.
    let stray = format!("Bearer {}", tokens.stray_agent);
    let (status, body) =
        call(client, base, "PUT", "/v1/clusters/web/directors/lb-1", Some(&stray), Some(&applied(1, 30))).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("cluster db only"), "{body}");
    let (status, _) = call(client, base, "GET", "/v1/clusters/web/desired?director=lb-1", Some(&stray), None).await;
    assert_eq!(status, 403);
    let denied = auth_support::audit(client, base, &tokens.admin, "action=access.denied").await;
    assert!(
        denied.iter().any(|e| e["actor"] == "agent-db" && e["target"] == "PUT /v1/clusters/web/directors/lb-1"),
        "{denied:?}"
    );
    // Nor may a viewer report, nor an agent zero counters or release a rollout.
    let viewer = format!("Bearer {}", tokens.viewer);
    let (status, _) =
        call(client, base, "PUT", "/v1/clusters/web/directors/lb-1", Some(&viewer), Some(&applied(1, 30))).await;
    assert_eq!(status, 403);
    let (status, _) = call(client, base, "POST", "/v1/clusters/web/zero", Some(&agent), Some(&json!({}))).await;
    assert_eq!(status, 403);
    let (status, _) = call(client, base, "POST", "/v1/clusters/web/rollout/release", Some(&agent), None).await;
    assert_eq!(status, 403);
}
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

both_backends! {
async fn lvsd_zero_with_a_cluster_goes_through_the_server(db: TestDb) {
    let server = TestServer::start_on(&db);
    create_cluster(&server, "web").await;
    commit(&server, 1).await;

    let (code, stdout, stderr) = lvsd(&["zero", "--server", &server.http, "--cluster", "web", "-t", "192.168.31.100:80"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("zeroing request 1 for service tcp:192.168.31.100:80 of cluster web"), "{stdout}");
    let now = desired(&server, "director=lb-1").await.expect(200);
    assert_eq!(now.body["zero"], json!({ "seq": 1, "service": SERVICE }));

    let (code, stdout, _) = lvsd(&["zero", "--server", &server.http, "--cluster", "web", "--output", "json"]);
    assert_eq!(code, Some(0));
    let reply: Value = serde_json::from_str(&stdout).expect("the server's JSON");
    assert_eq!(reply["seq"], 2);

    // A service the cluster does not have: refused by the server, named.
    let (code, _, stderr) = lvsd(&["zero", "--server", &server.http, "--cluster", "web", "-u", "192.168.31.100:53"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("udp:192.168.31.100:53"), "{stderr}");
    assert_eq!(desired(&server, "director=lb-1").await.expect(200).body["zero"]["seq"], 2);
}
}

both_backends! {
async fn the_local_director_follows_the_rollout_zeroes_its_table_and_counts_as_fresh(db: TestDb) {
    let args = ["--apply-local", "--table", "memory", "--director", "d1", "--reconcile-interval", "300ms"];
    let server = TestServer::start_with(&db, &args);
    create_cluster(&server, "web").await;
    let first = commit(&server, 1).await;
    let local = "/v1/clusters/web/directors/d1";
    let view = eventually(&server, local, "d1 applies R1", |v| v["applied_revision"] == first).await;
    assert_eq!(view["mode"], "local");
    assert_eq!(view["stale"], false, "the local director reports no heartbeat and is fresh while it runs");
    assert_eq!(view["health"], "ok");

    // d1 is no canary: it keeps R1 while canary c1 has not run R2.
    let settings = json!({ "canaries": ["c1"], "canary_soak_secs": 1 });
    server.call("PUT", "/v1/clusters/web/settings", Some(settings), None).await.expect(200);
    report(&server, "c1", applied(first, 30)).await.expect(200);
    let second = commit(&server, 2).await;
    let view = server.get(local).await.expect(200);
    assert_eq!(view.body["desired_revision"], first, "{}", view.text);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let view = server.get(local).await.expect(200);
    assert_eq!(view.body["applied_revision"], first, "held back: {}", view.text);

    // The canary runs R2; after the soak d1 applies it on its own.
    report(&server, "c1", applied(second, 30)).await.expect(200);
    eventually(&server, local, "d1 applies R2 once released", |v| v["applied_revision"] == second).await;

    let zero = server.post("/v1/clusters/web/zero", json!({ "service": SERVICE })).await.expect(200);
    assert_eq!(zero.body["zeroed_by"], "d1", "{}", zero.text);
    // An agent may not report for the server's own director.
    let reply = report(&server, "d1", applied(second, 30)).await.expect(409);
    assert!(reply.body["error"]["message"].as_str().unwrap().contains("this server's own"), "{}", reply.text);
}
}

both_backends! {
async fn canaries_set_later_hold_directors_on_the_last_revision_released_without_them(db: TestDb) {
    let server = TestServer::start_on(&db);
    create_cluster(&server, "web").await;
    commit(&server, 1).await;
    server.get("/v1/clusters/web/rollout").await.expect(200);
    commit(&server, 2).await;
    let third = commit(&server, 3).await;

    let settings = json!({ "canaries": ["c1"], "canary_soak_secs": 60 });
    server.call("PUT", "/v1/clusters/web/settings", Some(settings), None).await.expect(200);
    let fourth = commit(&server, 4).await;
    assert_eq!(desired(&server, "director=c1").await.expect(200).body["revision"], fourth);
    assert_eq!(desired(&server, "director=lb-2").await.expect(200).body["revision"], third);
    let starts = audit(&server, "rollout.start").await;
    assert_eq!(starts.len(), 1, "{starts:?}");
    assert_eq!(starts[0]["target"], fourth.to_string());
}
}

both_backends! {
async fn host_errors_show_in_the_directors_view_until_a_report_without_them(db: TestDb) {
    let server = TestServer::start_on(&db);
    create_cluster(&server, "web").await;
    let revision = commit(&server, 1).await;
    let mut failing = applied(revision, 10);
    failing["host_errors"] = json!(["host settings (director): state file: /var/lib/lvsd/agent/host/director.json: not a state file"]);
    report(&server, "d1", failing).await.expect(200);
    let view = server.get("/v1/clusters/web/directors/d1").await.expect(200).body;
    assert_eq!(view["applied_revision"], revision, "the table stays applied: {view}");
    assert!(view["host_errors"][0].as_str().unwrap().contains("director.json"), "{view}");

    report(&server, "d1", heartbeat(revision, 10)).await.expect(200);
    let view = server.get("/v1/clusters/web/directors/d1").await.expect(200).body;
    assert!(view.get("host_errors").is_none(), "fixed host settings clear the errors: {view}");
}
}

both_backends! {
async fn an_agents_health_changes_are_audited_and_a_bad_one_is_refused_by_name(db: TestDb) {
    let server = TestServer::start_on(&db);
    create_cluster(&server, "web").await;
    let revision = commit(&server, 1).await;
    let mut body = heartbeat(revision, 10);
    body["health_changes"] = json!([{"at": "2026-01-01T00:00:02.000Z", "service": SERVICE, "server": "172.25.0.31:80",
        "healthy": false, "reason": "connect: connection refused"}]);
    report(&server, "d1", body.clone()).await.expect(200);
    let downs = audit(&server, "health.down").await;
    assert_eq!(downs.len(), 1, "{downs:?}");
    assert_eq!(downs[0]["detail"]["director"], "d1");
    assert_eq!(downs[0]["detail"]["server"], "172.25.0.31:80");
    assert_eq!(downs[0]["detail"]["reason"], "connect: connection refused");

    body["health_changes"][0]["server"] = json!("not-an-address");
    let refused = report(&server, "d1", body).await.expect(400);
    assert!(refused.text.contains("health_changes[0].server"), "{}", refused.text);
}
}
