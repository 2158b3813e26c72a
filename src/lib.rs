//! lvsd: a control plane for Linux Virtual Server (IPVS).

pub mod model;
