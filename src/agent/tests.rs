//! The agent's director loop on an in-memory table, fed what a server would
//! send: applies, refusals, the cache after a "reboot", zeroing, reports.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::cache::Cache;
use super::link::FromServer;
use super::run::{Agent, Options};
use crate::apply::{ApplyResult, DriftMode};
use crate::contract::ClusterSettings;
use crate::contract::agent::{Desired, DirectorReport, ZeroRequest};
use crate::ipvs::{IpvsTable, MemoryTable};
use crate::model::SpecDoc;

fn options() -> Options {
    Options {
        cluster: "web".into(),
        name: "d1".into(),
        report_interval: Duration::from_secs(10),
        reconcile_interval: Duration::from_secs(10),
        drift: DriftMode::Restore,
        wait: Duration::from_secs(30),
        removal_limit: Some(0.5),
        host_state_dir: None,
    }
}

fn agent_on(table: MemoryTable, state_dir: &Path) -> Agent {
    Agent::new(options(), Box::new(table), Cache::new(state_dir))
}

/// The NAT example with `weights` for its real servers 172.25.0.31, .32, ...
fn spec(scheduler: &str, weights: &[u32]) -> SpecDoc {
    let servers: Vec<_> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| json!({"address": format!("172.25.0.{}", 31 + i), "forwarding": "nat", "weight": w}))
        .collect();
    serde_json::from_value(json!({"services": [{"id": "tcp:192.168.31.100:80", "scheduler": scheduler, "servers": servers}]}))
        .unwrap()
}

fn desired(revision: i64, spec: SpecDoc) -> Desired {
    Desired {
        cluster: "web".into(),
        revision: Some(revision),
        active_revision: Some(revision),
        spec: Some(spec),
        settings: ClusterSettings::default(),
        zero: None,
        switchover: None,
    }
}

/// The table as `ipvsadm -Sn` would list it, one line per object.
fn table_lines(table: &mut dyn IpvsTable) -> Vec<String> {
    let snapshot = table.snapshot().unwrap();
    let mut lines = Vec::new();
    for entry in &snapshot.services {
        lines.push(format!("{} {}", entry.service.key, entry.service.scheduler));
        for dest in &entry.dests {
            lines.push(format!(
                "  {} weight {}",
                dest.dest.key.socket_addr(),
                dest.dest.weight
            ));
        }
    }
    lines
}

fn step_with(agent: &mut Agent, message: Desired) -> Vec<DirectorReport> {
    agent.on_desired(message);
    agent.step();
    agent.outbox().take_all()
}

#[test]
fn a_desired_revision_is_applied_cached_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent_on(MemoryTable::new(), dir.path());
    let reports = step_with(&mut agent, desired(1, spec("wrr", &[1, 2])));

    assert_eq!(
        table_lines(agent.table()),
        [
            "tcp:192.168.31.100:80 wrr",
            "  172.25.0.31:80 weight 1",
            "  172.25.0.32:80 weight 2"
        ]
    );
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.applied_revision, Some(1));
    assert_eq!(report.blocked_revision, None);
    assert_eq!(report.applies.len(), 1);
    assert_eq!(report.applies[0].result, ApplyResult::Applied);
    assert_eq!(report.applies[0].revision, Some(1));
    let counters = report.counters.as_ref().expect("reports carry counters");
    assert_eq!(counters.services[0].service, "tcp:192.168.31.100:80");
    assert_eq!(counters.services[0].servers.len(), 2);

    let cached = Cache::new(dir.path())
        .load("web")
        .unwrap()
        .expect("cached after the apply");
    assert_eq!(cached.desired.revision, Some(1));
    assert_eq!(cached.state.applied, Some(1));
}

#[test]
fn an_invalid_spec_from_the_server_is_refused_reported_and_never_applied() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent_on(MemoryTable::new(), dir.path());
    step_with(&mut agent, desired(1, spec("wrr", &[1, 2])));
    let before = table_lines(agent.table());

    // Direct routing cannot map ports: the server should never have sent it.
    let bad: SpecDoc = serde_json::from_value(
        json!({"services": [{"id": "tcp:192.168.31.100:80", "servers": [
        {"address": "172.25.0.31", "port": 8080, "forwarding": "dr"}]}]}),
    )
    .unwrap();
    let reports = step_with(&mut agent, desired(2, bad.clone()));
    assert_eq!(
        table_lines(agent.table()),
        before,
        "the table keeps revision 1"
    );
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].applied_revision, Some(1));
    assert_eq!(reports[0].blocked_revision, Some(2));
    let refusal = &reports[0].applies[0];
    assert_eq!(refusal.result, ApplyResult::Refused);
    assert_eq!(refusal.revision, Some(2));
    assert!(
        refusal.errors[0].contains("spec of revision 2 is invalid"),
        "{:?}",
        refusal.errors
    );
    assert!(
        refusal.errors[0].contains("the table stays at revision 1"),
        "{:?}",
        refusal.errors
    );

    // Asked again (the long-poll answering with the same), it is not reported again.
    assert!(step_with(&mut agent, desired(2, bad)).is_empty());

    let reports = step_with(&mut agent, desired(3, spec("wrr", &[1, 2, 3])));
    assert_eq!(table_lines(agent.table()).len(), 4);
    assert_eq!(reports.last().unwrap().applied_revision, Some(3));
    assert_eq!(reports.last().unwrap().blocked_revision, None);
}

#[test]
fn a_revision_the_kernel_refuses_is_blocked_and_the_last_good_table_stays() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent_on(MemoryTable::new(), dir.path());
    step_with(&mut agent, desired(1, spec("wrr", &[1, 2])));
    let before = table_lines(agent.table());

    // Linux 6.1 has no `twos` scheduler: the kernel refuses the service.
    let reports = step_with(&mut agent, desired(2, spec("twos", &[1, 2])));
    assert_eq!(table_lines(agent.table()), before);
    let report = reports.last().unwrap();
    assert_eq!(
        (report.applied_revision, report.blocked_revision),
        (Some(1), Some(2))
    );
    assert_eq!(report.applies[0].result, ApplyResult::FailedRestored);
    assert_eq!(
        agent.due(),
        None,
        "a revision failed for good is not retried"
    );

    // The cache still holds revision 1, with revision 2 blocked.
    let cached = Cache::new(dir.path()).load("web").unwrap().unwrap();
    assert_eq!(
        (cached.desired.revision, cached.state.blocked),
        (Some(1), Some(2))
    );
}

#[test]
fn without_the_server_the_cached_revision_is_restored_after_a_reboot() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = agent_on(MemoryTable::new(), dir.path());
    step_with(&mut first, desired(1, spec("wrr", &[1, 2])));
    let applied = table_lines(first.table());
    drop(first);

    // A reboot: an empty table, the same state directory, no server.
    let mut agent = agent_on(MemoryTable::new(), dir.path());
    assert!(table_lines(agent.table()).is_empty());
    agent.on_message(FromServer::Unreachable);
    assert!(agent.due().is_some(), "the cached revision is due at once");
    agent.step();
    assert_eq!(table_lines(agent.table()), applied);
    let reports = agent.outbox().take_all();
    assert_eq!(reports.last().unwrap().applied_revision, Some(1));

    // The server, back, says the same revision: nothing more to do.
    let reports = step_with(&mut agent, desired(1, spec("wrr", &[1, 2])));
    assert!(
        reports.iter().all(|r| r.applies.iter().all(|a| a.ops == 0)),
        "{reports:?}"
    );
}

#[test]
fn a_blocked_revision_after_a_reboot_restores_the_cached_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = agent_on(MemoryTable::new(), dir.path());
    step_with(&mut first, desired(1, spec("wrr", &[1, 2])));
    step_with(&mut first, desired(2, spec("twos", &[1, 2])));
    let good = table_lines(first.table());
    drop(first);

    // The server still says revision 2, which this director cannot run.
    let mut agent = agent_on(MemoryTable::new(), dir.path());
    let reports = step_with(&mut agent, desired(2, spec("twos", &[1, 2])));
    assert_eq!(table_lines(agent.table()), good);
    let last = reports.last().unwrap();
    assert_eq!(
        (last.applied_revision, last.blocked_revision),
        (Some(1), Some(2))
    );
}

#[test]
fn a_corrupt_cache_is_refused_and_never_applied() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = agent_on(MemoryTable::new(), dir.path());
    step_with(&mut first, desired(1, spec("wrr", &[1, 2])));
    drop(first);
    let file = Cache::new(dir.path()).path("web");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("\"weight\": 2", "\"weight\": 200")).unwrap();

    let mut agent = agent_on(MemoryTable::new(), dir.path());
    agent.on_message(FromServer::Unreachable);
    assert_eq!(agent.due(), None, "nothing to restore");
    agent.step();
    assert!(
        table_lines(agent.table()).is_empty(),
        "a corrupt cache is never applied"
    );
    assert!(!file.exists());
    assert!(
        dir.path().join("web.json.corrupt").exists(),
        "kept aside for an operator"
    );
}

#[test]
fn counters_are_zeroed_once_per_request_and_acknowledged() {
    // A table already running revision 1, with traffic counted.
    let mut loaded = MemoryTable::new();
    let spec_1 = spec("wrr", &[1, 2]);
    let plan = crate::plan::plan(
        &loaded.snapshot().unwrap(),
        &spec_1.validate().unwrap(),
        &Default::default(),
    );
    loaded.apply(plan.ops()).unwrap();
    let mut snapshot = loaded.snapshot().unwrap();
    snapshot.services[0].stats.conns = 42;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent_on(MemoryTable::from_snapshot(&snapshot), dir.path());

    let reports = step_with(&mut agent, desired(1, spec_1.clone()));
    assert_eq!(
        reports.last().unwrap().counters.as_ref().unwrap().services[0]
            .traffic
            .conns,
        42
    );
    assert_eq!(
        reports.last().unwrap().applies[0].ops,
        0,
        "the table was already right"
    );

    let zero = |seq| Desired {
        zero: Some(ZeroRequest { seq, service: None }),
        ..desired(1, spec_1.clone())
    };
    let reports = step_with(&mut agent, zero(1));
    let last = reports.last().unwrap();
    assert_eq!(last.zeroed_seq, Some(1));
    assert_eq!(last.counters.as_ref().unwrap().services[0].traffic.conns, 0);
    assert_eq!(
        Cache::new(dir.path())
            .load("web")
            .unwrap()
            .unwrap()
            .zeroed_seq,
        Some(1)
    );

    // The same request again is not done again.
    assert!(step_with(&mut agent, zero(1)).is_empty());
}

#[test]
fn each_director_applies_its_own_sync_daemon_from_the_host_settings() {
    // One spec for the cluster; the host section makes d1 the master and d2
    // the backup of the connection sync, as an operator pairs two directors.
    let shared: SpecDoc = serde_json::from_value(json!({
        "services": [{"id": "tcp:192.168.31.100:80", "servers": [{"address": "172.25.0.31", "forwarding": "nat"}]}],
        "host": {"directors": {
            "d1": {"sync_daemons": [{"role": "master", "interface": "eth0", "syncid": 7}]},
            "d2": {"sync_daemons": [{"role": "backup", "interface": "eth0", "syncid": 7}]}
        }}
    }))
    .unwrap();
    for (name, role) in [("d1", "master"), ("d2", "backup")] {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            name: name.into(),
            ..options()
        };
        let mut agent = Agent::new(
            options,
            Box::new(MemoryTable::new()),
            Cache::new(dir.path()),
        );
        let reports = step_with(&mut agent, desired(1, shared.clone()));
        assert_eq!(reports[0].applied_revision, Some(1), "{name} applied");
        let daemons = agent.table().snapshot().unwrap().daemons;
        let found: Vec<(String, &str, u32)> = daemons
            .iter()
            .map(|d| (d.role.as_str().to_string(), d.mcast_ifn.as_str(), d.syncid))
            .collect();
        assert_eq!(
            found,
            [(role.to_string(), "eth0", 7)],
            "director {name}'s table"
        );
    }
}

#[test]
fn a_host_settings_failure_is_reported_and_leaves_the_table_applied() {
    let dir = tempfile::tempdir().unwrap();
    // The records of what lvsd added to the host are unreadable: lvsd must
    // not touch the host blind, and says which file is at fault.
    let host_dir = dir.path().join("host");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("director.json"), "not json").unwrap();
    let options = Options {
        host_state_dir: Some(host_dir.clone()),
        ..options()
    };
    let mut agent = Agent::new(
        options,
        Box::new(MemoryTable::new()),
        Cache::new(dir.path()),
    );

    let reports = step_with(&mut agent, desired(1, spec("wrr", &[1, 2])));
    let report = reports.last().expect("a report after the apply");
    assert_eq!(report.applied_revision, Some(1), "the IPVS apply stands");
    assert_eq!(report.applies[0].result, ApplyResult::Applied);
    assert_eq!(
        table_lines(agent.table()).len(),
        3,
        "the table holds the revision"
    );
    assert_eq!(report.host_errors.len(), 1, "{:?}", report.host_errors);
    let error = &report.host_errors[0];
    assert!(
        error.contains("director.json") && error.contains("not a state file"),
        "{error}"
    );
    assert!(
        agent.due().is_some(),
        "a failed host apply is tried again at the next step"
    );

    // Tried again at the next step, still failing: still reported, table untouched.
    agent.step();
    let heartbeat = {
        agent.report();
        agent.outbox().take_all().pop().unwrap()
    };
    assert_eq!(heartbeat.applied_revision, Some(1));
    assert_eq!(heartbeat.host_errors, report.host_errors);
    assert_eq!(table_lines(agent.table()).len(), 3);
}

/// The agent takes each fault as the local director does
/// (`director::local::tests::faults_are_taken_as_an_agent_takes_them`): both
/// drive their steps through `apply::Runner`, checked against one table.
#[tokio::test]
async fn faults_are_taken_as_the_local_director_takes_them() {
    use std::sync::atomic::Ordering;

    use crate::apply::runner::parity::{FAULTS, FaultyTable};

    for (fault, expected) in FAULTS {
        let dir = tempfile::tempdir().unwrap();
        let (table, armed) = FaultyTable::new(fault);
        let mut agent = Agent::new(options(), Box::new(table), Cache::new(dir.path()));
        step_with(&mut agent, desired(1, spec("wrr", &[1, 2])));
        let (runner, state) = agent.schedule();
        assert_eq!(runner.attempt(), expected.attempt, "{fault:?}");
        assert_eq!(runner.due().is_some(), expected.retries, "{fault:?}");
        assert_eq!(state.blocked == Some(1), expected.blocked, "{fault:?}");
        assert_eq!(state.applied, None, "{fault:?}");
        assert!(table_lines(agent.table()).is_empty(), "{fault:?}");

        // The fault passes: the retry, or the next revision after a block, applies.
        armed.store(false, Ordering::SeqCst);
        let next = if expected.blocked { 2 } else { 1 };
        if expected.blocked {
            step_with(&mut agent, desired(2, spec("wrr", &[3, 4])));
        } else {
            agent.step();
        }
        let (runner, state) = agent.schedule();
        assert_eq!(
            (runner.attempt(), state.applied),
            (0, Some(next)),
            "{fault:?}"
        );
        assert_eq!(table_lines(agent.table()).len(), 3, "{fault:?}");
    }
}
