//! The gRPC API (`lvs.v1`, `proto/lvs/v1/lvs.proto`): a thin transport over
//! the service core, served with the gRPC health and reflection services.
//!
//! - `pb`: the generated messages, client and server.
//! - `convert`: proto ⇄ model documents and core views; validation stays in
//!   the model.
//! - `error`: core errors as statuses, in one exhaustive match.
//! - `service`: the handlers.

pub mod agents;
pub mod apply;
pub mod convert;
pub mod error;
mod gate;
pub mod ha;
mod service;

use std::future::Future;

use std::time::Duration;

use anyhow::Context;
use tonic::transport::Server;

use self::pb::lvs_service_server::LvsServiceServer;
pub use self::service::{LvsApi, Scoped, authorize};
use super::listener::Listener;
use crate::core::Core;

/// Generated from `proto/lvs/v1/*.proto` by build.rs.
#[allow(clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("lvs.v1");

    /// The encoded descriptor set of `lvs.v1` and its imports, for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/lvs_v1_descriptor.bin"));
}

/// The fully qualified name of the API service.
pub const SERVICE_NAME: &str = "lvs.v1.LvsService";

/// Limits of the gRPC server.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Longest a unary call may take (a server stream, once started, is not bound).
    pub request_timeout: Duration,
    /// Largest request message, as for REST bodies.
    pub max_message_size: usize,
    /// Calls served at once on one connection.
    pub max_in_flight_per_connection: usize,
    /// Calls served at once in all (each may hold a message of the largest
    /// size while it is decoded); more wait.
    pub max_in_flight: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            request_timeout: Duration::from_secs(60),
            max_message_size: 32 * 1024 * 1024,
            max_in_flight_per_connection: 64,
            max_in_flight: 128,
        }
    }
}

/// Serves the gRPC API on `listener` until `shutdown` completes, then lets
/// requests in flight finish.
pub async fn serve(
    core: Core,
    listener: Listener,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<LvsServiceServer<LvsApi>>().await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building the gRPC reflection service (v1)")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("building the gRPC reflection service (v1alpha)")?;

    let gate = gate::AuthFirstLayer::new(core.clone());
    let api = LvsServiceServer::new(LvsApi::new(core))
        .max_decoding_message_size(options.max_message_size);
    let incoming = tokio_stream::wrappers::ReceiverStream::new(listener.incoming());
    Server::builder()
        .timeout(options.request_timeout)
        .concurrency_limit_per_connection(options.max_in_flight_per_connection)
        .max_concurrent_streams(
            u32::try_from(options.max_in_flight_per_connection).unwrap_or(u32::MAX),
        )
        // Dead peers are noticed and their connections closed.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        // Outside the limit: a call without valid credentials takes no place.
        .layer(gate)
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            options.max_in_flight,
        ))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(api)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .context("serving gRPC")
}
