//! Who may do what: bearer tokens, roles, and the access each endpoint needs.
//!
//! - [`token`]: the token format (`lvsd_<id>_<secret>`), its hashing, and
//!   `lvsd token create | list | revoke` on the database.
//! - [`Authenticator`]: turns the bearer token of a request into a
//!   [`Principal`], or refuses it (UNAUTHENTICATED).
//! - [`policy`]: the access every REST route and gRPC method needs; the one
//!   table the transports consult, so a new endpoint is classified once.
//! - [`Principal::check`]: whether a role may have that access (PERMISSION_DENIED).
//!
//! With no token in the database the API is open: every request acts as
//! `anonymous` with every right, and `lvsd serve` says so and binds to
//! loopback addresses only. Once a token exists (even a revoked one), every
//! request needs a live token, except `/healthz`, `/readyz`, `/openapi.json`
//! and the gRPC health and reflection services.
//!
//! | access  | what                                              | viewer | operator | admin | agent (its cluster) |
//! |---------|---------------------------------------------------|--------|----------|-------|---------------------|
//! | read    | clusters, drafts, revisions, diffs, exports       | yes    | yes      | yes   | no                  |
//! | audit   | the audit log                                     | yes    | yes      | yes   | no                  |
//! | watch   | the desired state of a cluster (agents follow it) | yes    | yes      | yes   | yes                 |
//! | edit    | draft edits, import, commit, rollback, activate, confirm, forced apply | no | yes | yes | no |
//! | report  | a director's status for a cluster                 | no     | no       | yes   | yes                 |
//! | admin   | clusters create and delete, apply settings, tokens | no    | no       | yes   | no                  |

mod authenticator;
pub mod policy;
pub mod token;

use std::fmt;
use std::str::FromStr;

pub use authenticator::Authenticator;
pub use policy::Access;

use crate::store::StoreError;

/// Why a request was refused, or could not be checked. The core turns it
/// into its own error (UNAUTHENTICATED, PERMISSION_DENIED, or internal).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials, or ones that name no valid token.
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid token whose role or cluster does not allow the request.
    #[error("{0}")]
    PermissionDenied(String),
    /// The tokens could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored token is not one lvsd wrote (an unknown role).
    #[error("{0}")]
    Damaged(String),
}

/// What a token may do; see the module's table.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything, including the audit log.
    Viewer,
    /// A viewer that also edits drafts, commits, rolls back and activates.
    Operator,
    /// Everything, including creating and deleting clusters.
    Admin,
    /// A director's agent: follows and reports on one cluster, nothing else.
    Agent,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Admin, Role::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    /// Whether the role grants `access` at all (agents: only for their cluster).
    pub fn grants(self, access: Access) -> bool {
        use Access::*;
        match self {
            Role::Viewer => matches!(access, Read | Audit | Watch),
            Role::Operator => matches!(access, Read | Audit | Watch | Edit),
            Role::Admin => true,
            Role::Agent => matches!(access, Watch | Report),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a role: viewer, operator, admin or agent"))
    }
}

/// Who a request comes from, once its token is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name, recorded as the actor in the audit log.
    pub name: String,
    pub role: Role,
    /// The one cluster of an agent.
    pub cluster: Option<String>,
    /// The public id of the token; `None` on an open server.
    pub token_id: Option<String>,
}

impl Principal {
    /// Everyone, on a server without tokens.
    pub fn anonymous() -> Self {
        Principal {
            name: "anonymous".to_string(),
            role: Role::Admin,
            cluster: None,
            token_id: None,
        }
    }

    /// Refuses (PERMISSION_DENIED) unless the principal may have `access`,
    /// on `cluster` when the request names one.
    pub fn check(&self, access: Access, cluster: Option<&str>) -> Result<(), AuthError> {
        if !self.role.grants(access) {
            return Err(AuthError::PermissionDenied(format!(
                "{} ({}) may not do this: it needs {} access, which {} tokens have",
                self.name,
                self.role,
                access.as_str(),
                access.needed_by()
            )));
        }
        if self.role == Role::Agent {
            let own = self.cluster.as_deref().unwrap_or_default();
            if cluster != Some(own) {
                let asked = cluster.map_or("no cluster".to_string(), |c| format!("cluster {c}"));
                return Err(AuthError::PermissionDenied(format!(
                    "{} is the agent of cluster {own} only, and this request is for {asked}",
                    self.name
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, cluster: Option<&str>) -> Principal {
        Principal {
            name: "t".into(),
            role,
            cluster: cluster.map(str::to_string),
            token_id: Some("x".into()),
        }
    }

    #[test]
    fn roles_grant_what_the_table_says() {
        use Access::*;
        let table = [
            (Role::Viewer, vec![Read, Audit, Watch]),
            (Role::Operator, vec![Read, Audit, Watch, Edit]),
            (Role::Admin, vec![Read, Audit, Watch, Edit, Report, Admin]),
            (Role::Agent, vec![Watch, Report]),
        ];
        for (role, granted) in table {
            for access in Access::ALL {
                assert_eq!(
                    role.grants(access),
                    granted.contains(&access),
                    "{role} {access:?}"
                );
            }
        }
    }

    #[test]
    fn agents_are_held_to_their_cluster() {
        let agent = principal(Role::Agent, Some("web"));
        assert!(agent.check(Access::Watch, Some("web")).is_ok());
        assert!(agent.check(Access::Report, Some("web")).is_ok());
        let err = agent.check(Access::Watch, Some("db")).unwrap_err();
        assert!(matches!(err, AuthError::PermissionDenied(_)));
        assert!(err.to_string().contains("cluster web only"), "{err}");
        assert!(agent.check(Access::Watch, None).is_err());
        assert!(agent.check(Access::Read, Some("web")).is_err());
        // Other roles are not scoped.
        assert!(
            principal(Role::Viewer, None)
                .check(Access::Watch, Some("db"))
                .is_ok()
        );
    }

    #[test]
    fn roles_parse_and_print() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
