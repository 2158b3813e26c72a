//! The gRPC API (`lvs.v1`, `proto/lvs/v1/lvs.proto`): a thin transport over
//! the service core, served with the gRPC health and reflection services.
//!
//! - `pb`: the generated messages, client and server.
//! - `convert`: proto ⇄ model documents and core views; validation stays in
//!   the model.
//! - `error`: core errors as statuses, in one exhaustive match.
//! - `service`: the handlers.

pub mod convert;
pub mod error;
mod service;

use std::future::Future;

use anyhow::Context;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use self::pb::lvs_service_server::LvsServiceServer;
pub use self::service::LvsApi;
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

/// Serves the gRPC API on `listener` until `shutdown` completes, then lets
/// requests in flight finish.
pub async fn serve(
    core: Core,
    listener: TcpListener,
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

    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(LvsServiceServer::new(LvsApi::new(core)))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .context("serving gRPC")
}
