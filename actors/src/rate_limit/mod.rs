//! Per client IP and endpoint rate limits: `N` requests per minute on each
//! endpoint, as a GCRA (burst of `N`, then one more every `60 / N` seconds).
//!
//! In one process a keyed governor limiter does it; with Redis the budget is
//! shared through an atomic Lua script so that several nodes give one budget,
//! not one each. [`TrustedProxies`] works out the client IP from the peer and
//! X-Forwarded-For.

mod local;
mod proxies;
mod shared;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::Quota;

use self::local::Local;
pub use self::proxies::TrustedProxies;
use self::shared::{Outcome, Shared};

/// Refused: wait this many whole seconds (>= 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl RetryAfter {
    /// A wait rounded up to whole seconds, at least one.
    pub fn from_duration(wait: Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self(secs.max(1))
    }

    fn from_micros(wait: u64) -> Self {
        Self(wait.div_ceil(1_000_000).max(1))
    }
}

/// Why a limiter or the trusted proxies could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// A trusted proxy entry is neither an IP address nor a CIDR.
    #[error("trusted proxy `{entry}`: {reason}")]
    InvalidProxy {
        /// The entry as given.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The Redis URL is bad, or Redis refused or failed a command.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {0:?}")]
    RedisTimeout(Duration),
}

/// Per (endpoint, client IP) request budgets. Cheap to clone; clones share
/// the budgets.
#[derive(Clone)]
pub struct RateLimiter {
    per_minute: u32,
    local: Arc<Local>,
    shared: Option<Arc<Shared>>,
}

impl RateLimiter {
    /// In-process only (governor keyed by (endpoint, ip)); quota: `per_minute`
    /// requests per 60 s, burst = `per_minute`. Zero counts as one.
    pub fn local(per_minute: u32) -> Self {
        let per_minute = per_minute.max(1);
        Self {
            per_minute,
            local: Arc::new(Local::new(quota(per_minute))),
            shared: None,
        }
    }

    /// Shared through Redis; `prefix` namespaces keys
    /// (`{prefix}:rl:{endpoint}:{ip}`, expiring once back to a full budget).
    ///
    /// Redis must be reachable now: a bad URL, or a Redis that cannot be
    /// reached within about a second, is an `Err` (the caller may then fall
    /// back to [`RateLimiter::local`] itself). Once running, an outage never
    /// fails or hangs a request: each Redis call has a 250 ms timeout, after a
    /// failure Redis is left alone for a second, and meanwhile the local
    /// limiter (same quota, per node) answers, with one `tracing::warn` per
    /// outage.
    pub async fn redis(url: &str, per_minute: u32, prefix: &str) -> Result<Self, RateLimitError> {
        let per_minute = per_minute.max(1);
        let shared = Shared::connect(url, per_minute, prefix).await?;
        Ok(Self {
            per_minute,
            local: Arc::new(Local::new(quota(per_minute))),
            shared: Some(Arc::new(shared)),
        })
    }

    /// Counts one request of `ip` to `endpoint` (a short name like "login");
    /// `Err` with the wait when over budget.
    pub async fn check(&self, endpoint: &str, ip: IpAddr) -> Result<(), RetryAfter> {
        let ip = ip.to_canonical();
        if let Some(shared) = &self.shared {
            match shared.check(endpoint, ip).await {
                Outcome::Allowed => return Ok(()),
                Outcome::Refused(wait) => return Err(wait),
                Outcome::Unavailable => {}
            }
        }
        self.local.check(endpoint, ip)
    }

    /// The configured budget per endpoint and IP per minute.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Whether the budget is shared through Redis.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("per_minute", &self.per_minute)
            .field("local", &self.local)
            .field("shared", &self.shared)
            .finish()
    }
}

/// `per_minute` per 60 s with a burst of `per_minute` (zero counts as one).
fn quota(per_minute: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN))
}
