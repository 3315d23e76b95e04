//! Access tokens whose signature and claims were checked already, by their
//! exact text: the same bytes need no second signature check, only the
//! expiry check, which depends on the time. Owned by the TokenRegistry's
//! read side (`Revocations`), the one place that says whether a token is
//! accepted; each cache belongs to one verifier (one key).

use std::sync::Arc;
use std::time::Duration;

use super::{AccessClaims, Jwt, JwtError, LEEWAY_SECS, MAX_TOKEN_LEN};

/// Verified tokens remembered (each entry is the token text and its claims).
const CAPACITY: u64 = 100_000;
const REMEMBERED_FOR: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub(crate) struct VerifiedTokens {
    jwt: Jwt,
    cache: moka::sync::Cache<String, Arc<AccessClaims>>,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("entries", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl VerifiedTokens {
    /// An empty memory for tokens of `jwt`'s key.
    pub(crate) fn new(jwt: Jwt) -> Self {
        Self {
            jwt,
            cache: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(REMEMBERED_FOR)
                .build(),
        }
    }

    /// [`Jwt::verify`], remembered: a token seen before only has its expiry
    /// checked again.
    pub(crate) fn check(&self, token: &str, now_secs: i64) -> Result<Arc<AccessClaims>, JwtError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Invalid("malformed"));
        }
        if let Some(claims) = self.cache.get(token) {
            if now_secs > claims.exp.saturating_add(LEEWAY_SECS) {
                return Err(JwtError::Invalid("expired"));
            }
            return Ok(claims);
        }
        let claims = Arc::new(self.jwt.verify(token, now_secs)?);
        self.cache.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }
}
