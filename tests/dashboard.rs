//! The web dashboard in headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed here when missing), driven through
//! chromedriver against a real `lvsd serve`: what an operator does by hand,
//! checked by what the page then shows and by the API. Screenshots go to
//! `target/ui-screenshots/`.

mod auth_support;
mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const SERVICE: &str = "tcp:192.168.31.100:80";
/// Longest the page may take to show something (each wait stops as soon as it does).
const PATIENCE: Duration = Duration::from_secs(20);
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Debian's browser and its driver, as CI installs them (.ci/run).
fn install_browser() {
    if std::path::Path::new(CHROMEDRIVER).exists() {
        return;
    }
    let status = Command::new("sh")
        .args(["-c", "apt-get install -y --no-install-recommends chromium chromium-driver || \
                      (apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver)"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    assert!(
        status.is_ok_and(|s| s.success()) && std::path::Path::new(CHROMEDRIVER).exists(),
        "the dashboard tests need Debian's chromium and chromium-driver: apt-get install chromium chromium-driver (as root)"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver with one headless Chromium session on a fresh profile.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    base: String,
    name: &'static str,
}

impl Browser {
    async fn start(base: &str, name: &'static str) -> Self {
        install_browser();
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities =
            json!({"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}});
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(err) if started.elapsed() < Duration::from_secs(30) => {
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => panic!("no Chromium session from chromedriver: {err}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
            base: base.to_string(),
            name,
        }
    }

    async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("the page loads");
    }

    /// Saves what the page shows as target/ui-screenshots/NAME-STEP.png.
    async fn screenshot(&self, step: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(dir.join(format!("{}-{step}.png", self.name)), png).unwrap();
    }

    /// The text of `css` once it contains `wanted`; fails (with a screenshot) if it never does.
    async fn wait_text(&self, css: &str, wanted: &str) -> String {
        let started = Instant::now();
        let mut last = String::from("(no such element)");
        while started.elapsed() < PATIENCE {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if text.contains(wanted) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.screenshot("failure").await;
        panic!("`{css}` never showed {wanted:?}; it shows {last:?}");
    }

    /// Waits for `css`, then clicks it (again if the page re-rendered it meanwhile).
    async fn click(&self, css: &str) {
        let started = Instant::now();
        loop {
            let clicked = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.click().await.map_err(|e| e.to_string()),
                Err(err) => Err(err.to_string()),
            };
            match clicked {
                Ok(()) => return,
                Err(err) if started.elapsed() > PATIENCE => {
                    self.screenshot("failure").await;
                    panic!("cannot click `{css}`: {err}");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Types `text` into the field `css`, replacing what it held.
    async fn fill(&self, css: &str, text: &str) {
        self.wait_for(css).await;
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn wait_for(&self, css: &str) {
        self.wait_text(css, "").await;
    }

    async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// In the draft: adds the service, then three real servers with weights 1, 2, 3.
async fn build_nat_service(page: &Browser) {
    page.fill("#svc-address", "192.168.31.100").await;
    page.fill("#svc-port", "80").await;
    page.click("#add-service").await;
    let card = format!("#draft article[data-service=\"{SERVICE}\"]");
    page.wait_for(&card).await;
    for i in 1..=3 {
        page.fill(
            &format!("{card} .add-row input[name=address]"),
            &format!("172.25.0.3{i}"),
        )
        .await;
        page.fill(
            &format!("{card} .add-row input[name=weight]"),
            &i.to_string(),
        )
        .await;
        page.click(&format!("{card} .add-server")).await;
        page.wait_for(&format!("{card} tr[data-server=\"172.25.0.3{i}:80\"]"))
            .await;
    }
}

async fn commit(page: &Browser, message: &str, number: i64) {
    page.fill("#commit-message", message).await;
    page.click("#commit").await;
    page.wait_text("#draft .notice.ok", &format!("Committed revision {number}"))
        .await;
}

#[tokio::test]
async fn build_commit_diff_and_roll_back_in_the_browser() {
    // Its own director applies to an in-memory table and reports counters.
    let dir = tempfile::tempdir().unwrap();
    let director = [
        "--apply-local",
        "--table",
        "memory",
        "--director",
        "d1",
        "--counters-interval",
        "500ms",
    ];
    let server = TestServer::start_with(dir.path().join("lvsd.db"), &director);
    let page = Browser::start(&server.http, "open").await;
    page.open("/").await;

    page.fill("#new-cluster-name", "web").await;
    page.fill("#new-cluster-description", "the NAT lab").await;
    page.click("#create-cluster").await;
    build_nat_service(&page).await;
    page.screenshot("draft").await;
    commit(&page, "classic LVS-NAT", 1).await;

    page.click("#tab-history").await;
    page.wait_text("#history tr[data-revision=\"1\"]", "classic LVS-NAT")
        .await;
    page.click("#history tr[data-revision=\"1\"] .show-diff")
        .await;
    let diff = page
        .wait_text("#diff", &format!("+ service {SERVICE}"))
        .await;
    assert!(diff.contains("172.25.0.33:80 nat weight 3"), "{diff}");

    // A change: more weight to rs1.
    page.click("#tab-draft").await;
    let rs1 = "#draft tr[data-server=\"172.25.0.31:80\"]";
    page.fill(&format!("{rs1} input[name=weight]"), "5").await;
    page.click(&format!("{rs1} .save-server")).await;
    page.wait_text("#draft .notice.ok", "Saved 172.25.0.31:80")
        .await;
    commit(&page, "more traffic to rs1", 2).await;

    page.click("#tab-overview").await;
    page.wait_text("#active-number", "#2").await;
    page.wait_text("#overview tr[data-server=\"172.25.0.31:80\"] .weight", "5")
        .await;

    // Any two revisions compared.
    page.click("#tab-history").await;
    page.wait_for("#history tr[data-revision=\"2\"]").await;
    page.click("#diff-from option[value=\"1\"]").await;
    page.click("#diff-to option[value=\"2\"]").await;
    page.click("#compare-button").await;
    page.wait_text("#diff", "weight: 1 → 5").await;
    page.screenshot("history-diff").await;

    // Roll back: asked first; cancelling changes nothing.
    page.click("#history tr[data-revision=\"1\"] .rollback")
        .await;
    page.wait_text("#confirm-title", "Roll back web to revision #1?")
        .await;
    page.screenshot("rollback-confirm").await;
    page.click("#confirm-cancel").await;
    assert_eq!(
        server.get("/v1/clusters/web").await.expect(200).body["active_revision"],
        2
    );
    page.click("#history tr[data-revision=\"1\"] .rollback")
        .await;
    page.wait_text("#confirm-title", "Roll back web to revision #1?")
        .await;
    page.click("#confirm-ok").await;
    page.wait_text("#history .notice.ok", "Revision #3 restores #1")
        .await;
    let revision = server
        .get("/v1/clusters/web/revisions/3")
        .await
        .expect(200)
        .body;
    assert_eq!(
        (revision["kind"].as_str(), revision["rollback_of"].as_i64()),
        (Some("rollback"), Some(1))
    );

    page.click("#tab-overview").await;
    page.wait_text("#active-number", "#3").await;
    page.wait_text("#overview tr[data-server=\"172.25.0.31:80\"] .weight", "1")
        .await;
    // The director applied the rollback: the kernel's weight is back too.
    page.wait_text(
        "#overview tr[data-server=\"172.25.0.31:80\"] .kernel-weight",
        "1",
    )
    .await;
    page.screenshot("active").await;
    let theme = "return document.documentElement.dataset.theme";
    let before = page.client.execute(theme, vec![]).await.unwrap();
    page.click("#theme").await;
    let after = page.client.execute(theme, vec![]).await.unwrap();
    assert_ne!(
        before, after,
        "the theme button switches between light and dark"
    );
    page.screenshot("active-other-theme").await;

    page.click("#tab-directors").await;
    page.wait_text("#directors tr[data-director=\"d1\"] .applied", "#3")
        .await;
    page.wait_text("#directors tr[data-director=\"d1\"]", "in sync")
        .await;
    page.screenshot("directors").await;

    page.click("#tab-audit").await;
    page.fill("#audit-action", "revision.rollback").await;
    page.click("#audit button[type=submit]").await;
    let entry = page.wait_text("#audit tbody tr", "revision.rollback").await;
    assert!(
        entry.contains("anonymous") && entry.contains("ok"),
        "{entry}"
    );
    let rows = page
        .client
        .find_all(Locator::Css("#audit tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one rollback in the audit log");

    // Someone else edits the draft meanwhile: the page's next edit is refused, and says so.
    page.click("#tab-draft").await;
    page.wait_for(&format!("{rs1} input[name=weight]")).await;
    let other = json!({"address": "172.25.0.34", "forwarding": "nat", "weight": 4});
    server
        .post(
            &format!("/v1/clusters/web/draft/services/{SERVICE}/servers"),
            other,
        )
        .await
        .expect(201);
    page.fill(&format!("{rs1} input[name=weight]"), "7").await;
    page.click(&format!("{rs1} .save-server")).await;
    page.wait_text(
        "#draft .notice.conflict",
        "Conflict: someone changed the draft",
    )
    .await;
    page.wait_for("#draft tr[data-server=\"172.25.0.34:80\"]")
        .await;
    page.screenshot("conflict").await;
    let draft = server
        .get(&format!(
            "/v1/clusters/web/draft/services/{SERVICE}/servers/172.25.0.31:80"
        ))
        .await
        .expect(200);
    assert_eq!(draft.body["weight"], 1, "the refused edit changed nothing");
    page.stop().await;
}

#[tokio::test]
async fn a_token_protected_server_asks_once_per_tab() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lvsd.db");
    let admin = auth_support::make_token(&db, "ada", "admin", None);
    let server = TestServer::start_on(&db);
    let page = Browser::start(&server.http, "token").await;
    page.open("/").await;

    page.wait_text("#token-reason", "needs an access token")
        .await;
    page.screenshot("token").await;
    page.fill("#token-input", &admin).await;
    page.click("#token-save").await;
    page.fill("#new-cluster-name", "secure").await;
    page.click("#create-cluster").await;
    build_nat_service(&page).await;
    commit(&page, "behind a token", 1).await;
    let revision = server.get("/v1/clusters/secure/revisions/1");
    let refused = revision.await;
    assert_eq!(refused.status, 401, "the API itself still wants the token");

    // A reload keeps the token for this tab: no question, the data shows.
    page.open("/#/c/secure/overview").await;
    page.wait_text("#active-number", "#1").await;
    let kept = page
        .client
        .execute("return sessionStorage.getItem('lvsd.token')", vec![])
        .await
        .unwrap();
    assert_eq!(kept, Value::String(admin.clone()));
    let asked = page
        .client
        .execute(
            "return document.getElementById('token-dialog').open",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(asked, Value::Bool(false));
    let audit = auth_support::audit(
        &server.client,
        &server.http,
        &admin,
        "cluster=secure&action=revision.commit",
    )
    .await;
    assert_eq!(
        audit[0]["actor"], "ada",
        "the commit was made with the token"
    );

    // Another token, entered through the header: a viewer may look, and is told why it may not create.
    let viewer = auth_support::make_token(&db, "vera", "viewer", None);
    page.click("#token-button").await;
    page.fill("#token-input", &viewer).await;
    page.click("#token-save").await;
    page.open("/#/").await;
    page.wait_text("#home .cluster-card", "secure").await;
    page.fill("#new-cluster-name", "other").await;
    page.click("#create-cluster").await;
    let refusal = page.wait_text("#home .notice.error", "Refused:").await;
    assert!(refusal.contains("admin"), "{refusal}");
    let denied =
        auth_support::audit(&server.client, &server.http, &admin, "action=access.denied").await;
    assert_eq!(denied[0]["actor"], "vera");
    page.stop().await;
}

/// Two agents report VRRP master for one instance: the directors view shows
/// each one's VRRP state and a banner for the split brain, gone once one
/// steps down.
#[tokio::test]
async fn the_directors_view_shows_vrrp_states_and_flags_a_split_brain() {
    let server = TestServer::start();
    server
        .post("/v1/clusters", json!({ "name": "web" }))
        .await
        .expect(201);
    let seed = json!({ "message": "seed", "spec": common::nat_example() });
    server
        .post("/v1/clusters/web/revisions", seed)
        .await
        .expect(201);
    let report = |state: &str| {
        json!({
            "agent_version": "lvsd 0.1.0", "applied_revision": 1, "report_interval_secs": 30,
            "ha": { "vrrp": [{ "instance": "VI_1", "vrid": 51, "state": state,
                "since": "2026-01-01T00:00:00.000Z", "priority": 100, "transitions": 1 }] },
        })
    };
    for director in ["lb-1", "lb-2"] {
        let path = format!("/v1/clusters/web/directors/{director}");
        server
            .call("PUT", &path, Some(report("master")), None)
            .await
            .expect(200);
    }

    let page = Browser::start(&server.http, "ha").await;
    page.open("/#/c/web/directors").await;
    page.wait_text(
        "#directors .ha-flag",
        "Split brain: VI_1 (vrid 51) has 2 masters (lb-1, lb-2)",
    )
    .await;
    page.wait_text("#directors tr[data-director=\"lb-2\"] .vrrp", "VI_1 master")
        .await;
    page.screenshot("split-brain").await;

    let path = "/v1/clusters/web/directors/lb-2";
    server
        .call("PUT", path, Some(report("backup")), None)
        .await
        .expect(200);
    page.wait_text("#directors tr[data-director=\"lb-2\"] .vrrp", "VI_1 backup")
        .await;
    let banners = page
        .client
        .find_all(Locator::Css("#directors .ha-flag"))
        .await
        .unwrap();
    assert!(banners.is_empty(), "the banner goes with the split brain");
    page.stop().await;
}

/// The page and every module it imports are served from the binary, with
/// their content types, a policy allowing this origin only, and caching
/// that revalidates (304 when unchanged).
#[tokio::test]
async fn the_page_and_its_modules_are_served_with_types_policy_and_caching() {
    let server = TestServer::start();
    let index = server.client.get(server.url("/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    let header =
        |r: &reqwest::Response, name: &str| r.headers()[name].to_str().unwrap().to_string();
    assert_eq!(header(&index, "content-type"), "text/html; charset=utf-8");
    let policy = header(&index, "content-security-policy");
    assert!(
        policy.starts_with("default-src 'self'") && !policy.contains("unsafe"),
        "{policy}"
    );
    assert_eq!(header(&index, "cache-control"), "no-cache");
    let etag = header(&index, "etag");
    let html = index.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "no inline script or style"
    );

    let again = server
        .client
        .get(server.url("/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // Every file the page names, and every module the modules import.
    let mut wanted: Vec<String> = ["app.js", "app.css", "favicon.svg"]
        .map(String::from)
        .to_vec();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(file) = wanted.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let response = server
            .client
            .get(server.url(&format!("/ui/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "/ui/{file}");
        let expected = match file.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => "image/svg+xml",
        };
        assert_eq!(header(&response, "content-type"), expected, "/ui/{file}");
        let text = response.text().await.unwrap();
        for line in text.lines().filter(|l| l.starts_with("import ")) {
            let module = line
                .rsplit("from './")
                .next()
                .unwrap()
                .trim_end_matches("';");
            wanted.push(module.to_string());
        }
    }
    assert!(seen.len() >= 10, "{seen:?}");
    let missing = server
        .client
        .get(server.url("/ui/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
