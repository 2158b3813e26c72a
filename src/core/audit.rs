//! The audit log: every change, and every refused attempt to change.

use std::future::Future;

use serde_json::{Value, json};

use super::{AuditEntry, Caller, Core, Error, Result, now};
use crate::store::{self, AuditFilter, AuditRow, Tx};

/// Filters for reading the audit log, newest entries first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub cluster: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// RFC 3339 times: entries at or after `since`, before `until`.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Entries with an id below this one (paging).
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

/// A request refused by access control, for [`Core::record_denied`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Denied<'a> {
    /// `POST /v1/clusters` or `/lvs.v1.LvsService/CreateCluster`.
    pub target: &'a str,
    pub cluster: Option<&'a str>,
    /// The client's address.
    pub peer: Option<&'a str>,
    /// The public id of the token presented, if it was token-shaped.
    pub token_id: Option<&'a str>,
}

pub(crate) struct Change<'a> {
    pub cluster: Option<&'a str>,
    pub action: &'a str,
    pub target: String,
    pub detail: Value,
}

/// What a client sends lands in refusals' entries (ids, paths, values quoted
/// in reasons); clipped, so that refused requests, free to send, cannot fill
/// the disk faster than their pace allows.
fn row(caller: &Caller, change: &Change<'_>, outcome: &str) -> AuditRow {
    let detail = change.detail.to_string();
    AuditRow {
        id: 0,
        at: now(),
        actor: clip(&caller.actor, 128),
        request_id: clip(&caller.request_id, 128),
        cluster: change.cluster.map(|c| clip(c, 128)),
        action: change.action.to_string(),
        target: clip(&change.target, 512),
        outcome: outcome.to_string(),
        detail: if outcome == "ok" {
            detail
        } else {
            clip(&detail, 4096)
        },
    }
}

/// `text` cut to at most `max` bytes, on a character boundary, marked with `…`.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Records a change inside the transaction that makes it.
pub(crate) async fn record(tx: &mut Tx, caller: &Caller, change: Change<'_>) -> Result<()> {
    record_outcome(tx, caller, change, "ok").await
}

/// Records something that happened with its outcome (`ok`, `refused`, `failed`).
pub(crate) async fn record_outcome(
    tx: &mut Tx,
    caller: &Caller,
    change: Change<'_>,
    outcome: &str,
) -> Result<()> {
    store::append_audit(tx, &row(caller, &change, outcome)).await?;
    Ok(())
}

impl Core {
    /// Runs a write; if it is refused, records the refusal with its reason.
    pub(crate) async fn audited<T>(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        action: &str,
        target: impl Into<String>,
        write: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let result = write.await;
        if let Err(err) = &result {
            let change = Change {
                cluster,
                action,
                target: target.into(),
                detail: json!({ "code": err.code(), "field": err.field(), "reason": err.message() }),
            };
            if let Err(log_err) = self.append_refusal(caller, &change).await {
                tracing::error!(error = %log_err, action, "could not audit a refused request");
            }
        }
        result
    }

    /// Records a request refused before it reached an operation (an
    /// unreadable body, say), with the reason.
    pub async fn record_rejected(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        target: &str,
        err: &Error,
    ) {
        let change = Change {
            cluster,
            action: "request.rejected",
            target: target.to_string(),
            detail: json!({ "code": err.code(), "field": err.field(), "reason": err.message() }),
        };
        if let Err(log_err) = self.append_refusal(caller, &change).await {
            tracing::error!(error = %log_err, "could not audit a rejected request");
        }
    }

    /// Records a request refused for want of a valid token (401) or of a
    /// role that allows it (403): who (the caller's actor, the token's public
    /// id, the peer address), what (`target`), why. Never the secret. Paced
    /// by [`Authenticator::pace_refusal`](crate::auth::Authenticator::pace_refusal):
    /// refusals are free to send, database writes are not.
    pub async fn record_denied(&self, caller: &Caller, denied: Denied<'_>, err: &Error) {
        let Some(suppressed) = self.auth().pace_refusal() else {
            return;
        };
        let mut detail = json!({ "code": err.code(), "reason": err.message() });
        if let Some(peer) = denied.peer {
            detail["peer"] = json!(peer);
        }
        if let Some(id) = denied.token_id {
            detail["token_id"] = json!(id);
        }
        if suppressed > 0 {
            detail["unrecorded_before"] = json!(suppressed);
        }
        let change = Change {
            cluster: denied.cluster,
            action: "access.denied",
            target: denied.target.to_string(),
            detail,
        };
        if let Err(log_err) = self.append_refusal(caller, &change).await {
            tracing::error!(error = %log_err, "could not audit a denied request");
        }
    }

    /// Records a refusal the server itself made (no request refused).
    pub(crate) async fn audit_refusal(&self, caller: &Caller, change: &Change<'_>) {
        if let Err(log_err) = self.append_refusal(caller, change).await {
            tracing::error!(error = %log_err, action = change.action, "could not audit a refusal");
        }
    }

    async fn append_refusal(&self, caller: &Caller, change: &Change<'_>) -> Result<()> {
        let mut tx = self.store().begin().await?;
        store::append_audit(&mut tx, &row(caller, change, "refused")).await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(())
    }

    pub async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>> {
        let limit = query.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("{limit} is out of range: 1 to 1000"),
            ));
        }
        // Stored times are compared as text, so bring the bounds to the stored form.
        let normalize = |value: Option<String>, field: &str| -> Result<Option<String>> {
            value
                .map(|time| {
                    humantime::parse_rfc3339_weak(&time)
                        .map(crate::model::time::rfc3339)
                        .map_err(|_| {
                            Error::invalid(field, format!("`{time}` is not an RFC 3339 time"))
                        })
                })
                .transpose()
        };
        let since = normalize(query.since, "since")?;
        let until = normalize(query.until, "until")?;
        let filter = AuditFilter {
            cluster: query.cluster,
            actor: query.actor,
            action: query.action,
            since,
            until,
            before_id: query.before,
            limit: limit.into(),
        };
        let rows = store::audit(self.store().reader(), &filter).await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                at: r.at,
                actor: r.actor,
                request_id: r.request_id,
                cluster: r.cluster,
                action: r.action,
                target: r.target,
                outcome: r.outcome,
                detail: serde_json::from_str(&r.detail).unwrap_or(Value::String(r.detail)),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn clipping_keeps_characters_whole() {
        assert_eq!(clip("short", 10), "short");
        let clipped = clip(&"é".repeat(100), 11);
        assert!(clipped.len() <= 11 && clipped.ends_with('…'), "{clipped}");
        assert_eq!(clip(&"x".repeat(600), 512).len(), 512);
    }
}
