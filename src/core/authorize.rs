//! Access control for every request, whichever transport it came by: the
//! credentials are authenticated, the principal's role and cluster checked
//! against the access the route needs, and every refusal audited the same
//! way. REST's middleware and gRPC's handlers only gather what the request
//! presented.

use super::audit::Denied;
use super::{Caller, Core, Error, Result};
use crate::auth::{Access, Principal, token};

/// Longest request id kept from a client (`x-request-id` header or metadata).
pub const MAX_REQUEST_ID: usize = 128;

/// The id a request is known by in the audit log and the logs: the one the
/// client sent when it is 1 to [`MAX_REQUEST_ID`] printable ASCII characters
/// (after trimming), a fresh UUID otherwise.
pub fn request_id(sent: Option<&str>) -> String {
    sent.map(str::trim)
        .filter(|id| {
            !id.is_empty() && id.len() <= MAX_REQUEST_ID && id.bytes().all(|b| b.is_ascii_graphic())
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string)
}

/// What one request presented to access control.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    /// The `Authorization` header or `authorization` metadata, if any.
    pub credentials: Option<&'a str>,
    /// What the route needs.
    pub access: Access,
    /// The cluster the request is about, if any.
    pub cluster: Option<&'a str>,
    /// `POST /v1/clusters` or `/lvs.v1.LvsService/CreateCluster`.
    pub target: &'a str,
    /// The client's address.
    pub peer: Option<&'a str>,
    /// The request's id (see [`request_id`]).
    pub request_id: &'a str,
}

impl Core {
    /// The principal behind `request` and the caller it acts as, or the
    /// refusal (UNAUTHENTICATED or PERMISSION_DENIED), audited.
    pub async fn authorize(&self, request: AccessRequest<'_>) -> Result<(Principal, Caller)> {
        let refused = match self.auth().authenticate(request.credentials).await {
            Ok(principal) => match principal.check(request.access, request.cluster) {
                Ok(()) => {
                    let caller = Caller::new(principal.name.clone(), request.request_id);
                    return Ok((principal, caller));
                }
                Err(err) => (Error::from(err), Some(principal)),
            },
            Err(err) => (Error::from(err), None),
        };
        let (err, principal) = refused;
        let actor = principal
            .as_ref()
            .map_or("unauthenticated", |p| p.name.as_str());
        let caller = Caller::new(actor, request.request_id);
        // A token refused before it was found is named by the id it claims.
        let token_id = match &principal {
            Some(p) => p.token_id.clone(),
            None => request
                .credentials
                .and_then(|c| c.split_whitespace().last())
                .and_then(token::claimed_id),
        };
        let denied = Denied {
            target: request.target,
            cluster: request.cluster.filter(|c| !c.is_empty()),
            peer: request.peer,
            token_id: token_id.as_deref(),
        };
        self.record_denied(&caller, denied, &err).await;
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_follow_one_rule() {
        let kept = [("abc-123", "abc-123"), ("  trimmed ", "trimmed")];
        for (sent, id) in kept {
            assert_eq!(request_id(Some(sent)), id, "{sent:?}");
        }
        let longest = "x".repeat(MAX_REQUEST_ID);
        assert_eq!(request_id(Some(&longest)), longest);
        let replaced = [
            String::new(),
            "x".repeat(MAX_REQUEST_ID + 1),
            "two words".to_string(),
            "ünïcode".to_string(),
            "tab\there".to_string(),
        ];
        for sent in replaced {
            let id = request_id(Some(&sent));
            assert_ne!(id, sent.trim());
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{sent:?} -> {id}");
        }
        assert!(uuid::Uuid::parse_str(&request_id(None)).is_ok());
    }
}
