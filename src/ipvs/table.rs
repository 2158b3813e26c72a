//! The IPVS table as the layers above see it: the netlink driver implements
//! it against a kernel, `MemoryTable` with the kernel's semantics in memory.

use std::collections::BTreeSet;

use super::error::{BatchError, Error};
use super::types::{Daemon, Info, Op, ServiceEntry, Timeouts};
use crate::model::ServiceKey;

/// Everything a table holds, read at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Services with their real servers and counters, sorted by key;
    /// real servers sorted by key.
    pub services: Vec<ServiceEntry>,
    pub timeouts: Timeouts,
    pub daemons: Vec<Daemon>,
}

pub trait IpvsTable {
    fn info(&mut self) -> Result<Info, Error>;

    /// Reads the whole table: services, real servers, counters, timeouts, daemons.
    fn snapshot(&mut self) -> Result<Snapshot, Error>;

    /// Reads part of the table: the services `keys` names (those it has, with
    /// their real servers and counters), the timeouts and the sync daemons.
    /// Lets a caller that knows the rest of the table check what it touches
    /// without dumping everything. The default reads the whole table.
    fn snapshot_of(&mut self, keys: &BTreeSet<ServiceKey>) -> Result<Snapshot, Error> {
        let mut snapshot = self.snapshot()?;
        snapshot
            .services
            .retain(|entry| keys.contains(&entry.service.key));
        Ok(snapshot)
    }

    /// Runs `ops` in order. Stops sending at the first failure; says which
    /// operations took effect.
    fn apply(&mut self, ops: &[Op]) -> Result<(), BatchError>;

    /// The connection entries (`ipvsadm -Lcn`). The kernel lists them in
    /// `/proc/net/ip_vs_conn` only, which the default reads.
    fn connections(&mut self) -> Result<Vec<super::conns::Connection>, Error> {
        super::conns::read()
            .map_err(|e| Error::Unavailable(format!("reading the connection table: {e}")))
    }
}
