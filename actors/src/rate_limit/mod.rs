//! Rate limits: `N` requests per period (a minute for the per-IP limits) on
//! each endpoint and subject, as a GCRA (burst of `N`, then one more every
//! `period / N`). A subject is a client network (IPv4 address or IPv6
//! prefix) or a hashed id (a recipient address, a refresh-token session).
//!
//! In one process a keyed governor limiter does it; with Redis the budget is
//! shared through an atomic Lua script so that several nodes give one budget,
//! not one each. [`TrustedProxies`] works out the client IP from the peer and
//! X-Forwarded-For.

mod local;
mod mail;
mod proxies;
mod shared;
mod subject;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::Quota;

use self::local::Local;
pub use self::mail::MailBudget;
pub use self::proxies::{TrustedProxies, UNKNOWN_CLIENT};
use self::shared::{Outcome, Shared};
pub(crate) use self::subject::{DEFAULT_IPV6_PREFIX, Subject};

/// Refused: wait this many whole seconds (>= 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl RetryAfter {
    /// A wait rounded up to whole seconds, at least one.
    pub(crate) fn from_duration(wait: Duration) -> Self {
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

/// Per (endpoint, subject) request budgets. Cheap to clone; clones share
/// the budgets.
#[derive(Clone)]
pub struct RateLimiter {
    count: u32,
    period: Duration,
    ipv6_prefix: u8,
    local: Arc<Local>,
    shared: Option<Arc<Shared>>,
    /// Subjects refused by [`RateLimiter::fail`], until when (this node).
    refusals: Arc<Refusals>,
}

/// Where [`RateLimiter::fail`] notes a refusal, for [`RateLimiter::refused`].
type Refusals =
    std::sync::Mutex<std::collections::HashMap<(&'static str, Subject), std::time::Instant>>;

impl RateLimiter {
    /// In-process only (governor keyed by (endpoint, subject)); quota:
    /// `per_minute` requests per 60 s, burst = `per_minute`. Zero counts as
    /// one. IPv6 clients are counted per /64 (see [`Self::with_ipv6_prefix`]).
    pub fn local(per_minute: u32) -> Self {
        Self::build(per_minute, MINUTE, None)
    }

    /// Shared through Redis; `prefix` namespaces keys
    /// (`{prefix}:rl:{endpoint}:{subject}`, expiring once back to a full
    /// budget).
    ///
    /// Redis must be reachable now: a bad URL, or a Redis that cannot be
    /// reached within about a second, is an `Err` (the caller may then fall
    /// back to [`RateLimiter::local`] itself). Once running, an outage never
    /// fails or hangs a request: each Redis call has a 250 ms timeout, after a
    /// failure Redis is left alone for a second, and meanwhile the local
    /// limiter (same quota, per node) answers, with one `tracing::warn` per
    /// outage.
    pub async fn redis(url: &str, per_minute: u32, prefix: &str) -> Result<Self, RateLimitError> {
        let shared = Shared::connect(url, prefix).await?;
        Ok(Self::build(per_minute, MINUTE, Some(Arc::new(shared))))
    }

    /// Another limiter on the same backend (the same Redis connection and
    /// namespace, if any) with its own quota: `count` per `period` (zero
    /// counts as one), and budgets of its own. Endpoint names must not
    /// collide with the other limiters' on that backend.
    pub fn with_quota(&self, count: u32, period: Duration) -> Self {
        let mut other = Self::build(count, period, self.shared.clone());
        other.ipv6_prefix = self.ipv6_prefix;
        other
    }

    /// Counts IPv6 clients per prefix of this length (1..=128; default 64).
    /// IPv4 clients are always counted per address.
    #[must_use]
    pub fn with_ipv6_prefix(mut self, len: u8) -> Self {
        self.ipv6_prefix = len.clamp(1, 128);
        self
    }

    fn build(count: u32, period: Duration, shared: Option<Arc<Shared>>) -> Self {
        let count = count.max(1);
        let period = period.max(Duration::from_micros(1));
        Self {
            count,
            period,
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
            local: sweeping(Local::new(quota(count, period))),
            shared,
            refusals: Arc::default(),
        }
    }

    /// Counts one request of `ip` to `endpoint` (a short name like "login"):
    /// IPv4 per address, IPv6 per configured prefix. `Err` with the wait
    /// when over budget.
    pub async fn check(&self, endpoint: &'static str, ip: IpAddr) -> Result<(), RetryAfter> {
        self.check_subject(endpoint, Subject::ip(ip, self.ipv6_prefix))
            .await
    }

    /// Counts one failure of `ip` at `endpoint` (a wrong admin key): as
    /// [`Self::check`], and once refused, [`Self::refused`] says so for the
    /// whole wait (on this node), so that even a right attempt is refused
    /// meanwhile.
    pub async fn fail(&self, endpoint: &'static str, ip: IpAddr) -> Result<(), RetryAfter> {
        let subject = Subject::ip(ip, self.ipv6_prefix);
        let result = self.check_subject(endpoint, subject.clone()).await;
        if let Err(wait) = result
            && let Ok(mut refusals) = self.refusals.lock()
        {
            let now = std::time::Instant::now();
            refusals.retain(|_, until| *until > now);
            refusals.insert((endpoint, subject), now + Duration::from_secs(wait.0));
        }
        result
    }

    /// Whether failures of `ip` at `endpoint` were refused lately
    /// ([`Self::fail`]): `Err` with the rest of the wait. Spends nothing.
    pub fn refused(&self, endpoint: &'static str, ip: IpAddr) -> Result<(), RetryAfter> {
        let key = (endpoint, Subject::ip(ip, self.ipv6_prefix));
        let now = std::time::Instant::now();
        let until = self
            .refusals
            .lock()
            .ok()
            .and_then(|refusals| refusals.get(&key).copied());
        match until {
            Some(until) if until > now => Err(RetryAfter::from_duration(until - now)),
            _ => Ok(()),
        }
    }

    /// Counts one use by an opaque id (a normalised address, a session id),
    /// which is only kept (and sent to Redis) as a hash.
    pub(crate) async fn check_id(
        &self,
        endpoint: &'static str,
        id: &str,
    ) -> Result<(), RetryAfter> {
        self.check_subject(endpoint, Subject::hashed(id)).await
    }

    async fn check_subject(
        &self,
        endpoint: &'static str,
        subject: Subject,
    ) -> Result<(), RetryAfter> {
        if let Some(shared) = &self.shared {
            let interval_us = u64::try_from(self.period.as_micros() / u128::from(self.count))
                .unwrap_or(u64::MAX)
                .max(1);
            match shared
                .check(endpoint, &subject, interval_us, self.count)
                .await
            {
                Outcome::Allowed => return Ok(()),
                Outcome::Refused(wait) => return Err(wait),
                Outcome::Unavailable => {}
            }
        }
        self.local.check(endpoint, subject)
    }

    /// The configured budget: this many requests per [`Self::period`].
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The period the budget refills over.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Whether the budget is shared through Redis.
    #[cfg(test)]
    pub(crate) fn is_shared(&self) -> bool {
        self.shared.is_some()
    }
}

/// How often a timer sweeps stale keys out of a limiter that holds any, besides the
/// sweeps its own checks trigger: the keys of a burst from many addresses
/// are dropped a little after it even when no request follows.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// `local`, shared with a timer that sweeps it every [`SWEEP_EVERY`] (on a
/// blocking thread: a sweep walks every key) until the limiter is dropped.
/// Outside a Tokio runtime only the checks sweep.
fn sweeping(local: Local) -> Arc<Local> {
    let local = Arc::new(local);
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let weak = Arc::downgrade(&local);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(local) = weak.upgrade() else { break };
                if local.len() > 0 {
                    let _ = tokio::task::spawn_blocking(move || local.sweep()).await;
                }
            }
        });
    }
    local
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("count", &self.count)
            .field("period", &self.period)
            .field("ipv6_prefix", &self.ipv6_prefix)
            .field("local", &self.local)
            .field("shared", &self.shared)
            .finish()
    }
}

const MINUTE: Duration = Duration::from_secs(60);

/// `count` per `period` with a burst of `count` (zero counts as one).
fn quota(count: u32, period: Duration) -> Quota {
    let burst = NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN);
    let interval = period / burst.get();
    Quota::with_period(interval.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(burst))
        .allow_burst(burst)
}
