//! lvsd: a control plane for Linux Virtual Server (IPVS).

pub mod agent;
pub mod api;
pub mod auth;
pub mod apply;
pub mod cli;
pub mod core;
pub mod host;
pub mod health;
pub mod ipvs;
pub mod ipvsadm;
pub mod model;
pub mod plan;
pub mod store;

#[cfg(test)]
mod fuzz;
