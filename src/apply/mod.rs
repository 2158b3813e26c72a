//! The apply engine: brings a director's IPVS table to a cluster's spec,
//! safely, and keeps it there.
//!
//! - [`engine`]: one apply: read (the cache, or the whole table), plan, check
//!   the blast radius, send, verify by reading back, and on a failed
//!   operation restore the table to what it was ([`restore`]); the report
//!   carries a hash of the verified state ([`hash`]).
//! - [`reconcile`]: one step of the reconcile loop, `reconcile(desired,
//!   actual) -> Result<Action>`, with the error policy: apply a new revision,
//!   check for drift at an interval (and restore or only report it), end
//!   drains as their connections finish or their deadline passes.
//! - [`runner`]: the driver of that loop both directors share: due times,
//!   attempts and backoff, the drift schedule, and panic isolation.
//! - [`state`]: what a director remembers per cluster (drains, services it
//!   created, the revision it runs); [`policy`]: the cluster's rules.
//!
//! It knows nothing of the store, the core or the transports: the server's
//! own director ([`crate::director::local`]) and the agent of a remote
//! director ([`crate::agent`]) run the same engine.

pub mod counters;
pub mod engine;
pub mod hash;
pub mod policy;
pub mod reconcile;
pub mod report;
pub mod restore;
pub mod runner;
pub mod state;

#[cfg(test)]
mod tests;

pub use counters::{Counters, ServerCounters, ServiceCounters, Traffic};
pub use engine::{Check, Engine, Outcome, Preview, Read, Run};
pub use policy::{DEFAULT_DRAIN_TIMEOUT, DriftMode, OwnershipMode, Policy};
pub use reconcile::{Action, Actual, ApplyError, Context, Desired, Event, error_policy, reconcile};
pub use report::{
    ApplyResult, Cause, DrainView, FailedOp, Report, RestoreReport, RestoreResult, Timings,
};
pub use runner::{Runner, Step, StepRequest};
pub use state::{DirectorState, DrainRecord};
