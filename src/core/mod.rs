//! The service core: every operation of the API, transport-agnostic.
//!
//! Each write runs in one store transaction (validate → store → audit), so a
//! refused request leaves nothing behind; refused attempts are audited after
//! the fact in a transaction of their own.

mod audit;
mod clusters;
mod draft;
mod error;
mod limits;
mod revisions;
mod tokens;
mod views;

use std::sync::Arc;

pub use audit::{AuditQuery, Denied};
pub use draft::Precondition;
pub use error::{Error, ErrorCode};
pub use limits::Limits;
pub use tokens::{NewToken, TokenView};
pub use revisions::{CommitRequest, RevisionPage};
pub use views::*;

use crate::auth::Authenticator;
use crate::store::Store;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who is asking, for the audit log.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: String,
    pub request_id: String,
}

impl Caller {
    pub fn new(actor: impl Into<String>, request_id: impl Into<String>) -> Self {
        Caller { actor: actor.into(), request_id: request_id.into() }
    }

    /// A caller with a fresh request id.
    pub fn anonymous() -> Self {
        Caller::new("anonymous", uuid::Uuid::new_v4().to_string())
    }
}

/// The service core, shared by the REST and gRPC transports.
#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    auth: Authenticator,
    limits: Limits,
    /// Bumped after every committed change of an active revision.
    activations: tokio::sync::watch::Sender<u64>,
}

impl Core {
    pub fn new(store: Store) -> Self {
        Core::with_limits(store, Limits::default())
    }

    pub fn with_limits(store: Store, limits: Limits) -> Self {
        let (activations, _) = tokio::sync::watch::channel(0);
        let auth = Authenticator::new(store.clone());
        Core { inner: Arc::new(Inner { store, auth, limits, activations }) }
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Checks the tokens of requests; the transports ask it first.
    pub fn auth(&self) -> &Authenticator {
        &self.inner.auth
    }

    /// Notifies whenever some cluster's active revision changes (a commit,
    /// rollback, activation or cluster deletion has been committed); readers
    /// then look up the clusters they follow.
    pub fn activations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.activations.subscribe()
    }

    fn activation_committed(&self) {
        self.inner.activations.send_modify(|n| *n += 1);
    }
}

/// Now, as stored: RFC 3339 UTC with milliseconds, which sorts as text.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
