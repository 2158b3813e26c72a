//! Helpers of the tests/auth_*.rs tests: tokens made with `lvsd token`, and
//! requests that carry them.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::process::Command;

use serde_json::Value;

/// Runs `lvsd ARGS` and returns (success, stdout, stderr).
pub fn lvsd(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(args)
        .output()
        .expect("lvsd runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Makes a token with `lvsd token create` on `db` (a SQLite file, a
/// `postgres://` URL or a `TestDb`) and returns it.
pub fn make_token(db: impl AsRef<OsStr>, name: &str, role: &str, cluster: Option<&str>) -> String {
    let db = db.as_ref().to_str().expect("a UTF-8 --db value");
    let mut args = vec![
        "token", "create", "--db", db, "--name", name, "--role", role,
    ];
    if let Some(cluster) = cluster {
        args.extend(["--cluster", cluster]);
    }
    let (ok, stdout, stderr) = lvsd(&args);
    assert!(ok, "lvsd token create failed: {stderr}");
    let token = stdout.trim().to_string();
    assert!(token.starts_with("lvsd_"), "{stdout}");
    token
}

/// One token per role, made on `db` before the server starts. The agent
/// serves cluster `web`; `stray_agent` serves cluster `db`.
pub struct Tokens {
    pub viewer: String,
    pub operator: String,
    pub admin: String,
    pub agent: String,
    pub stray_agent: String,
}

impl Tokens {
    pub fn make(db: impl AsRef<OsStr>) -> Self {
        let db = db.as_ref();
        Tokens {
            viewer: make_token(db, "vera", "viewer", None),
            operator: make_token(db, "otto", "operator", None),
            admin: make_token(db, "ada", "admin", None),
            agent: make_token(db, "agent-web", "agent", Some("web")),
            stray_agent: make_token(db, "agent-db", "agent", Some("db")),
        }
    }

    /// Every kind of caller: (actor in the audit log, role, agent's cluster, Authorization value).
    pub fn callers(&self) -> Vec<Caller> {
        let bearer = |t: &str| Some(format!("Bearer {t}"));
        vec![
            Caller {
                actor: "unauthenticated",
                role: None,
                cluster: None,
                authorization: None,
            },
            Caller {
                actor: "unauthenticated",
                role: None,
                cluster: None,
                authorization: bearer(
                    "lvsd_0123456789abcdef_0000000000000000000000000000000000000000000000000000000000000000",
                ),
            },
            Caller {
                actor: "vera",
                role: Some("viewer"),
                cluster: None,
                authorization: bearer(&self.viewer),
            },
            Caller {
                actor: "otto",
                role: Some("operator"),
                cluster: None,
                authorization: bearer(&self.operator),
            },
            Caller {
                actor: "ada",
                role: Some("admin"),
                cluster: None,
                authorization: bearer(&self.admin),
            },
            Caller {
                actor: "agent-web",
                role: Some("agent"),
                cluster: Some("web"),
                authorization: bearer(&self.agent),
            },
            Caller {
                actor: "agent-db",
                role: Some("agent"),
                cluster: Some("db"),
                authorization: bearer(&self.stray_agent),
            },
        ]
    }
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: &'static str,
    pub role: Option<&'static str>,
    pub cluster: Option<&'static str>,
    pub authorization: Option<String>,
}

impl Caller {
    /// What the server should answer this caller for `access` on `cluster`:
    /// None when allowed, else the refusal (401 or 403).
    pub fn refusal(&self, access: lvsd::auth::Access, cluster: Option<&str>) -> Option<u16> {
        let Some(role) = self.role else {
            return Some(401);
        };
        let principal = lvsd::auth::Principal {
            name: self.actor.to_string(),
            role: role.parse().expect("a role"),
            cluster: self.cluster.map(str::to_string),
            token_id: None,
        };
        principal.check(access, cluster).err().map(|_| 403)
    }
}

/// A REST request with an optional Authorization value; (status, JSON body).
pub async fn call(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("lvsd answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The audit entries of `action` (newest first), read with `token`.
pub async fn audit(client: &reqwest::Client, base: &str, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = call(
        client,
        base,
        "GET",
        &format!("/v1/audit?limit=1000&{query}"),
        Some(&format!("Bearer {token}")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("a list").clone()
}
