//! Validated domain types: everything ipvsadm can express about a cluster.
//!
//! Values enter through the `*Doc` types (the JSON shape clients send) and
//! become validated types only through `validate`, so code past the edge never
//! sees an invalid service, real server or spec.

#[cfg(any(test, feature = "testing"))]
pub mod arbitrary;
mod capped;
pub mod diff;
mod error;
pub mod ha;
mod health;
pub mod host;
pub mod ipvs_sysctls;
mod key;
pub mod patch;
mod scheduler;
mod server;
mod service;
mod spec;
pub mod text;
pub mod time;

pub use capped::set_parse_limits;
pub use error::ValidationError;
pub use ha::{GarpDoc, HaDoc, HaSettings, HaSyncDoc, InternalVipDoc, SyncMode, VrrpInstanceDoc};
pub use health::{
    CheckType, HealthCheck, HealthCheckDoc, HttpProbe, OnFailure, Probe, Quorum, QuorumDoc,
    ServiceHealth, SorryServerDoc,
};
pub use host::{DirectorHostDoc, DirectorSettings, HostDoc, HostSettings, VipInterface};
pub use ipvs_sysctls::{IpvsSysctl, IpvsSysctls};
pub use key::{AddressFamily, Protocol, ServerKey, ServiceKey};
pub use scheduler::{SchedFlags, Scheduler};
pub use server::{
    Forwarding, ForwardingMethod, RealServer, RealServerDoc, Tunnel, TunnelChecksum, TunnelType,
};
pub use service::{
    NetmaskDoc, Persistence, PersistenceDoc, PersistenceEngine, VirtualService, VirtualServiceDoc,
};
pub use spec::{DaemonRole, Spec, SpecDoc, SyncDaemon, SyncDaemonDoc, Timeouts};

/// Longest timeout IPVS accepts, in seconds (31 days); `--set` and `-p` share it.
pub const MAX_TIMEOUT_SECS: u32 = 2_678_400;
/// Persistence timeout of `-p` without a value: libipvs's
/// `IPVS_SVC_PERSISTENT_TIMEOUT` (6 * 60; ipvsadm's man page says 300).
pub const DEFAULT_PERSISTENCE_SECS: u32 = 360;
