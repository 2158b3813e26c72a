//! The host settings an agent keeps in step with its revision: a
//! director's VIPs, forwarding and FULLNAT rules, or a real server's VIPs
//! kept quiet on `lo`/`tunl0` (see [`crate::host`]).
//!
//! They follow the table, never lead it: a failure here is reported and
//! tried again at the next step, and leaves the IPVS table as applied.

use std::path::PathBuf;

use crate::host::{self, HostError, HostPlan, HostReport, HostState, Role, Selector};
use crate::model::Spec;

/// One role's host settings on this host, and how the last attempt went.
pub struct HostSetup {
    /// Where the records of what lvsd added are kept (`director.json`, `realserver.json`).
    dir: PathBuf,
    role: Role,
    /// The director's name, for its own host settings (`host.directors`).
    name: String,
    /// Loaded at the first attempt, and again after a failed load.
    state: Option<HostState>,
    /// Why the last attempt failed; empty when it succeeded.
    errors: Vec<String>,
}

impl HostSetup {
    pub fn new(dir: PathBuf, role: Role, name: &str) -> Self {
        HostSetup {
            dir,
            role,
            name: name.to_string(),
            state: None,
            errors: Vec::new(),
        }
    }

    /// Whether the last attempt failed: the next step tries again.
    pub fn failing(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Why the last attempt failed, for the report.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Makes this host match `spec` for the role, and takes back what lvsd
    /// added that `spec` no longer asks for. Returns whether the outcome is
    /// worth a report: something changed, it failed, or it works again.
    pub fn apply(&mut self, spec: &Spec) -> bool {
        let was_failing = self.failing();
        match self.try_apply(spec) {
            Ok(report) => {
                self.errors.clear();
                for change in &report.changes {
                    tracing::info!(role = self.role.as_str(), "host: {change}");
                }
                if was_failing {
                    tracing::info!(role = self.role.as_str(), "host settings applied again");
                }
                was_failing || !report.changes.is_empty()
            }
            Err(err) => {
                let error = format!(
                    "host settings ({}): {err}; the IPVS table stays applied, retrying at the next step",
                    self.role.as_str()
                );
                tracing::error!("{error}");
                let news = self.errors != [error.clone()];
                self.errors = vec![error];
                news
            }
        }
    }

    fn try_apply(&mut self, spec: &Spec) -> Result<HostReport, HostError> {
        let state = match &mut self.state {
            Some(state) => state,
            None => self
                .state
                .insert(HostState::load(&self.dir, self.role).map_err(HostError::State)?),
        };
        let plan = match self.role {
            Role::Director => HostPlan::for_director(spec, &self.name),
            // The services this host serves: those with a real server at one of its own addresses.
            Role::Realserver => HostPlan::for_realserver(
                spec,
                &Selector::LocalAddresses(host::local_addresses(state)?),
            ),
        };
        host::apply(&plan, state)
    }
}
