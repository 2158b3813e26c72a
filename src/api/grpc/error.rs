//! Core errors as gRPC statuses.
//!
//! `ErrorCode` maps to a gRPC code in one exhaustive match ([`grpc_code`]).
//! Both `PreconditionFailed` (a stale ETag or expected base revision) and
//! `Conflict` (the cluster's state forbids the request, e.g. deleting a
//! cluster with an active revision) are FAILED_PRECONDITION: in gRPC's
//! words, the system is not in the state the operation requires, and a blind
//! retry of the same request would fail again (ABORTED would invite one).
//! Clients tell the two apart by the `lvs-error-code` metadata key or the
//! google.rpc.ErrorInfo reason.
//!
//! Every status carries, besides its code and message (`field: message` for
//! invalid input):
//! - trailing metadata `lvs-error-code` (the REST API's `code`, e.g.
//!   `precondition_failed`), `lvs-field` (for invalid input) and
//!   `x-request-id`;
//! - `grpc-status-details-bin`: a google.rpc.Status holding a
//!   google.rpc.ErrorInfo (reason `PRECONDITION_FAILED`, domain `lvsd`) and,
//!   for invalid input, a google.rpc.BadRequest naming the field.

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use crate::core::{Error, ErrorCode};

/// Metadata key naming the field at fault of an INVALID_ARGUMENT status.
pub const FIELD_KEY: &str = "lvs-field";
/// Metadata key with the transport-neutral error code (`not_found`, ...).
pub const CODE_KEY: &str = "lvs-error-code";
/// Metadata key with the request id, as recorded in the audit log.
pub const REQUEST_ID_KEY: &str = "x-request-id";
/// google.rpc.ErrorInfo domain of lvsd's errors.
pub const ERROR_DOMAIN: &str = "lvsd";

/// The gRPC code of each core error code.
pub fn grpc_code(code: ErrorCode) -> Code {
    match code {
        ErrorCode::InvalidArgument => Code::InvalidArgument,
        ErrorCode::NotFound => Code::NotFound,
        ErrorCode::AlreadyExists => Code::AlreadyExists,
        ErrorCode::PreconditionFailed => Code::FailedPrecondition,
        ErrorCode::Conflict => Code::FailedPrecondition,
        ErrorCode::Unauthenticated => Code::Unauthenticated,
        ErrorCode::PermissionDenied => Code::PermissionDenied,
        ErrorCode::PayloadTooLarge => Code::ResourceExhausted,
        ErrorCode::InsufficientStorage => Code::ResourceExhausted,
        ErrorCode::Unavailable => Code::Unavailable,
        ErrorCode::Internal => Code::Internal,
    }
}

/// The error code as the REST API spells it in its bodies (`precondition_failed`).
pub fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The status a client receives for `err`.
pub fn status(err: &Error, request_id: &str) -> Status {
    let code = err.code();
    let name = code_name(code);
    let field = err.field();

    let mut details = vec![any(
        "google.rpc.ErrorInfo",
        &ErrorInfo {
            reason: name.to_uppercase(),
            domain: ERROR_DOMAIN.to_string(),
            metadata: Default::default(),
        },
    )];
    if let Some(field) = field {
        let violation = FieldViolation {
            field: field.to_string(),
            description: err.message(),
        };
        details.push(any(
            "google.rpc.BadRequest",
            &BadRequest {
                field_violations: vec![violation],
            },
        ));
    }
    let grpc = grpc_code(code);
    let message = err.to_string();
    let rpc_status = RpcStatus {
        code: grpc as i32,
        message: message.clone(),
        details,
    };

    let mut metadata = MetadataMap::new();
    insert(&mut metadata, CODE_KEY, &name);
    insert(&mut metadata, REQUEST_ID_KEY, request_id);
    if let Some(field) = field {
        insert(&mut metadata, FIELD_KEY, field);
    }
    Status::with_details_and_metadata(
        grpc,
        message,
        prost::Message::encode_to_vec(&rpc_status).into(),
        metadata,
    )
}

fn insert(metadata: &mut MetadataMap, key: &'static str, value: &str) {
    if let Ok(value) = MetadataValue::try_from(value) {
        metadata.insert(key, value);
    }
}

fn any(name: &str, message: &impl prost::Message) -> prost_types::Any {
    prost_types::Any {
        type_url: format!("type.googleapis.com/{name}"),
        value: message.encode_to_vec(),
    }
}

/// The field an INVALID_ARGUMENT status names, read from its metadata.
pub fn field_of(status: &Status) -> Option<&str> {
    status
        .metadata()
        .get(FIELD_KEY)
        .and_then(|v| v.to_str().ok())
}

/// The lvsd error code of a status (`precondition_failed`, `conflict`, ...).
pub fn error_code_of(status: &Status) -> Option<&str> {
    status
        .metadata()
        .get(CODE_KEY)
        .and_then(|v| v.to_str().ok())
}

/// The field violations of a status's google.rpc.BadRequest detail, as
/// (field, description) pairs.
pub fn field_violations(status: &Status) -> Vec<(String, String)> {
    let Ok(rpc) = <RpcStatus as prost::Message>::decode(status.details()) else {
        return Vec::new();
    };
    rpc.details
        .iter()
        .filter(|any| any.type_url.ends_with("/google.rpc.BadRequest"))
        .filter_map(|any| <BadRequest as prost::Message>::decode(any.value.as_slice()).ok())
        .flat_map(|bad| bad.field_violations)
        .map(|v| (v.field, v.description))
        .collect()
}

// The few google.rpc messages lvsd sends, as google/rpc/*.proto define them.

/// google.rpc.Status
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

/// google.rpc.ErrorInfo
#[derive(Clone, PartialEq, prost::Message)]
struct ErrorInfo {
    #[prost(string, tag = "1")]
    reason: String,
    #[prost(string, tag = "2")]
    domain: String,
    #[prost(btree_map = "string, string", tag = "3")]
    metadata: std::collections::BTreeMap<String, String>,
}

/// google.rpc.BadRequest
#[derive(Clone, PartialEq, prost::Message)]
struct BadRequest {
    #[prost(message, repeated, tag = "1")]
    field_violations: Vec<FieldViolation>,
}

/// google.rpc.BadRequest.FieldViolation
#[derive(Clone, PartialEq, prost::Message)]
struct FieldViolation {
    #[prost(string, tag = "1")]
    field: String,
    #[prost(string, tag = "2")]
    description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_input_names_its_field_three_ways() {
        let err = Error::invalid("servers[0].weight", "70000 is out of range");
        let status = status(&err, "req-1");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "servers[0].weight: 70000 is out of range");
        assert_eq!(field_of(&status), Some("servers[0].weight"));
        assert_eq!(error_code_of(&status), Some("invalid_argument"));
        assert_eq!(
            field_violations(&status),
            [(
                "servers[0].weight".to_string(),
                "70000 is out of range".to_string()
            )]
        );
        let rpc = <RpcStatus as prost::Message>::decode(status.details()).unwrap();
        let info = <ErrorInfo as prost::Message>::decode(rpc.details[0].value.as_slice()).unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("INVALID_ARGUMENT", "lvsd")
        );
    }

    #[test]
    fn conflicts_and_stale_etags_share_a_code_but_not_a_name() {
        let stale = status(&Error::PreconditionFailed("stale".into()), "r");
        let conflict = status(&Error::Conflict("active".into()), "r");
        assert_eq!(stale.code(), Code::FailedPrecondition);
        assert_eq!(conflict.code(), Code::FailedPrecondition);
        assert_eq!(error_code_of(&stale), Some("precondition_failed"));
        assert_eq!(error_code_of(&conflict), Some("conflict"));
        assert_eq!(field_of(&stale), None);
    }
}
