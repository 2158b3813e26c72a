//! The one error type of the service core. Transports map `ErrorCode` to
//! their status codes, each in one exhaustive match.

use crate::auth::AuthError;
use crate::model::ValidationError;
use crate::store::{StorageFault, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// An ETag or expected base revision no longer matches: someone else wrote first.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The request is valid but the cluster's state forbids it.
    #[error("{0}")]
    Conflict(String),
    /// No credentials, or ones that do not hold (a bad or revoked token).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but its role may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The request is larger than the server accepts.
    #[error("{0}")]
    TooLarge(String),
    /// The database's storage is full: writes are refused until space is freed.
    #[error("{0}")]
    InsufficientStorage(String),
    /// The server cannot answer now (overloaded, or the request took too long); retry later.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Stable, transport-neutral error codes, as clients see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    PreconditionFailed,
    Conflict,
    Unauthenticated,
    PermissionDenied,
    PayloadTooLarge,
    InsufficientStorage,
    Unavailable,
    Internal,
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Invalid(_) => ErrorCode::InvalidArgument,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Error::PreconditionFailed(_) => ErrorCode::PreconditionFailed,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Error::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Error::TooLarge(_) => ErrorCode::PayloadTooLarge,
            Error::InsufficientStorage(_) => ErrorCode::InsufficientStorage,
            Error::Unavailable(_) => ErrorCode::Unavailable,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The field at fault, for invalid input.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid(err) if !err.field.is_empty() => Some(&err.field),
            _ => None,
        }
    }

    /// The message without the field prefix (the field travels separately).
    pub fn message(&self) -> String {
        match self {
            Error::Invalid(err) => err.message.clone(),
            other => other.to_string(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid(ValidationError::new(field, message))
    }
}

impl From<AuthError> for Error {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Unauthenticated(why) => Error::Unauthenticated(why),
            AuthError::PermissionDenied(why) => Error::PermissionDenied(why),
            AuthError::Store(err) => err.into(),
            AuthError::Damaged(why) => Error::Internal(why),
        }
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        // Storage faults are states a client can act on (or wait out): named.
        if let Some(fault) = err.storage_fault() {
            tracing::warn!(error = %err, "storage fault");
            return match fault {
                StorageFault::Full(_) => Error::InsufficientStorage(fault.to_string()),
                StorageFault::ReadOnly(_) | StorageFault::Gone(_) => {
                    Error::Unavailable(fault.to_string())
                }
            };
        }
        // Damage is named: what is damaged is the operator's to restore.
        if let StoreError::Damaged(found) = &err {
            tracing::error!(error = %err, "damaged data refused");
            return Error::Internal(found.clone());
        }
        // The cause goes to the log; clients get no database internals.
        tracing::error!(error = %err, "store failure");
        Error::Internal("the database failed; see the server log".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_input_keeps_its_field() {
        let err = Error::from(ValidationError::new("services[0].weight", "too big"));
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        assert_eq!(err.field(), Some("services[0].weight"));
        assert_eq!(err.message(), "too big");
    }
}
