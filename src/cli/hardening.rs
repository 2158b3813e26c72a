//! The security and limit flags of `lvsd serve`: TLS, whether an open
//! (tokenless) server may listen beyond loopback, and the bounds that keep
//! hostile or broken clients from taking the server down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tokio::net::TcpListener;

use crate::api::listener::{ConnLimits, Listener, TlsFiles, tls_config};
use crate::api::{grpc, rest};
use crate::core::Limits;

#[derive(Debug, Args)]
pub struct HardeningArgs {
    /// Serve both APIs over TLS with this PEM certificate chain (leaf first).
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        env = "LVSD_TLS_CERT",
        help_heading = "Security"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_cert",
        env = "LVSD_TLS_KEY",
        help_heading = "Security"
    )]
    pub tls_key: Option<PathBuf>,
    /// Require every client to present a certificate signed by this PEM CA
    /// (mutual TLS, e.g. for agents). Tokens still decide what a client may do.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_cert",
        env = "LVSD_TLS_CLIENT_CA",
        help_heading = "Security"
    )]
    pub tls_client_ca: Option<PathBuf>,
    /// Serve an open API (no tokens in the database) on addresses other than
    /// loopback: anyone who reaches it can change the load balancers.
    #[arg(long, help_heading = "Security")]
    pub allow_open: bool,

    /// Longest a request may take, body included (REST: 503; gRPC: the call is cancelled).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration, help_heading = "Limits")]
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers, or stay idle between requests (REST).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration, help_heading = "Limits")]
    pub header_timeout: Duration,
    /// Open connections per API; past it new ones wait in the kernel's backlog.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1024,
        help_heading = "Limits"
    )]
    pub max_connections: usize,
    /// Open connections per API from one client address; past it new ones are closed.
    #[arg(long, value_name = "N", default_value_t = 256, help_heading = "Limits")]
    pub max_connections_per_client: usize,
    /// Requests served at once (REST; gRPC: a quarter of it); more wait, within --request-timeout.
    #[arg(long, value_name = "N", default_value_t = 512, help_heading = "Limits")]
    pub max_in_flight: usize,
    /// Virtual services in one spec.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_services, help_heading = "Limits")]
    pub max_services: usize,
    /// Real servers in one spec, all services together.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_servers, help_heading = "Limits")]
    pub max_servers: usize,
}

impl HardeningArgs {
    pub fn spec_limits(&self) -> Limits {
        Limits {
            max_services: self.max_services,
            max_servers: self.max_servers,
        }
    }

    fn conn_limits(&self) -> anyhow::Result<ConnLimits> {
        anyhow::ensure!(
            self.max_connections > 0,
            "--max-connections must be at least 1"
        );
        anyhow::ensure!(
            self.max_connections_per_client > 0,
            "--max-connections-per-client must be at least 1"
        );
        anyhow::ensure!(self.max_in_flight > 0, "--max-in-flight must be at least 1");
        Ok(ConnLimits {
            max_connections: self.max_connections,
            max_per_client: self.max_connections_per_client,
            ..ConnLimits::default()
        })
    }

    /// Refuses to serve an open API beyond loopback unless --allow-open, and
    /// returns the warnings to print.
    pub fn check_exposure(&self, open: bool, addrs: &[SocketAddr]) -> anyhow::Result<Vec<String>> {
        let exposed: Vec<String> = addrs
            .iter()
            .filter(|a| !a.ip().is_loopback())
            .map(ToString::to_string)
            .collect();
        let mut warnings = Vec::new();
        if open {
            if !exposed.is_empty() && !self.allow_open {
                anyhow::bail!(
                    "refusing to serve an OPEN API on {}: the database has no access tokens, so anyone who reaches it could change the load balancers. \
                     Make one first (`lvsd token create --role admin --name NAME --db FILE`), listen on loopback only, or pass --allow-open",
                    exposed.join(", ")
                );
            }
            warnings.push(
                "WARNING: the API is OPEN: there are no access tokens, so anyone who can reach it can change the load balancers; \
                 `lvsd token create --role admin --name NAME --db FILE` closes it"
                    .to_string(),
            );
            if !exposed.is_empty() {
                warnings.push(format!(
                    "WARNING: --allow-open: the OPEN API listens beyond loopback, on {}",
                    exposed.join(", ")
                ));
            }
        } else if self.tls_cert.is_none() && !exposed.is_empty() {
            warnings.push(format!(
                "WARNING: no TLS (--tls-cert, --tls-key): access tokens cross the network in clear text to {}",
                exposed.join(", ")
            ));
        }
        Ok(warnings)
    }

    /// The REST and gRPC listeners, with TLS when asked.
    pub fn listeners(
        &self,
        http: TcpListener,
        grpc: TcpListener,
    ) -> anyhow::Result<(Listener, Listener)> {
        let limits = self.conn_limits()?;
        let (rest_tls, grpc_tls) = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                let files = TlsFiles {
                    cert,
                    key,
                    client_ca: self.tls_client_ca.as_deref(),
                };
                (
                    Some(tls_config(&files, &[b"http/1.1"])?),
                    Some(tls_config(&files, &[b"h2"])?),
                )
            }
            _ => (None, None),
        };
        Ok((
            Listener::new(http, rest_tls, limits),
            Listener::new(grpc, grpc_tls, limits),
        ))
    }

    pub fn rest_options(&self, cors_origins: Vec<axum::http::HeaderValue>) -> rest::Options {
        rest::Options {
            cors_origins,
            request_timeout: self.request_timeout,
            max_in_flight: self.max_in_flight,
            header_timeout: self.header_timeout,
            ..rest::Options::default()
        }
    }

    pub fn grpc_options(&self) -> grpc::Options {
        grpc::Options {
            request_timeout: self.request_timeout,
            max_in_flight: (self.max_in_flight / 4).max(1),
            ..grpc::Options::default()
        }
    }
}
