//! The IPVS table of a Linux kernel, driven over generic netlink.

pub mod types;

pub use types::*;
