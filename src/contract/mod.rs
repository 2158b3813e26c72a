//! What crosses the wire between lvsd's processes: the agent protocol and
//! the settings every director receives. Below the core and the agent, so
//! both speak it without knowing each other.

pub mod agent;
pub mod settings;

pub use settings::ClusterSettings;
