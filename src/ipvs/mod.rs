//! The IPVS table of a Linux kernel, driven over generic netlink.

pub mod conns;
pub mod error;
pub mod memory;
pub mod netlink;
pub mod table;
pub mod types;

pub use error::{BatchError, Error, Outcome};
pub use memory::MemoryTable;
pub use netlink::NetlinkTable;
pub use table::{IpvsTable, Snapshot};
pub use types::*;
