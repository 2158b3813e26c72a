//! What the core returns: plain data, serialized as-is by the REST API.

use serde::Serialize;
use utoipa::ToSchema;

use crate::model::{Spec, SpecDoc};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterView {
    pub name: String,
    pub description: String,
    pub created_at: String,
    pub created_by: String,
    /// The revision every director of the cluster should run.
    pub active_revision: Option<i64>,
    pub latest_revision: Option<i64>,
    pub draft_etag: String,
    /// Whether the draft differs from the latest revision.
    pub draft_dirty: bool,
    /// A commit confirmed waiting for `POST /v1/clusters/{cluster}/confirm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_confirm: Option<super::PendingConfirm>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DraftView {
    pub cluster: String,
    /// Send it back in `If-Match` to update only this version of the draft.
    pub etag: String,
    pub version: i64,
    pub updated_at: String,
    pub updated_by: String,
    /// The latest revision when the draft was read; commit with it as `expected_base`.
    pub base_revision: Option<i64>,
    pub dirty: bool,
    #[schema(value_type = SpecDoc)]
    pub spec: Spec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RevisionKind {
    Commit,
    Rollback,
}

impl RevisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RevisionKind::Commit => "commit",
            RevisionKind::Rollback => "rollback",
        }
    }

    pub fn parse(s: &str) -> Self {
        if s == "rollback" {
            RevisionKind::Rollback
        } else {
            RevisionKind::Commit
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RevisionView {
    pub cluster: String,
    pub number: i64,
    pub parent: Option<i64>,
    pub author: String,
    pub message: String,
    pub created_at: String,
    /// SHA-256 of the spec's canonical JSON.
    pub content_hash: String,
    pub kind: RevisionKind,
    /// For a rollback: the revision whose spec it restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<i64>,
    pub active: bool,
    pub services: usize,
    pub servers: usize,
    // Shared, not copied: a commit's response holds the very spec the
    // directors apply.
    /// Left out of listings.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<SpecDoc>)]
    pub spec: Option<std::sync::Arc<Spec>>,
}

/// The result of a commit or rollback: the revision, and whether this call made it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommitOutcome {
    /// False when the spec equals the latest revision (or a retried commit
    /// already made it): the existing revision is returned.
    pub created: bool,
    pub revision: RevisionView,
    /// With `confirm_within`: the confirmation this commit waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<super::PendingConfirm>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub request_id: String,
    pub cluster: Option<String>,
    pub action: String,
    pub target: String,
    /// `ok`, `refused`, or `failed` (an apply that did not take).
    pub outcome: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}
