//! The `lvsd` client commands, run as an operator runs them, against a real
//! `lvsd serve` on ephemeral ports.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{TestServer, nat_example};
use serde_json::Value;

/// What one `lvsd` run printed and how it ended.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "lvsd failed:\n{}{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    fn fails(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "unexpected exit status:\n{}{}",
            self.stdout, self.stderr
        );
        assert!(!self.stderr.is_empty(), "a failure says why");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.stdout))
    }
}

/// An operator's shell: a home without a config file, LVSD_SERVER and
/// LVSD_CLUSTER set.
struct Shell {
    server: String,
    cluster: String,
    home: tempfile::TempDir,
}

impl Shell {
    fn new(server: &TestServer, cluster: &str) -> Self {
        Shell {
            server: server.http.clone(),
            cluster: cluster.to_string(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lvsd"));
        cmd.args(args)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("LVSD_SERVER", &self.server)
            .env("LVSD_CLUSTER", &self.cluster)
            .env_remove("LVSD_TOKEN")
            .env_remove("LVSD_CONFIG")
            .stdin(Stdio::null());
        cmd
    }

    fn run_with(&self, mut cmd: Command, stdin: Option<&str>) -> Run {
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lvsd runs");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn lvsd(&self, args: &[&str]) -> Run {
        self.run_with(self.command(args), None)
    }

    /// Runs one command line, split on spaces.
    fn line(&self, line: &str) -> Run {
        let args: Vec<&str> = line.split_whitespace().collect();
        self.lvsd(&args)
    }

    /// Runs each line of `script` and expects each to succeed.
    fn script(&self, script: &str) {
        for line in script
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let args: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(args[0], "lvsd", "{line}");
            self.lvsd(&args[1..]).ok();
        }
    }

    fn in_cluster(&self, cluster: &str) -> Shell {
        Shell {
            server: self.server.clone(),
            cluster: cluster.to_string(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// The draft's spec, as `GET /draft` returns it.
    fn draft_spec(&self) -> Value {
        self.line("draft show --output json").ok().json()["spec"].clone()
    }

    fn import(&self, file: &Path) -> Run {
        self.lvsd(&["import", file.to_str().unwrap()])
    }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const NAT_TYPED: &str = "
    lvsd svc add -t 192.168.31.100:80 -s wrr
    lvsd rs add -t 192.168.31.100:80 -r 172.25.0.31:80 -m -w 1
    lvsd rs add -t 192.168.31.100:80 -r 172.25.0.32:80 -m -w 2
    lvsd rs add -t 192.168.31.100:80 -r 172.25.0.33:80 -m -w 3
";

const NAT_SCRIPT: &str = "\
# The classic LVS-NAT director
ipvsadm -A -t 192.168.31.100:80 -s wrr
ipvsadm -a -t 192.168.31.100:80 -r 172.25.0.31:80 -m -w 1
ipvsadm -a -t 192.168.31.100:80 -r 172.25.0.32:80 -m -w 2
ipvsadm -a -t 192.168.31.100:80 -r 172.25.0.33:80 -m -w 3
";

#[tokio::test]
async fn nat_example_typed_is_the_imported_script() {
    let server = TestServer::start();
    let typed = Shell::new(&server, "typed");
    typed.line("cluster create typed").ok();
    typed.line("cluster create imported").ok();
    typed.script(NAT_TYPED);

    let imported = typed.in_cluster("imported");
    let file = write(imported.home.path(), "nat.rules", NAT_SCRIPT);
    let run = imported.import(&file).ok();
    assert!(
        run.stdout.contains("1 service, 3 real servers"),
        "{}",
        run.stdout
    );

    let spec = typed.draft_spec();
    assert_eq!(spec, imported.draft_spec());
    // ... and it is the NAT example as the API tests send it whole.
    server
        .post("/v1/clusters", serde_json::json!({"name": "whole"}))
        .await
        .expect(201);
    server
        .post(
            "/v1/clusters/whole/revisions",
            serde_json::json!({"message": "whole", "spec": nat_example()}),
        )
        .await
        .expect(201);
    assert_eq!(
        spec,
        server
            .get("/v1/clusters/whole/draft")
            .await
            .expect(200)
            .body["spec"]
    );
    assert_eq!(spec["services"][0]["servers"].as_array().unwrap().len(), 3);
    assert_eq!(spec["services"][0]["scheduler"], "wrr");
    assert_eq!(spec["services"][0]["servers"][2]["forwarding"], "nat");

    // Committed, the active revision lists as ipvsadm -Ln lists it.
    typed.line("commit -m classic").ok();
    let list = typed.line("list -n").ok().stdout;
    let body: Vec<&str> = list.lines().skip(1).collect();
    assert_eq!(
        body,
        [
            "Prot LocalAddress:Port Scheduler Flags",
            "  -> RemoteAddress:Port           Forward Weight",
            "TCP  192.168.31.100:80 wrr",
            "  -> 172.25.0.31:80               Masq    1",
            "  -> 172.25.0.32:80               Masq    2",
            "  -> 172.25.0.33:80               Masq    3",
        ]
    );
    assert!(
        list.starts_with("Cluster typed, revision 1 (active)"),
        "{list}"
    );
}

const DR_TYPED: &str = "
    # a persistent web service, direct routing
    lvsd svc add -t 192.168.10.100:80 -s wlc -p 600
    lvsd rs add -t 192.168.10.100:80 -r 192.168.10.21 -g
    lvsd rs add -t 192.168.10.100:80 -r 192.168.10.22 -g -w 2
    lvsd rs add -t 192.168.10.100:80 -r 192.168.10.23 -w 3 -x 1000 -y 800
    # DNS, one-packet scheduling
    lvsd svc add -u 192.168.10.100:domain -s rr -o
    lvsd rs add -u 192.168.10.100:53 -r 192.168.10.21
    lvsd rs add -u 192.168.10.100:53 -r 192.168.10.22
    # marked traffic, source hashing with flags, a GUE tunnel
    lvsd svc add -f 12 -s sh -b sh-fallback,sh-port -p -M 255.255.255.0
    lvsd rs add -f 12 -r 192.168.10.21 -g
    lvsd rs add -f 12 -r 192.168.10.24 -i --tun-type gue --tun-port 6080 --tun-csum
    # IPv6
    lvsd svc add -t [2001:db8::100]:443 -s lc
    lvsd rs add -t [2001:db8::100]:443 -r 2001:db8::21 -g
    lvsd timeout set --tcp 900 --tcpfin 120 --udp 300
    lvsd daemon start master --mcast-interface eth1 --syncid 7
";

const DR_SCRIPT: &str = "\
ipvsadm -A -t 192.168.10.100:80 -s wlc -p 600
ipvsadm -a -t 192.168.10.100:80 -r 192.168.10.21 -g
ipvsadm -a -t 192.168.10.100:80 -r 192.168.10.22 -g -w 2
ipvsadm -a -t 192.168.10.100:80 -r 192.168.10.23 -w 3 -x 1000 -y 800
ipvsadm -A -u 192.168.10.100:53 -s rr -o
ipvsadm -a -u 192.168.10.100:53 -r 192.168.10.21
ipvsadm -a -u 192.168.10.100:53 -r 192.168.10.22
ipvsadm -A -f 12 -s sh -b sh-fallback,sh-port -p -M 255.255.255.0
ipvsadm -a -f 12 -r 192.168.10.21 -g
ipvsadm -a -f 12 -r 192.168.10.24 -i --tun-type gue --tun-port 6080 --tun-csum
ipvsadm -A -t [2001:db8::100]:443 -s lc
ipvsadm -a -t [2001:db8::100]:443 -r 2001:db8::21 -g
ipvsadm --set 900 120 300
ipvsadm --start-daemon master --mcast-interface eth1 --syncid 7
";

#[test]
fn dr_example_typed_is_the_imported_script() {
    let server = TestServer::start();
    let typed = Shell::new(&server, "typed");
    typed.line("cluster create typed").ok();
    typed.line("cluster create imported").ok();
    typed.script(DR_TYPED);
    let imported = typed.in_cluster("imported");
    let file = write(imported.home.path(), "dr.rules", DR_SCRIPT);
    imported.import(&file).ok();

    let spec = typed.draft_spec();
    assert_eq!(spec, imported.draft_spec());
    assert_eq!(spec["services"].as_array().unwrap().len(), 4);
    assert_eq!(
        spec["timeouts"],
        serde_json::json!({"tcp": 900, "tcpfin": 120, "udp": 300})
    );
    assert_eq!(spec["sync_daemons"][0]["syncid"], 7);

    // The draft reads back as the rules it was made of (as ipvsadm -Sn orders them).
    let rules = typed.line("draft show --rules").ok().stdout;
    assert!(
        rules.contains("-A -f 12 -s sh -p 360 -M 255.255.255.0 -b sh-fallback,sh-port\n"),
        "{rules}"
    );
    assert!(
        rules.contains(
            "-a -f 12 -r 192.168.10.24:0 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum\n"
        ),
        "{rules}"
    );
    assert!(
        rules.ends_with(
            "--set 900 120 300\n--start-daemon master --mcast-interface eth1 --syncid 7\n"
        ),
        "{rules}"
    );

    // The table views of a committed revision.
    typed.line("commit -m dr").ok();
    let thresholds = typed.line("list --thresholds").ok().stdout;
    assert!(
        thresholds.contains("  -> 192.168.10.23:80             1000       800\n"),
        "{thresholds}"
    );
    let tunnels = typed.line("list --tun-info").ok().stdout;
    assert!(
        tunnels.contains("  -> 192.168.10.24:0              Tunnel  gue:6080:+c   1\n"),
        "{tunnels}"
    );
    assert_eq!(
        typed.line("list --timeout").ok().stdout,
        "Timeout (tcp tcpfin udp): 900 120 300\n"
    );
    assert_eq!(
        typed.line("list --daemon").ok().stdout,
        "master sync daemon (mcast=eth1, syncid=7)\n"
    );
}

#[test]
fn commit_log_diff_rollback_export_round_trip() {
    let server = TestServer::start();
    let sh = Shell::new(&server, "web");
    sh.line("cluster create web").ok();
    assert!(sh.line("list").ok().stderr.contains("no active revision"));
    sh.script(NAT_TYPED);
    let diff = sh.line("draft diff").ok().stdout;
    assert!(
        diff.starts_with("--- nothing committed\n+++ draft of web"),
        "{diff}"
    );
    assert!(
        diff.contains("+ -A -t 192.168.31.100:80 -s wrr\n"),
        "{diff}"
    );
    let commit = sh.line("commit -m classic").ok().stdout;
    assert_eq!(
        commit,
        "committed revision 1 of web (active): 1 service added, 3 real servers added\n"
    );
    assert_eq!(
        sh.line("commit -m again").ok().stdout,
        "nothing to commit: the draft is revision 1 (active)\n"
    );

    // Edits change only what is given.
    sh.line("rs edit -t 192.168.31.100:80 -r 172.25.0.31 -w 5")
        .ok();
    sh.line("svc edit -t 192.168.31.100:80 -p 900").ok();
    sh.line("svc edit -t 192.168.31.100:80 -s rr").ok();
    let svc = &sh.draft_spec()["services"][0];
    assert_eq!(svc["scheduler"], "rr");
    assert_eq!(svc["persistence"]["timeout"], 900, "-s keeps -p");
    assert_eq!(svc["servers"][0]["forwarding"], "nat", "-w keeps -m");
    assert_eq!(svc["servers"][0]["weight"], 5);
    let run = sh.line("svc edit -t 192.168.31.100:80").fails(2);
    assert!(run.stderr.contains("nothing to change"), "{}", run.stderr);
    sh.line("commit -m more-to-rs1 --expected-base 1").ok();

    let diff = sh.line("diff 1 2").ok().stdout;
    assert_eq!(
        diff,
        "--- revision 1
+++ revision 2: more-to-rs1
- -A -t 192.168.31.100:80 -s wrr
+ -A -t 192.168.31.100:80 -s rr -p 900
- -a -t 192.168.31.100:80 -r 172.25.0.31:80 -m -w 1
+ -a -t 192.168.31.100:80 -r 172.25.0.31:80 -m -w 5
# 1 service changed, 1 real server changed
"
    );
    assert_eq!(
        sh.line("diff 2").ok().stdout,
        diff,
        "one revision: against its parent"
    );
    let json = sh.line("diff 1 2 --output json").ok().json();
    assert_eq!(
        json["diff"]["services_changed"][0]["servers_changed"][0]["changes"][0]["field"],
        "weight"
    );

    let rollback = sh.line("rollback 1").ok().stdout;
    assert_eq!(
        rollback,
        "revision 3 restores revision 1's spec and is active\n"
    );
    let log = sh.line("log").ok().stdout;
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 4, "{log}");
    assert!(lines[0].starts_with("REV "), "{log}");
    assert!(
        lines[1].starts_with("3    active  ") && lines[1].ends_with("rollback to revision 1"),
        "{log}"
    );
    assert!(
        lines[2].starts_with("2            ") && lines[2].ends_with("more-to-rs1"),
        "{log}"
    );
    let page = sh.line("log -n 1").ok().stdout;
    assert!(page.ends_with("(more: lvsd log --before 3)\n"), "{page}");
    assert_eq!(
        sh.line("log --output json").ok().json()["revisions"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Export of the rollback equals export of what it restored, and imports back as it.
    let export = sh.line("export").ok().stdout;
    assert_eq!(export, sh.line("export 1").ok().stdout);
    let spec: Value = serde_json::from_str(&sh.line("export 3 --spec").ok().stdout).unwrap();
    assert_eq!(
        spec,
        sh.line("list --revision 1 --output json").ok().json()["spec"]
    );
    assert_eq!(
        export,
        NAT_SCRIPT
            .lines()
            .skip(1)
            .map(|l| format!("{}\n", &l["ipvsadm ".len()..]))
            .collect::<String>()
    );
    let copy = sh.in_cluster("copy");
    copy.line("cluster create copy").ok();
    copy.run_with(copy.command(&["import", "-"]), Some(&export))
        .ok();
    assert_eq!(copy.draft_spec(), sh.draft_spec());

    // Reset throws away the draft's changes.
    sh.line("rs del -t 192.168.31.100:80 -r 172.25.0.33").ok();
    assert!(
        sh.line("draft diff")
            .ok()
            .stdout
            .contains("- -a -t 192.168.31.100:80 -r 172.25.0.33:80 -m -w 3\n")
    );
    sh.line("draft reset").ok();
    assert!(sh.line("draft diff").ok().stdout.contains("(no change)"));
    sh.line("svc del -t 192.168.31.100:80").ok();
    assert_eq!(sh.draft_spec()["services"], serde_json::json!([]));

    // Staged commits.
    sh.line("commit -m empty --no-activate").ok();
    assert!(
        sh.line("list")
            .ok()
            .stdout
            .starts_with("Cluster web, revision 3 (active)")
    );
    sh.line("activate 4").ok();
    assert!(
        sh.line("list")
            .ok()
            .stdout
            .starts_with("Cluster web, revision 4 (active)")
    );
}

#[test]
fn bad_input_says_what_to_type() {
    let server = TestServer::start();
    let sh = Shell::new(&server, "web");

    // Usage errors: clap refuses before anything is sent (exit 2).
    let run = sh.line("svc add -t 192.168.31.100:80 -s foo").fails(2);
    assert!(
        run.stderr
            .contains("invalid value 'foo' for '--scheduler <SCHED>'"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("possible values: rr, wrr,"),
        "{}",
        run.stderr
    );
    let run = sh.line("svc add -t 192.168.31:80").fails(2);
    assert!(
        run.stderr.contains("`192.168.31` is not an IPv4 address"),
        "{}",
        run.stderr
    );
    let run = sh.line("rs add -t web1:80 -r 10.0.0.1").fails(2);
    assert!(
        run.stderr.contains("`web1` is a host name"),
        "{}",
        run.stderr
    );
    let run = sh.line("rs add -r 172.25.0.31 -m").fails(2);
    assert!(
        run.stderr
            .contains("--tcp-service <VIP:PORT>|--udp-service"),
        "{}",
        run.stderr
    );
    let run = sh.line("svc add -t 10.0.0.1:80 -u 10.0.0.1:53").fails(2);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    let run = sh.line("rs add -t 10.0.0.1:80 -r 10.0.0.2 -g -m").fails(2);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    let run = sh.line("svc add -t 10.0.0.1:80 -M 255.255.255.0").fails(2);
    assert!(
        run.stderr.contains("-M groups clients for persistence"),
        "{}",
        run.stderr
    );

    // No such cluster: say how to make it (exit 1).
    let run = sh.line("svc add -t 192.168.31.100:80 -s wrr").fails(1);
    assert_eq!(
        run.stderr,
        "lvsd: error: no cluster named web\n  hint: create it with `lvsd cluster create web`, or pick another with --cluster NAME (`lvsd cluster list`)\n"
    );
    sh.line("cluster create web").ok();
    sh.line("svc add -t 192.168.31.100:80 -s wrr").ok();

    // Refusals of the server name the option at fault (exit 1).
    let run = sh
        .line("rs add -t 192.168.31.100:80 -r 172.25.0.31 -m -w 70000")
        .fails(1);
    assert_eq!(
        run.stderr,
        "lvsd: error: -w (weight): 70000 is out of range: weights go from 0 to 65535\n"
    );
    let run = sh
        .line("rs add -t 192.168.31.100:80 -r 172.25.0.31:8080 -g")
        .fails(1);
    assert!(
        run.stderr
            .starts_with("lvsd: error: -r (port): dr forwards packets unchanged"),
        "{}",
        run.stderr
    );
    let run = sh
        .line("rs add -t 192.168.31.100:81 -r 172.25.0.31")
        .fails(1);
    assert!(
        run.stderr
            .contains("has no service tcp:192.168.31.100:81\n  hint: `lvsd draft show`"),
        "{}",
        run.stderr
    );
    let run = sh.line("diff 7").fails(1);
    assert!(
        run.stderr
            .contains("cluster web has no revision 7\n  hint: `lvsd log` lists the revisions"),
        "{}",
        run.stderr
    );

    // What exists already (exit 4).
    let run = sh.line("svc add -t 192.168.31.100:80").fails(4);
    assert_eq!(
        run.stderr,
        "lvsd: error: the draft of web already has service tcp:192.168.31.100:80\n  hint: change it with `lvsd svc edit`\n"
    );

    // A bad line of an import: FILE:LINE (exit 1), and nothing written.
    let before = sh.draft_spec();
    let file = write(
        sh.home.path(),
        "bad.rules",
        "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.2 -w 70000\n",
    );
    let run = sh.import(&file).fails(1);
    assert!(
        run.stderr
            .starts_with(&format!("lvsd: error: {}:2: `-w 70000`", file.display())),
        "{}",
        run.stderr
    );
    assert_eq!(sh.draft_spec(), before);
    let run = sh.line("import /nonexistent/rules").fails(1);
    assert!(
        run.stderr.contains("cannot read /nonexistent/rules"),
        "{}",
        run.stderr
    );
}

#[test]
fn unreachable_server_exits_3() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["list", "--server", "http://127.0.0.1:9"])
        .env("HOME", home.path())
        .env_remove("LVSD_SERVER")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("lvsd: error: cannot reach the lvsd server at http://127.0.0.1:9: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: is `lvsd serve` running there?"),
        "{stderr}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["list", "--server", "ftp://x"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn someone_else_changed_the_draft() {
    let server = TestServer::start();
    let alice = Shell::new(&server, "web");
    let bob = Shell::new(&server, "web");
    alice.line("cluster create web").ok();
    alice.script(NAT_TYPED);
    alice.line("commit -m classic").ok();

    // Alice reviews the draft; Bob changes it; Alice's change, made against
    // what she reviewed, is refused and nothing is overwritten.
    let reviewed = alice.line("draft show --output json").ok().json()["etag"]
        .as_str()
        .unwrap()
        .to_string();
    bob.line("rs edit -t 192.168.31.100:80 -r 172.25.0.32 -w 7")
        .ok();
    let run = alice
        .lvsd(&[
            "rs",
            "edit",
            "-t",
            "192.168.31.100:80",
            "-r",
            "172.25.0.31",
            "-w",
            "9",
            "--if-match",
            &reviewed,
        ])
        .fails(4);
    assert!(
        run.stderr.contains("changed since you read it"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: see what changed with `lvsd draft show`"),
        "{}",
        run.stderr
    );
    let run = alice
        .lvsd(&["commit", "-m", "reviewed", "--if-match", &reviewed])
        .fails(4);
    assert!(
        run.stderr.contains("changed since you read it"),
        "{}",
        run.stderr
    );
    let spec = alice.draft_spec();
    assert_eq!(spec["services"][0]["servers"][0]["weight"], 1);
    assert_eq!(spec["services"][0]["servers"][1]["weight"], 7);

    // A commit on a stale base is refused too.
    bob.line("commit -m bob").ok();
    alice
        .line("rs edit -t 192.168.31.100:80 -r 172.25.0.31 -w 9")
        .ok();
    let run = alice.line("commit -m alice --expected-base 1").fails(4);
    assert!(
        run.stderr.contains("not the expected base 1"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: see what they committed with `lvsd log` and `lvsd diff`"),
        "{}",
        run.stderr
    );
}

#[test]
fn config_file_and_completions() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".config/lvsd");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "# lvsd client\nserver = \"{}\"\ncluster = \"edge\"\ntoken = \"t0k3n\"\n",
            server.http
        ),
    )
    .unwrap();
    let lvsd = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lvsd"))
            .args(args)
            .env("HOME", home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("LVSD_SERVER")
            .env_remove("LVSD_CLUSTER")
            .env_remove("LVSD_TOKEN")
            .env_remove("LVSD_CONFIG")
            .output()
            .unwrap()
    };
    let out = lvsd(&["cluster", "create", "edge"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lvsd(&["svc", "add", "-t", "10.0.0.1:443", "-s", "rr"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "added to the draft of edge: TCP  10.0.0.1:443 rr\n"
    );
    let out = lvsd(&["svc", "add", "-t", "10.0.0.1:80", "--cluster", "elsewhere"]);
    assert_eq!(out.status.code(), Some(1), "the flag wins over the file");

    std::fs::write(
        dir.join("config.toml"),
        "server = http://127.0.0.1:1\nport = 80\n",
    )
    .unwrap();
    let out = lvsd(&["cluster", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("config.toml:2: unknown key `port`"));

    for shell in ["bash", "zsh", "fish"] {
        let out = lvsd(&["completions", shell]);
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("tcp-service"),
            "{shell}"
        );
    }
}

#[test]
fn plan_directors_and_commit_confirmed() {
    let server = TestServer::start();
    let sh = Shell::new(&server, "web");
    sh.line("cluster create web").ok();
    sh.script(NAT_TYPED);
    sh.line("commit -m classic").ok();

    // This server applies to no kernel: plans go against an empty table.
    let plan = sh.line("plan 1").ok().stdout;
    assert_eq!(
        plan,
        "Plan of revision 1 of web against an empty table (this server applies to no kernel):
+ service tcp 192.168.31.100:80 wrr
+ real server 172.25.0.31:80 to tcp 192.168.31.100:80: nat weight 1
+ real server 172.25.0.32:80 to tcp 192.168.31.100:80: nat weight 2
+ real server 172.25.0.33:80 to tcp 192.168.31.100:80: nat weight 3
# 1 service added, 3 real servers added
"
    );
    assert_eq!(
        sh.line("plan 1 --output json").ok().json()["against"],
        "empty_table"
    );
    assert!(
        sh.line("directors")
            .ok()
            .stdout
            .contains("web has no directors yet")
    );
    let run = sh.line("directors lb1").fails(1);
    assert!(
        run.stderr
            .contains("no director named lb1\n  hint: `lvsd directors` lists them"),
        "{}",
        run.stderr
    );

    // A commit confirmed stays once confirmed.
    sh.line("rs edit -t 192.168.31.100:80 -r 172.25.0.31 -w 5")
        .ok();
    let commit = sh.line("commit -m w5 --confirm 5m").ok().stdout;
    assert!(commit.contains("run `lvsd confirm` before "), "{commit}");
    assert!(
        commit.ends_with(" to keep revision 2, or lvsd rolls back to revision 1\n"),
        "{commit}"
    );
    assert!(
        sh.line("cluster show")
            .ok()
            .stdout
            .contains("confirm:     run `lvsd confirm` before")
    );
    assert!(
        sh.line("list")
            .ok()
            .stderr
            .starts_with("note: run `lvsd confirm` before")
    );
    assert!(
        sh.line("confirm")
            .ok()
            .stdout
            .starts_with("revision 2 of web confirmed at ")
    );
    let run = sh.line("confirm").fails(4);
    assert!(
        run.stderr
            .contains("hint: `lvsd commit -m MSG --confirm 5m`"),
        "{}",
        run.stderr
    );
    let run = sh.line("commit -m x --confirm soon").fails(1);
    assert!(
        run.stderr
            .starts_with("lvsd: error: --confirm (confirm_within): `soon` is not a duration"),
        "{}",
        run.stderr
    );

    // Unconfirmed, it is rolled back by lvsd itself.
    sh.line("rollback 1 --confirm 1s").ok();
    let rolled_back = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        sh.line("log -n 1")
            .ok()
            .stdout
            .contains("automatic rollback to revision 2")
    });
    assert!(rolled_back, "{}", sh.line("log").stdout);
    assert_eq!(
        sh.line("export").ok().stdout,
        sh.line("export 2").ok().stdout
    );
}

#[test]
fn status_says_where_the_cluster_stands() {
    let server = TestServer::start();
    let sh = Shell::new(&server, "web");
    sh.line("cluster create web --description lab").ok();
    let run = sh.line("status").ok();
    assert_eq!(
        run.stdout,
        "Cluster web: lab\n  active:  none yet\n  draft:   as nothing committed\nDirectors: none has reported yet\n"
    );

    sh.script(NAT_TYPED);
    let run = sh.line("status").ok();
    assert!(
        run.stdout
            .contains("  draft:   changed since nothing committed (`lvsd draft diff`"),
        "{}",
        run.stdout
    );

    sh.lvsd(&["commit", "-m", "classic NAT"]).ok();
    sh.line("rs edit -t 192.168.31.100:80 -r 172.25.0.31 -w 4")
        .ok();
    sh.lvsd(&["commit", "-m", "heavier rs1", "--no-activate"])
        .ok();
    let run = sh.line("status").ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[1].starts_with("  active:  revision 1 \"classic NAT\" by anonymous at "),
        "{}",
        run.stdout
    );
    assert!(
        lines[1].ends_with("(1 service, 3 real servers)"),
        "{}",
        run.stdout
    );
    assert_eq!(
        lines[2],
        "  latest:  revision 2 (not active: `lvsd activate 2`)"
    );
    assert_eq!(lines[3], "  draft:   as revision 2");

    let json = sh.line("status --output json").ok().json();
    assert_eq!(json["active_revision"], 1);
    assert_eq!(json["latest_revision"], 2);
    assert_eq!(json["draft_dirty"], false);
    assert_eq!(json["directors"], serde_json::json!([]));

    sh.line("status --cluster nope").fails(1);
}

/// `lvsd settings set` changes only the fields given, the server applies
/// them (GET /settings says so), `show` says it in words, and a bad value is
/// refused naming the option, changing nothing.
#[tokio::test]
async fn settings_set_changes_only_what_is_given() {
    let server = TestServer::start();
    let sh = Shell::new(&server, "web");
    sh.line("cluster create web").ok();
    let shown = sh.line("settings show").ok().stdout;
    assert!(
        shown.contains("the defaults") && shown.contains("drain:         off"),
        "{shown}"
    );

    sh.line("settings set --drain on --drain-timeout 45").ok();
    sh.line("settings set --drain-service tcp:192.168.31.100:80=off --removal-limit 0.5")
        .ok();
    let stored = server
        .get("/v1/clusters/web/settings")
        .await
        .expect(200)
        .body;
    let settings = &stored["settings"];
    assert_eq!(
        settings["drain"], true,
        "the first set is kept by the second: {stored}"
    );
    assert_eq!(settings["drain_timeout_secs"], 45);
    assert_eq!(settings["drain_services"]["tcp:192.168.31.100:80"], false);
    assert_eq!(settings["removal_limit"], 0.5);
    assert_eq!(settings["ownership"], "table");

    let shown = sh.line("settings show").ok().stdout;
    assert!(
        shown.contains("drain:         on") && shown.contains("at most 45 s"),
        "{shown}"
    );
    assert!(
        shown.contains("drain off for tcp:192.168.31.100:80"),
        "{shown}"
    );
    assert!(shown.contains("0.5 of the services"), "{shown}");

    let refused = sh.line("settings set --drain-timeout 0").fails(1);
    assert!(
        refused.stderr.contains("drain_timeout_secs") || refused.stderr.contains("--drain-timeout"),
        "{}",
        refused.stderr
    );
    sh.line("settings set").fails(2);
    sh.line("settings set --drain maybe").fails(2);
    sh.line("settings set --drain-service tcp:192.168.31.100:80=default --removal-limit default")
        .ok();
    let json = sh.line("settings show --output json").ok().json();
    assert_eq!(
        json["settings"]["drain_timeout_secs"], 45,
        "the refused change left the settings alone: {json}"
    );
    assert!(
        json["settings"].get("drain_services").is_none(),
        "the exception is gone: {json}"
    );
    assert!(json["settings"]["removal_limit"].is_null(), "{json}");
    assert_eq!(json["settings"]["drain"], true);
}
