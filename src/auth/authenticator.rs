//! Bearer token → [`Principal`], against the `tokens` table.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::token::Token;
use super::{AuthError, Principal, Role};
use crate::store::{self, Store};

/// Checks the tokens of requests. Every check reads the database, so a token
/// revoked with `lvsd token revoke` (even by another process, on the same
/// file) is refused from the next request on.
pub struct Authenticator {
    store: Store,
    /// Set once a token is seen in the database; a server never reopens.
    closed: AtomicBool,
    /// Paces the audit entries of refused requests (see [`Self::pace_refusal`]).
    refusals: Mutex<Bucket>,
}

/// What a request presented: the `Authorization` header or `authorization`
/// metadata value, if any.
pub type Credentials<'a> = Option<&'a str>;

impl Authenticator {
    pub fn new(store: Store) -> Self {
        Authenticator {
            store,
            closed: AtomicBool::new(false),
            refusals: Mutex::new(Bucket::new()),
        }
    }

    /// Whether the server is open: no token was ever made.
    pub async fn is_open(&self) -> Result<bool, AuthError> {
        if self.closed.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let any = store::any_token(self.store.reader()).await?;
        if any {
            self.closed.store(true, Ordering::Relaxed);
        }
        Ok(!any)
    }

    /// The principal behind `credentials`, or UNAUTHENTICATED saying why.
    pub async fn authenticate(&self, credentials: Credentials<'_>) -> Result<Principal, AuthError> {
        if self.is_open().await? {
            return Ok(Principal::anonymous());
        }
        let Some(value) = credentials else {
            return Err(AuthError::Unauthenticated(
                "this server needs an access token: send `Authorization: Bearer <token>` (gRPC: `authorization` metadata)".into(),
            ));
        };
        let text = bearer(value).ok_or_else(|| {
            AuthError::Unauthenticated(
                "the credentials are not `Bearer <token>`: lvsd takes bearer tokens only".into(),
            )
        })?;
        let token = Token::parse(text).ok_or_else(|| {
            AuthError::Unauthenticated("the access token is malformed: lvsd tokens read lvsd_<16 hex digits>_<64 hex digits>".into())
        })?;
        let invalid = || AuthError::Unauthenticated("the access token is not valid".into());
        let row = store::token(self.store.reader(), &token.id)
            .await?
            .ok_or_else(invalid)?;
        if !token.matches(&row.secret_hash) {
            return Err(invalid());
        }
        // Only the holder of the secret learns why a real token is refused.
        if let Some(at) = &row.revoked_at {
            return Err(AuthError::Unauthenticated(format!(
                "the access token {} ({}) was revoked at {at}",
                row.name, row.id
            )));
        }
        if let Some(at) = row
            .expires_at
            .as_ref()
            .filter(|at| at.as_str() <= crate::model::time::now_rfc3339().as_str())
        {
            return Err(AuthError::Unauthenticated(format!(
                "the access token {} ({}) expired at {at}",
                row.name, row.id
            )));
        }
        let role: Role = row
            .role
            .parse()
            .map_err(|err: String| AuthError::Damaged(format!("token {}: {err}", row.id)))?;
        Ok(Principal {
            name: row.name,
            role,
            cluster: row.cluster,
            token_id: Some(row.id),
        })
    }

    /// Whether the next refused request may be audited, and how many were
    /// left out since the last one that was. A flood of refused requests
    /// (anyone can send them) must not turn into a flood of database writes:
    /// past a burst of 200, about 50 a second are recorded; the rest are
    /// counted, logged, and the count goes into the next recorded entry.
    pub fn pace_refusal(&self) -> Option<u64> {
        let mut bucket = self
            .refusals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        bucket.take()
    }
}

/// The token of a `Bearer <token>` value (the scheme is case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A token bucket for audit entries of refused requests.
struct Bucket {
    tokens: f64,
    at: Instant,
    suppressed: u64,
}

impl Bucket {
    const BURST: f64 = 200.0;
    const PER_SECOND: f64 = 50.0;

    fn new() -> Self {
        Bucket {
            tokens: Self::BURST,
            at: Instant::now(),
            suppressed: 0,
        }
    }

    fn take(&mut self) -> Option<u64> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * Self::PER_SECOND).min(Self::BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            if self.suppressed.is_power_of_two() {
                tracing::warn!(
                    suppressed = self.suppressed,
                    "refused requests arrive too fast to audit each one"
                );
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_required() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("abc"), None);
    }

    #[test]
    fn refusals_are_paced_and_counted() {
        let mut bucket = Bucket::new();
        for _ in 0..200 {
            assert_eq!(bucket.take(), Some(0));
        }
        assert_eq!(bucket.take(), None);
        assert_eq!(bucket.take(), None);
        bucket.at -= std::time::Duration::from_millis(100);
        assert_eq!(bucket.take(), Some(2));
    }
}
