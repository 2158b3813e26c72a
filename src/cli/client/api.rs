//! The REST API as the command line sees it: one blocking call per request,
//! errors turned into [`Failure`]s, and the documents it reads.

use std::time::Duration;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Failure;
use crate::model::Spec;

/// Characters escaped in a path segment: ids such as `udp:[2001:db8::1]:53`
/// keep their `:` and lose their brackets.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// One path segment, escaped.
pub fn seg(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

pub enum Body {
    Empty,
    Json(Value),
    Text(String),
}

/// A successful reply.
pub struct Reply {
    pub etag: Option<String>,
    pub text: String,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_str(&self.text)
            .map_err(|err| Failure::Unreachable(format!("the server's reply is not what lvsd expects ({err}): is it an lvsd server of this version?")))
    }

    pub fn value(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

/// The TLS files of a client (`--ca`, `--client-cert`, `--client-key`).
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// CA certificates (PEM) trusted besides the system's.
    pub ca: Option<std::path::PathBuf>,
    /// A client certificate chain and its key (PEM), for servers that ask for one.
    pub client_cert: Option<std::path::PathBuf>,
    pub client_key: Option<std::path::PathBuf>,
}

impl TlsFiles {
    fn apply(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, Failure> {
        let read = |path: &std::path::Path, what: &str| {
            std::fs::read(path)
                .map_err(|err| Failure::Local(format!("{what} {}: {err}", path.display())))
        };
        if let Some(path) = &self.ca {
            let pem = read(path, "--ca")?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
                Failure::Usage(format!(
                    "--ca {}: not PEM certificates ({err})",
                    path.display()
                ))
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let mut pem = read(cert, "--client-cert")?;
                pem.push(b'\n');
                pem.extend(read(key, "--client-key")?);
                let identity = reqwest::Identity::from_pem(&pem).map_err(|err| {
                    Failure::Usage(format!(
                        "--client-cert/--client-key: not a PEM certificate and key ({err})"
                    ))
                })?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(Failure::Usage(
                    "--client-cert and --client-key go together".to_string(),
                ));
            }
        }
        Ok(builder)
    }
}

pub struct Api {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Api {
    pub fn new(base: &str, token: Option<String>, tls: &TlsFiles) -> Result<Self, Failure> {
        let base = base.trim_end_matches('/').to_string();
        let https = match reqwest::Url::parse(&base) {
            Ok(url) if url.scheme() == "http" => false,
            Ok(url) if url.scheme() == "https" => true,
            _ => {
                return Err(Failure::Usage(format!(
                    "--server {base}: not a server URL; expected http://HOST:PORT or https://HOST:PORT, e.g. http://127.0.0.1:7080"
                )));
            }
        };
        let mut builder = reqwest::Client::builder();
        if https {
            builder = tls.apply(builder.use_rustls_tls())?;
        }
        let http = builder
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("lvsd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| Failure::Local(format!("cannot set up HTTP: {err}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| Failure::Local(format!("cannot start the I/O runtime: {err}")))?;
        Ok(Api {
            base,
            token,
            http,
            runtime,
        })
    }

    /// Sends one request; any status from 400 up becomes a [`Failure`].
    pub fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
        if_match: Option<&str>,
    ) -> Result<Reply, Failure> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        request = match body {
            Body::Empty => request,
            Body::Json(value) => request
                .header("content-type", "application/json")
                .body(value.to_string()),
            Body::Text(text) => request
                .header("content-type", "text/plain; charset=utf-8")
                .body(text),
        };
        let base = &self.base;
        let (status, etag, text) = self
            .runtime
            .block_on(async {
                let response = request.send().await?;
                let status = response.status().as_u16();
                let etag = response
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let text = response.text().await?;
                Ok::<_, reqwest::Error>((status, etag, text))
            })
            .map_err(|err| unreachable(base, &err))?;
        if status >= 400 {
            return Err(Failure::from_reply(base, status, &text));
        }
        Ok(Reply { etag, text })
    }

    pub fn get(&self, path: &str) -> Result<Reply, Failure> {
        self.send(Method::GET, path, Body::Empty, None)
    }

    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.get(path)?.json()
    }

    pub fn cluster(&self, cluster: &str) -> Result<ClusterInfo, Failure> {
        self.get_json(&format!("/v1/clusters/{}", seg(cluster)))
    }

    pub fn draft(&self, cluster: &str) -> Result<Draft, Failure> {
        self.get_json(&format!("/v1/clusters/{}/draft", seg(cluster)))
    }
}

fn unreachable(base: &str, err: &reqwest::Error) -> Failure {
    // The innermost cause says it best ("Connection refused (os error 111)").
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let what = if err.is_timeout() {
        "timed out".to_string()
    } else {
        cause.to_string()
    };
    Failure::Unreachable(format!(
        "cannot reach the lvsd server at {base}: {what}\n  hint: is `lvsd serve` running there? Point at another with --server URL or LVSD_SERVER"
    ))
}

/// `GET /v1/clusters/{cluster}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ClusterInfo {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub created_by: String,
    pub active_revision: Option<i64>,
    pub latest_revision: Option<i64>,
    #[serde(default)]
    pub draft_etag: String,
    #[serde(default)]
    pub draft_dirty: bool,
    /// A commit waiting for `lvsd confirm`.
    #[serde(default)]
    pub pending_confirm: Option<super::directors::PendingConfirm>,
}

/// `GET /v1/clusters/{cluster}/draft`.
#[derive(Debug, Clone, Deserialize)]
pub struct Draft {
    pub etag: String,
    pub version: i64,
    #[serde(default)]
    pub updated_at: String,
    #[serde(default)]
    pub updated_by: String,
    pub base_revision: Option<i64>,
    pub dirty: bool,
    pub spec: Value,
}

/// A revision; `spec` is left out of listings.
#[derive(Debug, Clone, Deserialize)]
pub struct Revision {
    pub number: i64,
    pub parent: Option<i64>,
    pub author: String,
    pub message: String,
    pub created_at: String,
    #[serde(default)]
    pub rollback_of: Option<i64>,
    pub active: bool,
    pub services: usize,
    pub servers: usize,
    #[serde(default)]
    pub spec: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RevisionPage {
    pub revisions: Vec<Revision>,
    pub next_before: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitOutcome {
    pub created: bool,
    pub revision: Revision,
    /// With --confirm: the confirmation the commit waits for.
    #[serde(default)]
    pub confirm: Option<super::directors::PendingConfirm>,
}

/// A spec the server sent, validated as the model does.
pub fn spec_of(value: &Value) -> Result<Spec, Failure> {
    Spec::from_json(value.to_string().as_bytes()).map_err(|err| {
        Failure::Unreachable(format!(
            "the server sent a spec lvsd cannot read ({err}): is it an lvsd server of this version?"
        ))
    })
}
