//! Access tokens: made, listed and revoked by admins (`lvsd token` on the
//! database file). Making and revoking are audited; the secret never is.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::audit::{Change, record};
use super::{Caller, Core, Error, Result, now};
use crate::auth::Role;
use crate::auth::token::{self, Token};
use crate::store::{self, TokenRow};

#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    /// The cluster of an agent token; required for agents, refused otherwise.
    pub cluster: Option<String>,
    pub expires_in: Option<Duration>,
}

/// A token as listed: everything but its secret and the secret's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TokenView {
    /// The public part of the token (`lvsd_<id>_...`).
    pub id: String,
    pub name: String,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub created_at: String,
    pub created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
}

impl From<TokenRow> for TokenView {
    fn from(row: TokenRow) -> Self {
        TokenView {
            id: row.id,
            name: row.name,
            role: row.role,
            cluster: row.cluster,
            created_at: row.created_at,
            created_by: row.created_by,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            revoked_by: row.revoked_by,
        }
    }
}

impl Core {
    /// Makes a token and returns it with its secret, which is shown this once.
    pub async fn create_token(&self, caller: &Caller, new: NewToken) -> Result<(TokenView, Token)> {
        self.audited(caller, new.cluster.as_deref(), "token.create", new.name.clone(), async {
            token::validate_name(&new.name).map_err(|message| Error::invalid("name", message))?;
            match (new.role, &new.cluster) {
                (Role::Agent, None) => {
                    return Err(Error::invalid("cluster", "an agent token serves one cluster: name it"));
                }
                (Role::Agent, Some(cluster)) => super::clusters::validate_name(cluster).map_err(|err| match err {
                    Error::Invalid(v) => Error::invalid("cluster", v.message),
                    other => other,
                })?,
                (role, Some(_)) => {
                    return Err(Error::invalid("cluster", format!("only agent tokens are bound to a cluster, not {role} tokens")));
                }
                (_, None) => {}
            }
            let expires_at = match new.expires_in {
                Some(ttl) if ttl.is_zero() => return Err(Error::invalid("expires_in", "must be longer than 0 s")),
                Some(ttl) => {
                    let at = SystemTime::now()
                        .checked_add(ttl)
                        .ok_or_else(|| Error::invalid("expires_in", "too far in the future"))?;
                    Some(crate::model::time::rfc3339(at))
                }
                None => None,
            };
            let secret = Token::generate().map_err(|err| Error::Internal(format!("no random numbers from the OS: {err}")))?;
            let row = TokenRow {
                id: secret.id.clone(),
                name: new.name.clone(),
                role: new.role.as_str().to_string(),
                cluster: new.cluster.clone(),
                secret_hash: secret.secret_hash(),
                created_at: now(),
                created_by: caller.actor.clone(),
                expires_at,
                revoked_at: None,
                revoked_by: None,
            };
            let mut tx = self.store().begin().await?;
            if let Some(live) = store::live_token_named(&mut *tx, &row.name).await? {
                return Err(Error::AlreadyExists(format!(
                    "a live token is already called {} ({}): revoke it first, or pick another name",
                    live.name, live.id
                )));
            }
            store::insert_token(&mut *tx, &row).await?;
            let change = Change {
                cluster: row.cluster.as_deref(),
                action: "token.create",
                target: row.name.clone(),
                detail: json!({ "id": row.id, "role": row.role, "cluster": row.cluster, "expires_at": row.expires_at }),
            };
            record(&mut tx, caller, change).await?;
            tx.commit().await.map_err(store::StoreError::from)?;
            Ok((TokenView::from(row), secret))
        })
        .await
    }

    /// Every token ever made, revoked ones included, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenView>> {
        Ok(store::tokens(self.store().reader())
            .await?
            .into_iter()
            .map(TokenView::from)
            .collect())
    }

    /// Revokes the live token with this name or id; from the next request on
    /// it is refused.
    pub async fn revoke_token(&self, caller: &Caller, name_or_id: &str) -> Result<TokenView> {
        self.audited(caller, None, "token.revoke", name_or_id, async {
            let mut tx = self.store().begin().await?;
            let row = match store::live_token_named(&mut *tx, name_or_id).await? {
                Some(row) => row,
                None => match store::token(&mut *tx, name_or_id).await? {
                    Some(row) if row.revoked_at.is_some() => {
                        return Err(Error::Conflict(format!(
                            "token {} ({}) is already revoked",
                            row.name, row.id
                        )));
                    }
                    Some(row) => row,
                    None => {
                        return Err(Error::NotFound(format!(
                            "no live token is named or numbered {name_or_id}"
                        )));
                    }
                },
            };
            let at = now();
            store::revoke_token(&mut *tx, &row.id, &at, &caller.actor).await?;
            let change = Change {
                cluster: row.cluster.as_deref(),
                action: "token.revoke",
                target: row.name.clone(),
                detail: json!({ "id": row.id, "role": row.role }),
            };
            record(&mut tx, caller, change).await?;
            tx.commit().await.map_err(store::StoreError::from)?;
            Ok(TokenView {
                revoked_at: Some(at),
                revoked_by: Some(caller.actor.clone()),
                ..TokenView::from(row)
            })
        })
        .await
    }
}
