//! The in-process limiter: one governor GCRA state per (endpoint, subject).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter as Governor};

use super::RetryAfter;
use super::subject::Subject;

/// The endpoint names are the static names of `openapi::limits::Limited`
/// (no allocation per key).
pub(super) type Key = (&'static str, Subject);

/// Checks between two sweeps of stale keys, at the least; the gap grows with
/// the number of live keys so that sweeping stays O(1) per check amortised.
const MIN_SWEEP_GAP: usize = 1024;

/// Keyed GCRA limiter whose key store is swept of stale keys as it is used.
pub(super) struct Local<C: Clock = DefaultClock> {
    limiter: Governor<Key, DashMapStateStore<Key>, C, NoOpMiddleware<C::Instant>>,
    since_sweep: AtomicUsize,
    sweep_gap: AtomicUsize,
}

impl Local {
    /// A limiter on the real clock.
    pub(super) fn new(quota: Quota) -> Self {
        Self::with_clock(quota, DefaultClock::default())
    }
}

impl<C: Clock> Local<C> {
    /// A limiter on the given clock (tests move a fake clock by hand).
    pub(super) fn with_clock(quota: Quota, clock: C) -> Self {
        Self {
            limiter: Governor::dashmap_with_clock(quota, clock),
            since_sweep: AtomicUsize::new(0),
            sweep_gap: AtomicUsize::new(MIN_SWEEP_GAP),
        }
    }

    /// Counts one request; `Err` with the wait when over budget.
    pub(super) fn check(
        &self,
        endpoint: &'static str,
        subject: impl Into<Subject>,
    ) -> Result<(), RetryAfter> {
        self.maybe_sweep();
        let key = (endpoint, subject.into());
        match self.limiter.check_key(&key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let now = self.limiter.clock().now();
                Err(RetryAfter::from_duration(not_until.wait_time_from(now)))
            }
        }
    }

    /// Keys currently held (live or not yet swept).
    pub(super) fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Drops every key whose state equals a fresh one, now.
    pub(super) fn sweep(&self) {
        self.since_sweep.store(0, Ordering::Relaxed);
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        let gap = self.limiter.len().max(MIN_SWEEP_GAP);
        self.sweep_gap.store(gap, Ordering::Relaxed);
    }

    fn maybe_sweep(&self) {
        let seen = self.since_sweep.fetch_add(1, Ordering::Relaxed) + 1;
        if seen >= self.sweep_gap.load(Ordering::Relaxed) {
            self.sweep();
        }
    }
}

impl<C: Clock> fmt::Debug for Local<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local").field("keys", &self.len()).finish()
    }
}
