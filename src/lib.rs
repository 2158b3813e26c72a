//! lvsd: a control plane for Linux Virtual Server (IPVS).

pub mod agent;
pub mod api;
pub mod apply;
pub mod auth;
pub mod cli;
pub mod contract;
pub mod core;
pub mod director;
pub mod ha;
pub mod health;
pub mod host;
pub mod ipvs;
pub mod ipvsadm;
pub mod keepalived;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod store;

#[cfg(test)]
mod fuzz;
