//! Faults and hostile load: storage that fills, vanishes, turns read-only or
//! rots; requests built to exhaust memory or connections. Each test starts a
//! real `lvsd serve` and checks what an operator would see.
//!
//! The storage tests mount a small tmpfs, so they need root (CI runs tests
//! as root); they say so plainly when they cannot mount.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestServer;
use serde_json::{Value, json};

/// A tmpfs of a fixed size mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    #[track_caller]
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "lvsd-faults"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "these tests mount a tmpfs and must run as root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills every free byte with one file, returned to be deleted later.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("filler file");
        let block = vec![0u8; 64 * 1024];
        loop {
            match file.write(&block) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        // The last partial blocks.
        while file.write(&[0u8; 512]).is_ok_and(|n| n > 0) {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .args(["-l"])
            .arg(self.dir.path())
            .status();
    }
}

/// A spec of `count` services, each with one real server of `weight`.
fn spec_of(count: usize, weight: u32) -> Value {
    let services: Vec<Value> = (0..count)
        .map(|i| {
            json!({
                "protocol": "tcp",
                "address": format!("10.{}.{}.1", i / 250, i % 250),
                "port": 80,
                "scheduler": "wrr",
                "servers": [{"address": "172.16.0.1", "port": 80, "forwarding": "nat", "weight": weight}]
            })
        })
        .collect();
    json!({ "services": services })
}

async fn commit(server: &TestServer, cluster: &str, spec: Value) -> common::Reply {
    server
        .post(
            &format!("/v1/clusters/{cluster}/revisions"),
            json!({"message": "load", "spec": spec}),
        )
        .await
}

#[tokio::test]
async fn a_full_disk_refuses_writes_by_name_and_they_recover_when_space_returns() {
    let fs = Tmpfs::mount("4m");
    let db = fs.path().join("lvsd.db");
    let server = TestServer::start_with(&db, &[]);
    server
        .post("/v1/clusters", json!({"name": "web"}))
        .await
        .expect(201);
    commit(&server, "web", spec_of(10, 1)).await.expect(201);

    let filler = fs.fill();
    for attempt in 1..=3 {
        let refused = commit(&server, "web", spec_of(400 + attempt, 2)).await;
        assert_eq!(refused.status, 507, "attempt {attempt}: {}", refused.text);
        assert!(
            refused.text.contains("full"),
            "the cause is named: {}",
            refused.text
        );
    }
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, 503, "not ready while full: {}", ready.text);
    assert!(ready.text.contains("full"), "{}", ready.text);

    std::fs::remove_file(filler).expect("filler removed");
    server.get("/readyz").await.expect(200);
    let made = commit(&server, "web", spec_of(400, 3)).await.expect(201);
    let number = made.body["revision"]["number"]
        .as_i64()
        .expect("a revision number");
    let stored = server
        .get(&format!("/v1/clusters/web/revisions/{number}"))
        .await
        .expect(200);
    assert_eq!(
        stored.body["spec"]["services"].as_array().unwrap().len(),
        400
    );
}
