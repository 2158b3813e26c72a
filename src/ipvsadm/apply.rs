//! Commands applied to a table with the kernel's semantics: adding what
//! exists or changing what does not is an error, as it is for ipvsadm.
//!
//! The table is kept in maps while reading (scripts reach tens of thousands
//! of lines) and becomes a `Spec` once, at the end.

use std::collections::BTreeMap;

use super::ParseError;
use super::command::{Command, Target};
use crate::model::{
    RealServer, ServerKey, ServiceKey, Spec, SyncDaemon, Timeouts, ValidationError, VirtualService,
};

/// The table a script builds, line by line.
#[derive(Debug, Default)]
pub(super) struct Table {
    services: BTreeMap<ServiceKey, Entry>,
    timeouts: Timeouts,
    daemons: Vec<SyncDaemon>,
}

#[derive(Debug)]
struct Entry {
    /// The service's settings; its real servers are kept apart.
    service: VirtualService,
    servers: BTreeMap<ServerKey, RealServer>,
}

impl Table {
    pub fn apply(&mut self, command: Command) -> Result<(), ParseError> {
        match command {
            Command::AddService(target, service) => {
                if self.services.contains_key(&target.key) {
                    return Err(target.at.error(format!(
                        "service {} already exists (-E changes it)",
                        target.key
                    )));
                }
                self.services.insert(
                    target.key,
                    Entry {
                        service,
                        servers: BTreeMap::new(),
                    },
                );
            }
            Command::EditService(target, service) => self.existing(&target)?.service = service,
            Command::DeleteService(target) => {
                self.existing(&target)?;
                self.services.remove(&target.key);
            }
            // Flushing removes services only: timeouts and daemons stay.
            Command::Clear => self.services.clear(),
            Command::AddServer(target, at, server) => {
                let servers = &mut self.defined(&target)?.servers;
                if servers.contains_key(&server.key) {
                    let why = format!(
                        "real server {} already exists in {} (-e changes it)",
                        server.key, target.key
                    );
                    return Err(at.error(why));
                }
                servers.insert(server.key, server);
            }
            Command::EditServer(target, at, server) => {
                let servers = &mut self.defined(&target)?.servers;
                let key = server.key;
                let old = servers.get_mut(&key);
                *old.ok_or_else(|| at.error(format!("no real server {key} in {}", target.key)))? =
                    server;
            }
            Command::DeleteServer(target, at, key) => {
                if self.defined(&target)?.servers.remove(&key).is_none() {
                    return Err(at.error(format!("no real server {key} in {}", target.key)));
                }
            }
            Command::SetTimeouts(timeouts) => {
                self.timeouts.tcp = timeouts.tcp.or(self.timeouts.tcp);
                self.timeouts.tcpfin = timeouts.tcpfin.or(self.timeouts.tcpfin);
                self.timeouts.udp = timeouts.udp.or(self.timeouts.udp);
            }
            Command::StartDaemon(at, daemon) => {
                if self.daemons.iter().any(|d| d.role == daemon.role) {
                    return Err(at.error(format!(
                        "a {} sync daemon is already started",
                        daemon.role.as_str()
                    )));
                }
                self.daemons.push(daemon);
            }
            Command::StopDaemon(at, role) => {
                if !self.daemons.iter().any(|d| d.role == role) {
                    return Err(at.error(format!("no {} sync daemon is running", role.as_str())));
                }
                self.daemons.retain(|d| d.role != role);
            }
            Command::NoChange(None) => {}
            Command::NoChange(Some(target)) => {
                self.existing(&target)?;
            }
        }
        Ok(())
    }

    /// The service `-E`/`-D`/`-Z`/`-L` name (the kernel's ESRCH "No such service").
    fn existing(&mut self, target: &Target) -> Result<&mut Entry, ParseError> {
        let missing = || target.at.error(format!("no such service {}", target.key));
        self.services.get_mut(&target.key).ok_or_else(missing)
    }

    /// The service `-a`/`-e`/`-d` work in (the kernel's ESRCH "Service not defined").
    fn defined(&mut self, target: &Target) -> Result<&mut Entry, ParseError> {
        let missing = || {
            target.at.error(format!(
                "service {} is not defined: add it with -A first",
                target.key
            ))
        };
        self.services.get_mut(&target.key).ok_or_else(missing)
    }

    /// The spec the table holds.
    pub fn into_spec(self) -> Result<Spec, ValidationError> {
        let services = self
            .services
            .into_values()
            .map(|entry| {
                entry
                    .service
                    .with_servers(entry.servers.into_values().collect())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Spec::new(services, self.timeouts, self.daemons)
    }
}
