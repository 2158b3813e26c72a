//! [`NetlinkTable`]: the kernel's IPVS table behind the [`IpvsTable`] trait.

use std::collections::BTreeSet;
use std::io;

use super::connection::{Connection, PipelineError};
use super::message::{IpvsCmd, IpvsMessage};
use super::{config, daemon, dest, info, request, service};
use crate::ipvs::error::{BatchError, Error, Outcome, errno};
use crate::ipvs::table::{IpvsTable, Snapshot};
use crate::ipvs::types::{Daemon, DestEntry, Info, Op, Service, ServiceEntry, Stats, Timeouts};
use crate::model::ServiceKey;

/// The IPVS table of the kernel this process runs on (in its network
/// namespace), over one generic netlink socket kept for the table's life.
pub struct NetlinkTable {
    conn: Connection,
}

impl NetlinkTable {
    /// Opens the socket and looks up the IPVS family. [`Error::Unavailable`]
    /// when the kernel has no IPVS.
    pub fn open() -> Result<Self, Error> {
        Ok(NetlinkTable {
            conn: Connection::open()?,
        })
    }

    /// Every service with its counters, in the kernel's order.
    pub fn services(&mut self) -> Result<Vec<(Service, Stats)>, Error> {
        let replies = self
            .conn
            .dump(request::get(IpvsCmd::GetService))?
            .map_err(|e| Error::read("listing services", e))?;
        replies
            .iter()
            .filter_map(|msg| msg.service())
            .map(|attrs| {
                service::parse_entry(attrs)
                    .map_err(|e| Error::Decode(format!("listing services: {e}")))
            })
            .collect()
    }

    /// One service with its counters; `None` when there is no such service.
    pub fn service(&mut self, key: &ServiceKey) -> Result<Option<(Service, Stats)>, Error> {
        let what = || format!("reading service {}", crate::ipvs::error::service_name(key));
        match self.conn.request(request::get_service(key))? {
            Ok(replies) => match replies.iter().find_map(IpvsMessage::service) {
                Some(attrs) => Ok(Some(
                    service::parse_entry(attrs)
                        .map_err(|e| Error::Decode(format!("{}: {e}", what())))?,
                )),
                None => Ok(None),
            },
            Err(errno::ESRCH) => Ok(None),
            Err(code) => Err(Error::read(&what(), code)),
        }
    }

    /// The real servers of one service, with their counters, in the kernel's
    /// order. A service that does not exist has none (the kernel says no more).
    pub fn dests(&mut self, key: &ServiceKey) -> Result<Vec<DestEntry>, Error> {
        let what = || {
            format!(
                "listing the real servers of {}",
                crate::ipvs::error::service_name(key)
            )
        };
        let replies = self
            .conn
            .dump_as::<dest::DestReply>(request::get_dests(key))?
            .map_err(|e| Error::read(&what(), e))?;
        let service_af = service::af(key.family());
        replies
            .into_iter()
            .map(|reply| {
                reply
                    .into_entry(service_af)
                    .map_err(|e| Error::Decode(format!("{}: {e}", what())))
            })
            .collect()
    }

    pub fn timeouts(&mut self) -> Result<Timeouts, Error> {
        let replies = self
            .conn
            .request(request::get(IpvsCmd::GetConfig))?
            .map_err(|e| Error::read("reading the timeouts", e))?;
        Ok(config::parse(replies.iter().flat_map(|msg| msg.config())))
    }

    /// Running sync daemons, master first.
    pub fn daemons(&mut self) -> Result<Vec<Daemon>, Error> {
        let replies = self
            .conn
            .dump(request::get(IpvsCmd::GetDaemon))?
            .map_err(|e| Error::read("listing sync daemons", e))?;
        let mut daemons = replies
            .iter()
            .filter_map(|msg| msg.daemon())
            .map(|attrs| {
                daemon::parse(attrs)
                    .map_err(|e| Error::Decode(format!("listing sync daemons: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        daemons.sort_by_key(|d| d.role);
        Ok(daemons)
    }

    /// Zeroes the counters of one service, or of all.
    pub fn zero(&mut self, key: Option<ServiceKey>) -> Result<(), BatchError> {
        self.apply(&[Op::Zero(key)])
    }

    /// Deletes every service and real server.
    pub fn flush(&mut self) -> Result<(), BatchError> {
        self.apply(&[Op::Flush])
    }
}

impl IpvsTable for NetlinkTable {
    fn info(&mut self) -> Result<Info, Error> {
        let replies = self
            .conn
            .request(request::get(IpvsCmd::GetInfo))?
            .map_err(|e| Error::read("reading IPVS information", e))?;
        info::parse(replies.iter().flat_map(|msg| msg.info()))
            .map_err(|e| Error::Decode(e.to_string()))
    }

    fn snapshot(&mut self) -> Result<Snapshot, Error> {
        let mut services = Vec::new();
        // One dump at a time per socket: the service list first, then each
        // service's real servers.
        for (service, stats) in self.services()? {
            let mut dests = self.dests(&service.key)?;
            dests.sort_by_key(|d| d.dest.key);
            services.push(ServiceEntry {
                service,
                stats,
                dests,
            });
        }
        services.sort_by_key(|s| s.service.key);
        Ok(Snapshot {
            services,
            timeouts: self.timeouts()?,
            daemons: self.daemons()?,
        })
    }

    /// One GET_SERVICE and one dump of real servers per service named, then
    /// the timeouts and daemons: no dump of the whole table.
    fn snapshot_of(&mut self, keys: &BTreeSet<ServiceKey>) -> Result<Snapshot, Error> {
        let mut services = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some((service, stats)) = self.service(key)? {
                let mut dests = self.dests(key)?;
                dests.sort_by_key(|d| d.dest.key);
                services.push(ServiceEntry {
                    service,
                    stats,
                    dests,
                });
            }
        }
        Ok(Snapshot {
            services,
            timeouts: self.timeouts()?,
            daemons: self.daemons()?,
        })
    }

    fn apply(&mut self, ops: &[Op]) -> Result<(), BatchError> {
        if ops.is_empty() {
            return Ok(());
        }
        let requests = ops.iter().map(request::for_op).collect();
        // After a socket failure, requests sent but unanswered may or may not
        // have taken effect; with no failure, unanswered means never sent.
        let (results, mut lost, sent) = match self.conn.pipeline(requests) {
            Ok(results) => (results, None, 0),
            Err(PipelineError {
                error,
                results,
                sent,
            }) => (results, Some(error), sent),
        };
        let outcomes: Vec<Outcome> = ops
            .iter()
            .zip(results)
            .enumerate()
            .map(|(i, (op, result))| match result {
                Some(Ok(())) => Outcome::Applied,
                Some(Err(code)) => Outcome::Failed(Error::kernel(op, code)),
                None if i < sent => Outcome::Failed(lost.take().unwrap_or_else(|| {
                    Error::Io(io::Error::other(
                        "no answer from the kernel: the socket failed earlier in the batch",
                    ))
                })),
                None => Outcome::NotSent,
            })
            .collect();
        if outcomes.iter().all(|o| matches!(o, Outcome::Applied)) {
            Ok(())
        } else {
            Err(BatchError { outcomes })
        }
    }
}
