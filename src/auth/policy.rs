//! The access every endpoint needs: one table for REST routes, one for gRPC
//! methods. An endpoint missing from its table needs `admin` (closed by
//! default); `tests/auth_roles.rs` fails until every served endpoint is listed.

/// A kind of access; [`Role::grants`](super::Role::grants) says who has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Clusters, drafts, revisions, diffs, exports.
    Read,
    /// The audit log.
    Audit,
    /// The desired state of one cluster, as agents follow it.
    Watch,
    /// Draft edits, import, commit, rollback, activate.
    Edit,
    /// A director's status report for one cluster.
    Report,
    /// Cluster creation and deletion, tokens.
    Admin,
}

impl Access {
    pub const ALL: [Access; 6] = [
        Access::Read,
        Access::Audit,
        Access::Watch,
        Access::Edit,
        Access::Report,
        Access::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Audit => "audit",
            Access::Watch => "watch",
            Access::Edit => "edit",
            Access::Report => "report",
            Access::Admin => "admin",
        }
    }

    /// The roles that have it, for error messages.
    pub fn needed_by(self) -> &'static str {
        match self {
            Access::Read | Access::Audit => "viewer, operator and admin",
            Access::Watch => "viewer, operator, admin and the cluster's agent",
            Access::Edit => "operator and admin",
            Access::Report => "admin and the cluster's agent",
            Access::Admin => "admin",
        }
    }
}

use Access::*;

/// REST: (method, route as registered with axum, access).
pub const REST: &[(&str, &str, Access)] = &[
    ("GET", "/v1/clusters", Read),
    ("POST", "/v1/clusters", Admin),
    ("GET", "/v1/clusters/{cluster}", Read),
    ("DELETE", "/v1/clusters/{cluster}", Admin),
    ("GET", "/v1/clusters/{cluster}/draft", Read),
    ("PUT", "/v1/clusters/{cluster}/draft", Edit),
    ("POST", "/v1/clusters/{cluster}/draft/import", Edit),
    (
        "POST",
        "/v1/clusters/{cluster}/draft/import/keepalived",
        Edit,
    ),
    ("GET", "/v1/clusters/{cluster}/draft/services", Read),
    ("POST", "/v1/clusters/{cluster}/draft/services", Edit),
    (
        "GET",
        "/v1/clusters/{cluster}/draft/services/{service}",
        Read,
    ),
    (
        "PUT",
        "/v1/clusters/{cluster}/draft/services/{service}",
        Edit,
    ),
    (
        "PATCH",
        "/v1/clusters/{cluster}/draft/services/{service}",
        Edit,
    ),
    (
        "DELETE",
        "/v1/clusters/{cluster}/draft/services/{service}",
        Edit,
    ),
    (
        "GET",
        "/v1/clusters/{cluster}/draft/services/{service}/servers",
        Read,
    ),
    (
        "POST",
        "/v1/clusters/{cluster}/draft/services/{service}/servers",
        Edit,
    ),
    (
        "GET",
        "/v1/clusters/{cluster}/draft/services/{service}/servers/{server}",
        Read,
    ),
    (
        "PUT",
        "/v1/clusters/{cluster}/draft/services/{service}/servers/{server}",
        Edit,
    ),
    (
        "PATCH",
        "/v1/clusters/{cluster}/draft/services/{service}/servers/{server}",
        Edit,
    ),
    (
        "DELETE",
        "/v1/clusters/{cluster}/draft/services/{service}/servers/{server}",
        Edit,
    ),
    ("GET", "/v1/clusters/{cluster}/revisions", Read),
    ("POST", "/v1/clusters/{cluster}/revisions", Edit),
    ("GET", "/v1/clusters/{cluster}/revisions/{number}", Read),
    (
        "GET",
        "/v1/clusters/{cluster}/revisions/{number}/diff",
        Read,
    ),
    (
        "GET",
        "/v1/clusters/{cluster}/revisions/{number}/export",
        Read,
    ),
    (
        "GET",
        "/v1/clusters/{cluster}/revisions/{number}/export/keepalived",
        Read,
    ),
    (
        "POST",
        "/v1/clusters/{cluster}/revisions/{number}/activate",
        Edit,
    ),
    ("POST", "/v1/clusters/{cluster}/rollback", Edit),
    ("GET", "/v1/audit", Audit),
    // Prometheus scrapes: what a viewer may read anyway, in numbers.
    ("GET", "/metrics", Read),
    // Applying: previews and status are reads; confirming a
    // commit and forcing an apply are an operator's; the apply settings are
    // the cluster's safety policy (removal limits), an admin's.
    (
        "GET",
        "/v1/clusters/{cluster}/revisions/{number}/plan",
        Read,
    ),
    ("POST", "/v1/clusters/{cluster}/confirm", Edit),
    ("GET", "/v1/clusters/{cluster}/settings", Read),
    ("PUT", "/v1/clusters/{cluster}/settings", Admin),
    ("GET", "/v1/clusters/{cluster}/directors", Read),
    ("GET", "/v1/clusters/{cluster}/counters", Read),
    ("GET", "/v1/clusters/{cluster}/health", Read),
    ("GET", "/v1/clusters/{cluster}/directors/{name}", Read),
    (
        "GET",
        "/v1/clusters/{cluster}/directors/{name}/connections",
        Read,
    ),
    (
        "POST",
        "/v1/clusters/{cluster}/directors/{name}/apply",
        Edit,
    ),
    // Agents: follow the desired state, report a director's status.
    ("GET", "/v1/clusters/{cluster}/desired", Watch),
    ("PUT", "/v1/clusters/{cluster}/directors/{name}", Report),
    // Canary rollouts: viewing is a read; releasing early overrides the
    // canaries' verdict, an operator's call. Zeroing counters changes no
    // configuration but loses history: an operator's.
    ("GET", "/v1/clusters/{cluster}/rollout", Read),
    ("POST", "/v1/clusters/{cluster}/rollout/release", Edit),
    ("POST", "/v1/clusters/{cluster}/zero", Edit),
    // High availability: the view is a read; moving the VIPs to a backup
    // is an operator's call.
    ("GET", "/v1/clusters/{cluster}/ha", Read),
    ("POST", "/v1/clusters/{cluster}/ha/switchover", Edit),
];

/// gRPC: (method of `lvs.v1.LvsService`, access).
pub const GRPC: &[(&str, Access)] = &[
    ("CreateCluster", Admin),
    ("ListClusters", Read),
    ("GetCluster", Read),
    ("DeleteCluster", Admin),
    ("GetDraft", Read),
    ("ReplaceDraft", Edit),
    ("ImportDraft", Edit),
    ("ImportKeepalived", Edit),
    ("AddService", Edit),
    ("GetService", Read),
    ("UpdateService", Edit),
    ("PatchService", Edit),
    ("DeleteService", Edit),
    ("AddServer", Edit),
    ("GetServer", Read),
    ("UpdateServer", Edit),
    ("PatchServer", Edit),
    ("DeleteServer", Edit),
    ("Commit", Edit),
    ("ListRevisions", Read),
    ("GetRevision", Read),
    ("DiffRevisions", Read),
    ("ExportRevision", Read),
    ("ExportKeepalived", Read),
    ("Rollback", Edit),
    ("Activate", Edit),
    ("ListAudit", Audit),
    // Applying, as for REST.
    ("PlanRevision", Read),
    ("Confirm", Edit),
    ("GetSettings", Read),
    ("UpdateSettings", Admin),
    ("ListDirectors", Read),
    ("GetHealth", Read),
    ("GetDirector", Read),
    ("ApplyDirector", Edit),
    // Agents: follow the desired state, report a director's status.
    ("WatchDesired", Watch),
    ("ReportDirector", Report),
    ("GetCounters", Read),
    ("GetRollout", Read),
    ("ReleaseRollout", Edit),
    ("ZeroCounters", Edit),
    ("GetHa", Read),
    ("Switchover", Edit),
];

/// The access a REST request needs, or `None` for a route not in the table.
pub fn rest(method: &str, route: &str) -> Option<Access> {
    let method = if method == "HEAD" { "GET" } else { method };
    REST.iter()
        .find(|(m, r, _)| *m == method && *r == route)
        .map(|(_, _, access)| *access)
}

/// The access a gRPC method (`Commit` or `/lvs.v1.LvsService/Commit`) needs,
/// or `None` for a method not in the table.
pub fn grpc(method: &str) -> Option<Access> {
    let method = method.rsplit('/').next().unwrap_or(method);
    GRPC.iter()
        .find(|(m, _)| *m == method)
        .map(|(_, access)| *access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_a_get_and_unknown_routes_are_unlisted() {
        assert_eq!(rest("HEAD", "/v1/clusters"), Some(Read));
        assert_eq!(rest("POST", "/v1/clusters"), Some(Admin));
        assert_eq!(rest("POST", "/v1/nope"), None);
        assert_eq!(grpc("/lvs.v1.LvsService/Commit"), Some(Edit));
        assert_eq!(grpc("Nope"), None);
    }

    #[test]
    fn every_write_needs_more_than_read() {
        for (method, route, access) in REST {
            if *method != "GET" {
                assert_ne!(*access, Read, "{method} {route}");
            }
        }
    }
}
