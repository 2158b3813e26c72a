//! Host settings of directors and real servers: what the IPVS table alone
//! does not do.
//!
//! - A director binds its VIPs (/32, /128) on an interface (a dummy `lvs0`
//!   lvsd creates, by default), turns on forwarding for nat and fullnat, and
//!   for fullnat sets `net.ipv4.vs.conntrack=1` and source-NATs the packets
//!   it forwards to fullnat real servers in an nftables table of its own.
//! - A real server of DR services holds the VIP on `lo` with ARP kept quiet
//!   (`arp_ignore=1`, `arp_announce=2`); of TUN services, on `tunl0` (up,
//!   from the ipip module) with reverse-path filtering off.
//!
//! Planning is pure ([`HostPlan::for_director`], [`HostPlan::for_realserver`]);
//! [`apply`] makes the host match a plan and [`clean`] takes everything back.
//! A [`HostState`] per role remembers what lvsd added: lvsd removes only
//! that, and puts back a setting it changed when its reason for it goes
//! (unless someone changed it since).
//!
//! An engine calls, after each apply of the IPVS table:
//! ```no_run
//! # use lvsd::host::{self, HostPlan, HostState, Role};
//! # fn run(spec: &lvsd::model::Spec) -> Result<(), Box<dyn std::error::Error>> {
//! let mut state = HostState::load(host::DEFAULT_STATE_DIR.as_ref(), Role::Director)?;
//! let report = host::apply(&HostPlan::for_director(spec, "d1"), &mut state)?;
//! print!("{report}");
//! # Ok(()) }
//! ```

mod apply;
pub mod nft;
mod plan;
pub mod rtnl;
mod state;
mod sysctl;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io;

pub use apply::{apply, apply_ipvs_sysctls, clean, local_addresses};
pub use nft::{NftFamily, SnatRule};
pub use plan::{
    HostPlan, IPIP_TUNNEL, IPVS_SYSCTLS, PlannedAddress, PlannedLink, PlannedSysctl, Role,
    Selector, sysctl_name,
};
pub use state::{ChangedSysctl, DEFAULT_STATE_DIR, HostState, NftTable, Records};

/// Why a host change failed, naming what lvsd was doing.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{what}: {source}")]
    Netlink { what: String, source: io::Error },
    #[error("{action} {name}: {source}")]
    Sysctl {
        name: String,
        action: &'static str,
        source: io::Error,
    },
    #[error("{0}")]
    Nft(String),
    #[error("{0}")]
    Missing(String),
    #[error("state file: {0}")]
    State(String),
}

impl HostError {
    fn netlink(what: impl Into<String>, source: io::Error) -> Self {
        HostError::Netlink {
            what: what.into(),
            source,
        }
    }
}

/// One change made to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    LinkCreated(String),
    LinkUp(String),
    LinkDown(String),
    LinkDeleted(String),
    AddressAdded(PlannedAddress),
    AddressRemoved(PlannedAddress),
    Sysctl {
        name: String,
        from: String,
        to: String,
        reason: &'static str,
    },
    SysctlRestored {
        name: String,
        to: String,
    },
    NftWritten {
        family: NftFamily,
        rules: usize,
        target: String,
    },
    NftDeleted(NftFamily),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::LinkCreated(name) => write!(f, "+ interface {name} (dummy), up"),
            Change::LinkUp(name) => write!(f, "~ interface {name} up"),
            Change::LinkDown(name) => write!(f, "~ interface {name} down (as it was)"),
            Change::LinkDeleted(name) => write!(f, "- interface {name}"),
            Change::AddressAdded(a) => write!(f, "+ address {a}"),
            Change::AddressRemoved(a) => write!(f, "- address {a}"),
            Change::Sysctl {
                name,
                from,
                to,
                reason,
            } => write!(f, "~ {name} = {to} (was {from}): {reason}"),
            Change::SysctlRestored { name, to } => write!(f, "~ {name} = {to} (restored)"),
            Change::NftWritten {
                family,
                rules,
                target,
            } => {
                write!(
                    f,
                    "~ nftables {family}: {rules} source NAT rule(s) for fullnat, to {target}"
                )
            }
            Change::NftDeleted(family) => write!(f, "- nftables {family}"),
        }
    }
}

/// What an apply or a clean changed, and what it left to the administrator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostReport {
    pub changes: Vec<Change>,
    pub notes: Vec<String>,
}

impl fmt::Display for HostReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            writeln!(f, "host: no changes")?;
        }
        for change in &self.changes {
            writeln!(f, "{change}")?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}
