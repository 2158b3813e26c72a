//! Transports: thin translations between the wire and `crate::core`.

pub mod grpc;
pub mod listener;
pub mod rest;
