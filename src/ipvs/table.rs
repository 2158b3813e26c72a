//! The IPVS table as the layers above see it: the netlink driver implements
//! it against a kernel, `MemoryTable` with the kernel's semantics in memory.

use super::error::{BatchError, Error};
use super::types::{Daemon, Info, Op, ServiceEntry, Timeouts};

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

    /// Runs `ops` in order. Stops sending at the first failure; says which
    /// operations took effect.
    fn apply(&mut self, ops: &[Op]) -> Result<(), BatchError>;
}
