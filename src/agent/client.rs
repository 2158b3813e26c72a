//! The agent's side of the REST API: the long-poll for what to run and the
//! report of what it did, each sent to one of the [`Servers`] (the caller
//! says which, so that it knows which one failed).

use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::servers::Servers;
use crate::contract::agent::{Desired, DirectorReport};

/// How long a report may take before it counts as failed.
const REPORT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the server may take past the long-poll's `wait` to answer.
const WAIT_SLACK: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// No answer, or a failure of the server itself (5xx): try again later.
    #[error("{0}")]
    Unreachable(String),
    /// The server answered and said no (4xx): a token, cluster or director
    /// it does not accept, or a report it cannot take.
    #[error("the server refused: HTTP {status}: {message}")]
    Refused { status: u16, message: String },
}

impl ClientError {
    /// Whether sending the same request again may ever succeed: a refusal of
    /// the request itself (400, 413, 422) will not; a token or cluster the
    /// server does not know yet (401, 403, 404) or a limit (429) might.
    pub fn is_final(&self) -> bool {
        matches!(self, ClientError::Refused { status, .. } if !matches!(status, 401 | 403 | 404 | 408 | 429))
    }
}

/// One director of one cluster, talking to its servers.
#[derive(Clone)]
pub struct ServerClient {
    servers: Servers,
    cluster: String,
    director: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl ServerClient {
    /// `servers`, the servers' base URLs, checked already; `ca`, PEM
    /// certificates to trust for an https server besides the system's.
    pub fn new(
        servers: Servers,
        cluster: &str,
        director: &str,
        token: Option<String>,
        ca: Option<&[u8]>,
    ) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("lvsd-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|err| format!("--ca: not PEM certificates ({err})"))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|err| format!("setting up the HTTP client: {err}"))?;
        Ok(ServerClient {
            servers,
            cluster: cluster.to_string(),
            director: director.to_string(),
            token,
            http,
        })
    }

    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    pub fn servers(&self) -> &Servers {
        &self.servers
    }

    fn cluster_url(&self, at: usize, rest: &str) -> String {
        format!(
            "{}/v1/clusters/{}{rest}",
            self.servers.url(at),
            utf8_percent_encode(&self.cluster, NON_ALPHANUMERIC)
        )
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// What this director should run, asked of server `at`. With `after`
    /// (the revision last received), the server holds the answer until
    /// something changes or `wait` passes.
    pub async fn desired(
        &self,
        at: usize,
        after: Option<i64>,
        wait: Duration,
    ) -> Result<Desired, ClientError> {
        let mut query = vec![
            ("director", self.director.clone()),
            ("wait", format!("{}s", wait.as_secs())),
        ];
        if let Some(after) = after {
            query.push(("after", after.to_string()));
        }
        let request = self
            .http
            .get(self.cluster_url(at, "/desired"))
            .query(&query)
            .timeout(wait + WAIT_SLACK);
        let text = self.send(at, self.authorized(request)).await?;
        serde_json::from_str(&text).map_err(|err| {
            ClientError::Unreachable(format!(
                "the server's desired state is not what this agent expects ({err}): is {} an lvsd server of the same version?",
                self.servers.url(at)
            ))
        })
    }

    /// Sends a report to server `at`: `PUT /v1/clusters/{cluster}/directors/{name}`.
    pub async fn report(&self, at: usize, report: &DirectorReport) -> Result<(), ClientError> {
        let url = self.cluster_url(
            at,
            &format!(
                "/directors/{}",
                utf8_percent_encode(&self.director, NON_ALPHANUMERIC)
            ),
        );
        let request = self.http.put(url).json(report).timeout(REPORT_TIMEOUT);
        self.send(at, self.authorized(request)).await.map(drop)
    }

    async fn send(
        &self,
        at: usize,
        request: reqwest::RequestBuilder,
    ) -> Result<String, ClientError> {
        let base = self.servers.url(at);
        let response = request
            .send()
            .await
            .map_err(|err| ClientError::Unreachable(describe(base, &err)))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|err| ClientError::Unreachable(describe(base, &err)))?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|body| body["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.trim().chars().take(200).collect());
        if status >= 500 {
            Err(ClientError::Unreachable(format!(
                "the server at {base} failed (HTTP {status}): {message}"
            )))
        } else {
            Err(ClientError::Refused { status, message })
        }
    }
}

/// A transport error in words, with its cause (reqwest's own message hides it).
fn describe(base: &str, err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        format!("{base} did not answer in time")
    } else {
        format!("cannot reach {base}")
    };
    let mut source = std::error::Error::source(err);
    let mut last = String::new();
    while let Some(cause) = source {
        last = cause.to_string();
        source = cause.source();
    }
    if !last.is_empty() {
        text.push_str(": ");
        text.push_str(&last);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_that_cannot_change_are_final() {
        let refused = |status| ClientError::Refused {
            status,
            message: String::new(),
        };
        assert!(refused(400).is_final());
        assert!(refused(422).is_final());
        assert!(!refused(401).is_final(), "a token may be created later");
        assert!(!refused(404).is_final(), "a cluster may be created later");
        assert!(!ClientError::Unreachable("down".into()).is_final());
    }
}
