//! `lvsd serve --apply-local` end to end over REST, on an in-memory table
//! (the build hosts have no IPVS; the VM tests `vm/tests/3*.sh` do the same
//! against a real kernel with ipvsadm as witness).

mod common;

use std::time::{Duration, Instant};

use common::{Reply, TestServer, nat_example};
use serde_json::{Value, json};

const DIRECTOR: &str = "/v1/clusters/web/directors/d1";

fn local_server(dir: &tempfile::TempDir, extra: &[&str]) -> TestServer {
    let db = dir.path().join("lvsd.db");
    let mut args = vec!["--apply-local", "--table", "memory", "--director", "d1"];
    if !extra.contains(&"--reconcile-interval") {
        args.extend(["--reconcile-interval", "300ms"]);
    }
    args.extend_from_slice(extra);
    TestServer::start_with(&db, &args)
}

/// Polls `path` until `done` holds for its body (10 s at most).
async fn wait_for(
    server: &TestServer,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let reply = server.get(path).await;
        if reply.status == 200 && done(&reply.body) {
            return reply.body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "waited 10 s for {what}; last: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn applied(server: &TestServer, revision: i64) -> Value {
    wait_for(
        server,
        DIRECTOR,
        &format!("revision {revision} applied"),
        |d| d["applied_revision"] == revision && d["result"] == "applied",
    )
    .await
}

fn with_weights(weights: [u64; 3]) -> Value {
    let mut spec = nat_example();
    for (i, w) in weights.iter().enumerate() {
        spec["services"][0]["servers"][i]["weight"] = json!(w);
    }
    spec
}

async fn commit(server: &TestServer, body: Value) -> Reply {
    server.post("/v1/clusters/web/revisions", body).await
}

#[tokio::test]
async fn commits_are_applied_verified_and_previewed() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(&dir, &[]);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    commit(&server, json!({"message": "nat", "spec": nat_example()}))
        .await
        .expect(201);

    let director = applied(&server, 1).await;
    assert_eq!(director["mode"], "local");
    assert_eq!(director["in_sync"], true);
    assert_eq!(director["verified_hash"].as_str().unwrap().len(), 64);
    let report = &director["last_report"];
    assert_eq!(report["cause"], "activation");
    assert_eq!(
        report["ops"], 4,
        "one service, three real servers: {report}"
    );
    assert_eq!(report["plan"][0], "+ service tcp 192.168.31.100:80 wrr");
    assert!(
        report["timings"]["commit_to_kernel_ms"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    let listed = server.get("/v1/clusters/web/directors").await.expect(200);
    assert_eq!(listed.body[0]["name"], "d1");

    // A revision committed without activation: its plan on this director.
    commit(
        &server,
        json!({"message": "weights", "spec": with_weights([3, 2, 1]), "activate": false}),
    )
    .await
    .expect(201);
    let preview = server
        .get("/v1/clusters/web/revisions/2/plan")
        .await
        .expect(200);
    assert_eq!(preview.body["against"], "director");
    assert_eq!(preview.body["director"], "d1");
    assert_eq!(
        preview.body["changes"],
        json!([
            "~ real server 172.25.0.31:80 of tcp 192.168.31.100:80: weight 1 -> 3",
            "~ real server 172.25.0.33:80 of tcp 192.168.31.100:80: weight 3 -> 1",
        ])
    );
    assert_eq!(
        preview.body["ops"][0],
        "editing real server 172.25.0.31:80 of tcp 192.168.31.100:80"
    );
    assert_eq!(preview.body["summary"]["servers_changed"], 2);
    // Previewing changes nothing.
    assert_eq!(server.get(DIRECTOR).await.body["applied_revision"], 1);

    server
        .post("/v1/clusters/web/revisions/2/activate", json!({}))
        .await
        .expect(200);
    let director = applied(&server, 2).await;
    assert_eq!(director["last_report"]["summary"]["servers_changed"], 2);
    let audit = server
        .get("/v1/audit?action=director.apply")
        .await
        .expect(200);
    assert_eq!(audit.body.as_array().unwrap().len(), 2);
    assert_eq!(audit.body[0]["actor"], "director:d1");
    assert_eq!(audit.body[0]["detail"]["result"], "applied");
}

#[tokio::test]
async fn without_apply_local_the_plan_is_against_an_empty_table() {
    let server = TestServer::start();
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    commit(&server, json!({"message": "nat", "spec": nat_example()}))
        .await
        .expect(201);
    let preview = server
        .get("/v1/clusters/web/revisions/1/plan")
        .await
        .expect(200);
    assert_eq!(preview.body["against"], "empty_table");
    assert_eq!(preview.body["changes"].as_array().unwrap().len(), 4);
    assert_eq!(
        server
            .get("/v1/clusters/web/directors")
            .await
            .expect(200)
            .body,
        json!([])
    );
    let reply = server
        .post("/v1/clusters/web/directors/d1/apply", json!({}))
        .await
        .expect(409);
    assert!(
        reply.text.contains("not this server's own"),
        "{}",
        reply.text
    );
    server
        .get("/v1/clusters/web/revisions/9/plan")
        .await
        .expect(404);
}

#[tokio::test]
async fn removals_above_the_limit_are_refused_until_forced() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(&dir, &["--removal-limit", "0.5"]);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    commit(&server, json!({"message": "nat", "spec": nat_example()}))
        .await
        .expect(201);
    applied(&server, 1).await;

    commit(
        &server,
        json!({"message": "oops", "spec": {"services": []}}),
    )
    .await
    .expect(201);
    let director = wait_for(&server, DIRECTOR, "the refusal", |d| {
        d["result"] == "refused"
    })
    .await;
    assert_eq!(director["applied_revision"], 1);
    assert_eq!(director["blocked_revision"], 2);
    assert_eq!(director["in_sync"], false);
    let why = director["errors"][0].as_str().unwrap();
    assert!(
        why.contains("takes 1 of 1 services (100%)") && why.contains("force the apply"),
        "{why}"
    );
    let refused = server.get("/v1/audit?action=director.apply").await.body;
    assert_eq!(refused[0]["outcome"], "refused");

    let preview = server
        .get("/v1/clusters/web/revisions/2/plan")
        .await
        .expect(200);
    assert!(
        preview.body["refused"]
            .as_str()
            .unwrap()
            .contains("refused unless forced")
    );

    let forced = server
        .post(&format!("{DIRECTOR}/apply"), json!({"force": true}))
        .await
        .expect(200);
    assert_eq!(forced.body["result"], "applied");
    assert_eq!(forced.body["cause"], "forced");
    let director = applied(&server, 2).await;
    assert_eq!(director["blocked_revision"], Value::Null);
}

#[tokio::test]
async fn an_unconfirmed_commit_rolls_back_by_itself_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = local_server(&dir, &[]);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    // Nothing to fall back to yet.
    let refused = commit(
        &server,
        json!({"message": "first", "spec": nat_example(), "confirm_within": "1m"}),
    )
    .await
    .expect(400);
    assert_eq!(refused.body["error"]["field"], "confirm_within");
    commit(&server, json!({"message": "nat", "spec": nat_example()}))
        .await
        .expect(201);
    applied(&server, 1).await;

    // Confirmed in time: it stays.
    let pending = commit(
        &server,
        json!({"message": "w", "spec": with_weights([1, 1, 1]), "confirm_within": "1m"}),
    )
    .await;
    let pending = pending.expect(201);
    assert_eq!(pending.body["confirm"]["revision"], 2);
    assert_eq!(pending.body["confirm"]["fallback"], 1);
    let cluster = server.get("/v1/clusters/web").await.expect(200);
    assert_eq!(cluster.body["pending_confirm"]["revision"], 2);
    let confirmed = server
        .post("/v1/clusters/web/confirm", json!({}))
        .await
        .expect(200);
    assert_eq!(confirmed.body["revision"], 2);
    server
        .post("/v1/clusters/web/confirm", json!({}))
        .await
        .expect(409);
    assert_eq!(
        server
            .get("/v1/clusters/web")
            .await
            .body
            .get("pending_confirm"),
        None
    );

    // Not confirmed: after the deadline, revision 4 brings revision 2 back.
    commit(
        &server,
        json!({"message": "bad", "spec": with_weights([9, 9, 9]), "confirm_within": "1s"}),
    )
    .await
    .expect(201);
    let cluster = wait_for(&server, "/v1/clusters/web", "the automatic rollback", |c| {
        c["active_revision"] == 4
    })
    .await;
    assert_eq!(cluster.get("pending_confirm"), None);
    let rollback = server.get("/v1/clusters/web/revisions/4").await.expect(200);
    assert_eq!(rollback.body["kind"], "rollback");
    assert_eq!(rollback.body["rollback_of"], 2);
    assert_eq!(rollback.body["author"], "lvsd");
    assert!(
        rollback.body["message"]
            .as_str()
            .unwrap()
            .contains("revision 3 was not confirmed")
    );
    let expired = server
        .get("/v1/audit?action=revision.confirm.expired")
        .await
        .body;
    assert_eq!(
        expired[0]["detail"]["reason"],
        "no confirmation arrived before the deadline"
    );
    assert_eq!(expired[0]["actor"], "lvsd");
    let director = applied(&server, 4).await;
    assert_eq!(director["last_report"]["summary"]["servers_changed"], 3);

    // The deadline passes while the server is down: honoured on start.
    commit(
        &server,
        json!({"message": "bad again", "spec": with_weights([7, 7, 7]), "confirm_within": "1s"}),
    )
    .await
    .expect(201);
    server.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let server = local_server(&dir, &[]);
    let cluster = wait_for(
        &server,
        "/v1/clusters/web",
        "the rollback after restart",
        |c| c["active_revision"] == 6,
    )
    .await;
    assert_eq!(cluster.get("pending_confirm"), None);
    assert_eq!(
        server.get("/v1/clusters/web/revisions/6").await.body["rollback_of"],
        4
    );
}

#[tokio::test]
async fn settings_round_trip_and_are_checked() {
    let server = TestServer::start();
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    let defaults = server.get("/v1/clusters/web/settings").await.expect(200);
    assert_eq!(
        defaults.body["settings"],
        json!({"ownership": "table", "drain": false, "drain_timeout_secs": 300})
    );
    let wanted = json!({"ownership": "created", "drain": true, "drain_services": {"udp:192.168.31.100:53": false},
                        "drain_timeout_secs": 60, "removal_limit": 0.25});
    let put = server
        .call(
            "PUT",
            "/v1/clusters/web/settings",
            Some(wanted.clone()),
            None,
        )
        .await
        .expect(200);
    assert_eq!(put.body["settings"], wanted);
    assert_eq!(
        server.get("/v1/clusters/web/settings").await.body["settings"],
        wanted
    );
    for (bad, field) in [
        (json!({"removal_limit": 2}), "removal_limit"),
        (json!({"drain_timeout_secs": 0}), "drain_timeout_secs"),
        (
            json!({"drain_services": {"nope": true}}),
            "drain_services.nope",
        ),
        (json!({"ownership": "mine"}), "ownership"),
    ] {
        let reply = server
            .call("PUT", "/v1/clusters/web/settings", Some(bad), None)
            .await
            .expect(400);
        assert_eq!(reply.body["error"]["field"], field, "{}", reply.text);
    }
}

#[tokio::test]
async fn drains_are_visible_in_the_api_until_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(&dir, &["--reconcile-interval", "5s"]);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    let drain = json!({"drain": true, "drain_timeout_secs": 120});
    server
        .call("PUT", "/v1/clusters/web/settings", Some(drain), None)
        .await
        .expect(200);
    commit(&server, json!({"message": "nat", "spec": nat_example()}))
        .await
        .expect(201);
    applied(&server, 1).await;

    let mut two = nat_example();
    two["services"][0]["servers"].as_array_mut().unwrap().pop();
    commit(&server, json!({"message": "rs3 leaves", "spec": two}))
        .await
        .expect(201);
    let director = applied(&server, 2).await;
    let draining = &director["draining"][0];
    assert_eq!(draining["service"], "tcp:192.168.31.100:80");
    assert_eq!(draining["server"], "172.25.0.33:80");
    assert_eq!(draining["service_leaves"], false);
    let (started, deadline) = (
        draining["started_at"].as_str().unwrap(),
        draining["deadline"].as_str().unwrap(),
    );
    let started = humantime::parse_rfc3339(started).unwrap();
    let deadline = humantime::parse_rfc3339(deadline).unwrap();
    assert_eq!(
        deadline.duration_since(started).unwrap(),
        Duration::from_secs(120)
    );
    assert!(
        director["last_report"]["plan"][0]
            .as_str()
            .unwrap()
            .contains("weight 3 -> 0, draining")
    );

    // No connection left on it (an in-memory table has none): it goes at the next drain check.
    let director = wait_for(&server, DIRECTOR, "the drain to end", |d| {
        d["draining"] == json!([])
    })
    .await;
    assert_eq!(director["last_report"]["cause"], "drain");
    assert_eq!(
        director["last_report"]["plan"][0],
        "- real server 172.25.0.33:80 from tcp 192.168.31.100:80"
    );
}

/// Whether this host's kernel could have IPVS (loaded, built in, or as a module).
fn host_may_have_ipvs() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let module_dir = format!("/lib/modules/{}/kernel/net/netfilter/ipvs", release.trim());
    ["/proc/net/ip_vs", "/sys/module/ip_vs", &module_dir]
        .iter()
        .any(|p| std::path::Path::new(p).exists())
}

#[tokio::test]
async fn without_ipvs_applying_is_off_and_the_api_still_serves() {
    if host_may_have_ipvs() {
        // This test must not apply to a real kernel; the VM tests do that.
        eprintln!("skipped: this host's kernel may have IPVS");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(
        dir.path().join("lvsd.db"),
        &["--apply-local", "--director", "d1"],
    );
    let said = server.banner.last().unwrap();
    assert!(
        said.starts_with("lvsd: applying to the kernel is off: IPVS is not available"),
        "{said}"
    );
    assert!(said.ends_with("serving the API only"), "{said}");
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    commit(&server, json!({"message": "nat", "spec": nat_example()}))
        .await
        .expect(201);
    let preview = server
        .get("/v1/clusters/web/revisions/1/plan")
        .await
        .expect(200);
    assert_eq!(
        preview.body["against"], "empty_table",
        "no director: planned against an empty table"
    );
    assert_eq!(
        server
            .get("/v1/clusters/web/directors")
            .await
            .expect(200)
            .body,
        json!([])
    );
}

#[tokio::test]
async fn a_settings_change_retries_a_refused_revision() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(&dir, &["--removal-limit", "0.5"]);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    commit(&server, json!({"message": "nat", "spec": nat_example()}))
        .await
        .expect(201);
    applied(&server, 1).await;
    commit(
        &server,
        json!({"message": "empty", "spec": {"services": []}}),
    )
    .await
    .expect(201);
    wait_for(&server, DIRECTOR, "the refusal", |d| {
        d["blocked_revision"] == 2
    })
    .await;
    // The operator allows it: no limit for this cluster.
    let settings = json!({"removal_limit": 1.0});
    server
        .call("PUT", "/v1/clusters/web/settings", Some(settings), None)
        .await
        .expect(200);
    let director = applied(&server, 2).await;
    assert_eq!(director["blocked_revision"], Value::Null);
    assert_eq!(director["last_report"]["summary"]["services_removed"], 1);
}

/// Runs the `lvsd` client against `server` for cluster web.
fn lvsd(server: &TestServer, args: &[&str]) -> (i32, String, String) {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(args)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env("LVSD_SERVER", &server.http)
        .env("LVSD_CLUSTER", "web")
        .env_remove("LVSD_TOKEN")
        .env_remove("LVSD_CONFIG")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[tokio::test]
async fn counters_and_connections_of_the_local_director_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server(&dir, &["--counters-interval", "200ms"]);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);

    let (code, _, stderr) = lvsd(&server, &["list", "--stats"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("web has no active revision yet"),
        "{stderr}"
    );

    commit(
        &server,
        json!({"message": "nat", "spec": with_weights([5, 0, 7])}),
    )
    .await
    .expect(201);
    applied(&server, 1).await;
    let counters = wait_for(
        &server,
        "/v1/clusters/web/counters",
        "counters of revision 1",
        |c| {
            c[0]["counters"]["services"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
        },
    )
    .await;
    assert_eq!(counters.as_array().unwrap().len(), 1, "{counters}");
    assert_eq!(counters[0]["director"], "d1");
    let service = &counters[0]["counters"]["services"][0];
    assert_eq!(service["service"], "tcp:192.168.31.100:80");
    let weights: Vec<(String, u64)> = service["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["server"].as_str().unwrap().to_string(),
                s["weight"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        weights,
        [
            ("172.25.0.31:80".to_string(), 5),
            ("172.25.0.32:80".to_string(), 0),
            ("172.25.0.33:80".to_string(), 7)
        ]
    );
    assert_eq!(
        service["traffic"]["conns"], 0,
        "an in-memory table carries no traffic"
    );

    // The CLI lays them out as ipvsadm -Ln --stats / --rate does.
    let (code, stdout, stderr) = lvsd(&server, &["list", "--stats"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("Director d1 of web, counters at "),
        "{stdout}"
    );
    assert!(
        lines[1].contains("Conns   InPkts  OutPkts  InBytes OutBytes"),
        "{stdout}"
    );
    assert!(lines[3].starts_with("TCP  192.168.31.100:80"), "{stdout}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("  -> 172.25.0.3"))
            .count(),
        3,
        "{stdout}"
    );
    let (code, stdout, _) = lvsd(&server, &["list", "--rate", "--director", "d1"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("CPS    InPPS   OutPPS    InBPS   OutBPS"),
        "{stdout}"
    );
    let (code, _, stderr) = lvsd(&server, &["list", "--stats", "--director", "d9"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("director d9 has reported no counters for web"),
        "{stderr}"
    );

    // Connection entries: none in an in-memory table; an unknown director is not found.
    let conns = server
        .get("/v1/clusters/web/directors/d1/connections")
        .await
        .expect(200);
    assert_eq!(conns.body, json!([]));
    server
        .get("/v1/clusters/web/directors/d9/connections")
        .await
        .expect(404);
    let (code, stdout, stderr) = lvsd(&server, &["list", "-c"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "Director d1:\nIPVS connection entries\npro expire state       source             virtual            destination\n"
    );

    // A deleted cluster's counters go with it.
    server
        .call("DELETE", "/v1/clusters/web?force=true", None, None)
        .await
        .expect(204);
    server.get("/v1/clusters/web/counters").await.expect(404);
}
