//! Director high availability through keepalived, for VRRP only: the agent
//! renders the spec's `ha` section into a keepalived configuration
//! ([`keepalived::render`]), runs and supervises the daemon
//! ([`supervisor`]), and follows its state ([`keepalived::notify`]).
//!
//! lvsd never speaks VRRP itself and keepalived never touches the IPVS
//! table: the configuration has no `virtual_server` block.

pub mod keepalived;
pub mod supervisor;
