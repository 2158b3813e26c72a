//! Commands applied to a spec with the kernel's semantics: adding what exists
//! or changing what does not is an error, as it is for ipvsadm.

use super::ParseError;
use super::command::{Command, Target};
use crate::model::{Spec, ValidationError, VirtualService};

pub(super) fn apply(spec: Spec, command: Command) -> Result<Spec, ParseError> {
    match command {
        Command::AddService(target, service) => {
            if spec.service(&target.key).is_some() {
                return Err(target.at.error(format!(
                    "service {} already exists (-E changes it)",
                    target.key
                )));
            }
            Ok(spec.with_service(service))
        }
        Command::EditService(target, service) => {
            let old = existing(&spec, &target)?;
            let service = service
                .with_servers(old.servers().to_vec())
                .map_err(|e| target.at.error(e.message))?;
            Ok(spec.with_service(service))
        }
        Command::DeleteService(target) => {
            existing(&spec, &target)?;
            Ok(spec.without_service(&target.key).unwrap_or(spec))
        }
        Command::Clear => {
            // Flushing removes services only: timeouts and daemons stay.
            Spec::new(Vec::new(), spec.timeouts, spec.sync_daemons().to_vec()).map_err(internal)
        }
        Command::AddServer(target, at, server) => {
            let service = defined(&spec, &target)?;
            if service.server(&server.key).is_some() {
                return Err(at.error(format!(
                    "real server {} already exists in {} (-e changes it)",
                    server.key, target.key
                )));
            }
            let mut servers = service.servers().to_vec();
            servers.push(server);
            let service = service
                .with_servers(servers)
                .map_err(|e| at.error(e.message))?;
            Ok(spec.with_service(service))
        }
        Command::EditServer(target, at, server) => {
            let service = defined(&spec, &target)?;
            if service.server(&server.key).is_none() {
                return Err(at.error(format!("no real server {} in {}", server.key, target.key)));
            }
            let servers = service
                .servers()
                .iter()
                .map(|s| if s.key == server.key { server } else { *s })
                .collect();
            let service = service
                .with_servers(servers)
                .map_err(|e| at.error(e.message))?;
            Ok(spec.with_service(service))
        }
        Command::DeleteServer(target, at, key) => {
            let service = defined(&spec, &target)?;
            if service.server(&key).is_none() {
                return Err(at.error(format!("no real server {key} in {}", target.key)));
            }
            let servers = service
                .servers()
                .iter()
                .filter(|s| s.key != key)
                .copied()
                .collect();
            let service = service
                .with_servers(servers)
                .map_err(|e| at.error(e.message))?;
            Ok(spec.with_service(service))
        }
        Command::SetTimeouts(timeouts) => {
            let mut spec = spec;
            spec.timeouts.tcp = timeouts.tcp.or(spec.timeouts.tcp);
            spec.timeouts.tcpfin = timeouts.tcpfin.or(spec.timeouts.tcpfin);
            spec.timeouts.udp = timeouts.udp.or(spec.timeouts.udp);
            Ok(spec)
        }
        Command::StartDaemon(at, daemon) => {
            if spec.sync_daemons().iter().any(|d| d.role == daemon.role) {
                return Err(at.error(format!(
                    "a {} sync daemon is already started",
                    daemon.role.as_str()
                )));
            }
            let mut daemons = spec.sync_daemons().to_vec();
            daemons.push(daemon);
            spec.with_sync_daemons(daemons)
                .map_err(|e| at.error(e.message))
        }
        Command::StopDaemon(at, role) => {
            if !spec.sync_daemons().iter().any(|d| d.role == role) {
                return Err(at.error(format!("no {} sync daemon is running", role.as_str())));
            }
            let daemons = spec
                .sync_daemons()
                .iter()
                .filter(|d| d.role != role)
                .cloned()
                .collect();
            spec.with_sync_daemons(daemons)
                .map_err(|e| at.error(e.message))
        }
        Command::NoChange(None) => Ok(spec),
        Command::NoChange(Some(target)) => {
            existing(&spec, &target)?;
            Ok(spec)
        }
    }
}

/// The service `-E`/`-D`/`-Z`/`-L` name (the kernel's ESRCH "No such service").
fn existing<'a>(spec: &'a Spec, target: &Target) -> Result<&'a VirtualService, ParseError> {
    spec.service(&target.key)
        .ok_or_else(|| target.at.error(format!("no such service {}", target.key)))
}

/// The service `-a`/`-e`/`-d` work in (the kernel's ESRCH "Service not defined").
fn defined<'a>(spec: &'a Spec, target: &Target) -> Result<&'a VirtualService, ParseError> {
    spec.service(&target.key).ok_or_else(|| {
        target.at.error(format!(
            "service {} is not defined: add it with -A first",
            target.key
        ))
    })
}

/// An error from a spec operation that cannot fail on a valid spec.
fn internal(err: ValidationError) -> ParseError {
    ParseError::new(0, format!("internal: {err}"))
}
