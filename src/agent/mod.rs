//! Remote directors: `lvsd agent` on each director host pulls the revision
//! it should run from a server, applies it with the apply engine, and
//! reports back. What travels between the two, over REST and gRPC alike,
//! is [`crate::contract::agent`].
//!
//! - [`run`]: the director loop around `apply::reconcile`;
//! - [`link`]: the long-poll and the report sender, with [`backoff`] while
//!   the server is out of reach, and the [`outbox`] of reports waiting;
//! - [`client`]: the REST calls, to the current one of the [`servers`];
//! - [`cache`]: the fail-static cache of the last revision applied;
//! - [`host`]: the host settings that go with the table;
//! - [`ha`]: keepalived for VRRP when the spec has an `ha` section;
//! - [`realserver`]: `--role realserver`, host settings only.

pub mod backoff;
pub mod cache;
pub mod client;
pub mod ha;
pub mod host;
pub mod link;
pub mod outbox;
pub mod realserver;
pub mod run;
pub mod servers;

#[cfg(test)]
mod tests;
