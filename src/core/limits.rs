//! How big a spec may grow: a bound on what one request can make the server
//! store, diff, plan and send to every director.

use super::{Core, Error, Result};
use crate::model::Spec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Virtual services in one spec (`lvsd serve --max-services`).
    pub max_services: usize,
    /// Real servers in one spec, all services together (`--max-servers`).
    pub max_servers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_services: 20_000,
            max_servers: 200_000,
        }
    }
}

impl Limits {
    /// Refuses a spec over the limits; `within` prefixes the field (`spec`).
    pub fn check(&self, spec: &Spec, within: &str) -> Result<()> {
        let field = |name: &str| {
            if within.is_empty() {
                name.to_string()
            } else {
                format!("{within}.{name}")
            }
        };
        let services = spec.services().len();
        if services > self.max_services {
            return Err(Error::invalid(
                field("services"),
                format!(
                    "{services} virtual services: a spec holds at most {} (lvsd serve --max-services)",
                    self.max_services
                ),
            ));
        }
        let servers = spec.server_count();
        if servers > self.max_servers {
            return Err(Error::invalid(
                field("services[].servers"),
                format!(
                    "{servers} real servers in all: a spec holds at most {} (lvsd serve --max-servers)",
                    self.max_servers
                ),
            ));
        }
        Ok(())
    }
}

impl Core {
    pub(crate) fn limits(&self) -> &Limits {
        &self.inner.limits
    }
}
