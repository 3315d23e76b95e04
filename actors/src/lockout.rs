//! Account lockout as a pure state machine: the state and `now` go in, the
//! next state comes out. No clock, no I/O; the AttemptGate actor persists the
//! state with conditional updates and tests move time by hand.
//!
//! Rules: after `threshold` consecutive failures the account is locked for
//! one minute; each further failure doubles the lock, up to 15 minutes; a
//! completed login resets everything. An attempt while locked is refused
//! before any check and does not extend the lock. A count whose last
//! failure is [`FORGET_AFTER_MS`] old (and whose lock, if any, is over) is
//! forgotten: the next failure counts as the first. The same rule holds
//! for an account, a known device and an address with no account, so no
//! answer tells them apart, however long an attacker waits.

/// How long a failure count is remembered after its last failure.
pub(crate) const FORGET_AFTER_MS: i64 = 24 * 3600 * 1000;

/// How strict the lockout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that trigger the first lock.
    pub(crate) threshold: u32,
    /// The first lock, in milliseconds.
    pub(crate) base_lock_ms: i64,
    /// The longest lock, in milliseconds.
    pub(crate) max_lock_ms: i64,
}

impl LockoutPolicy {
    pub fn new(threshold: u32) -> Self {
        Self {
            threshold: threshold.max(1),
            base_lock_ms: 60_000,
            max_lock_ms: 15 * 60_000,
        }
    }
}

/// What is persisted per account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockState {
    /// Consecutive failed attempts since the last completed login.
    pub failures: u32,
    /// Unix ms until which attempts are refused.
    pub(crate) locked_until: Option<i64>,
    /// Unix ms of the last failure counted (`None` with no failures).
    pub(crate) last_failure_at: Option<i64>,
}

/// Whether an attempt may be checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Refused unchecked; try again after this many whole seconds (>= 1).
    Locked {
        retry_after_secs: u64,
    },
}

impl LockoutPolicy {
    pub fn gate(&self, state: LockState, now_ms: i64) -> Gate {
        match state.locked_until {
            Some(until) if until > now_ms => Gate::Locked {
                retry_after_secs: u64::try_from((until - now_ms + 999) / 1000)
                    .unwrap_or(1)
                    .max(1),
            },
            _ => Gate::Open,
        }
    }

    /// The state after one more failed attempt at `now_ms` (only called
    /// when the gate was open).
    pub(crate) fn after_failure(&self, state: LockState, now_ms: i64) -> LockState {
        let state = self.remembered(state, now_ms);
        let failures = state.failures.saturating_add(1);
        let locked_until = if failures >= self.threshold {
            Some(now_ms.saturating_add(self.lock_ms(failures)))
        } else {
            state.locked_until
        };
        LockState {
            failures,
            locked_until,
            last_failure_at: Some(now_ms),
        }
    }

    /// What of `state` still counts at `now_ms`: nothing once its last
    /// failure is [`FORGET_AFTER_MS`] old and no lock runs.
    pub fn remembered(&self, state: LockState, now_ms: i64) -> LockState {
        let lock_over = state.locked_until.is_none_or(|until| until <= now_ms);
        let stale = state
            .last_failure_at
            .is_none_or(|at| now_ms.saturating_sub(at) >= FORGET_AFTER_MS);
        if lock_over && stale {
            LockState::default()
        } else {
            state
        }
    }

    /// The state after a completed login.
    pub(crate) fn after_success(&self) -> LockState {
        Self::cleared()
    }

    /// The state a completed login, or a reset by an emailed link, leaves:
    /// no failures, no lock.
    pub fn cleared() -> LockState {
        LockState::default()
    }

    /// The lock that `failures` consecutive failures earn.
    pub(crate) fn lock_ms(&self, failures: u32) -> i64 {
        let doublings = failures.saturating_sub(self.threshold).min(20);
        self.base_lock_ms
            .saturating_mul(1i64 << doublings)
            .min(self.max_lock_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn fail_n(p: &LockoutPolicy, mut s: LockState, n: u32, now: i64) -> LockState {
        for _ in 0..n {
            assert_eq!(p.gate(s, now), Gate::Open);
            s = p.after_failure(s, now);
        }
        s
    }

    #[test]
    fn four_failures_do_not_lock() {
        let p = LockoutPolicy::new(5);
        let s = fail_n(&p, LockState::default(), 4, 0);
        assert_eq!(s.failures, 4);
        assert_eq!(p.gate(s, 0), Gate::Open);
    }

    #[test]
    fn the_fifth_failure_locks_for_one_minute() {
        let p = LockoutPolicy::new(5);
        let s = fail_n(&p, LockState::default(), 5, 1_000);
        assert_eq!(s.locked_until, Some(1_000 + MIN));
        assert_eq!(
            p.gate(s, 1_000),
            Gate::Locked {
                retry_after_secs: 60
            }
        );
        assert_eq!(
            p.gate(s, 1_000 + MIN - 1),
            Gate::Locked {
                retry_after_secs: 1
            }
        );
        assert_eq!(p.gate(s, 1_000 + MIN), Gate::Open);
    }

    #[test]
    fn each_further_failure_doubles_the_lock_up_to_fifteen_minutes() {
        let p = LockoutPolicy::new(5);
        let mut s = fail_n(&p, LockState::default(), 5, 0);
        let mut now = 0;
        let mut locks = Vec::new();
        for _ in 0..6 {
            now = s.locked_until.unwrap();
            s = p.after_failure(s, now);
            locks.push(s.locked_until.unwrap() - now);
        }
        assert_eq!(
            locks,
            vec![2 * MIN, 4 * MIN, 8 * MIN, 15 * MIN, 15 * MIN, 15 * MIN]
        );
        assert!(now > 0);
    }

    #[test]
    fn attempts_while_locked_are_refused_and_do_not_extend_the_lock() {
        let p = LockoutPolicy::new(5);
        let s = fail_n(&p, LockState::default(), 5, 0);
        // The caller checks the gate first; a locked gate means no state change.
        for t in [1, 10_000, 59_999] {
            assert!(matches!(p.gate(s, t), Gate::Locked { .. }));
        }
        assert_eq!(s.locked_until, Some(MIN));
    }

    #[test]
    fn a_completed_login_resets_the_count() {
        let p = LockoutPolicy::new(5);
        let s = fail_n(&p, LockState::default(), 4, 0);
        assert_eq!(s.failures, 4);
        let s = p.after_success();
        assert_eq!(s, LockState::default());
        let s = fail_n(&p, s, 4, 0);
        assert_eq!(p.gate(s, 0), Gate::Open);
    }

    #[test]
    fn a_count_is_forgotten_a_day_after_its_last_failure() {
        let p = LockoutPolicy::new(5);
        let s = fail_n(&p, LockState::default(), 4, 0);
        let almost = p.after_failure(s, FORGET_AFTER_MS - 1);
        assert!(matches!(
            p.gate(almost, FORGET_AFTER_MS - 1),
            Gate::Locked { .. }
        ));
        let next_day = p.after_failure(s, FORGET_AFTER_MS);
        assert_eq!(next_day.failures, 1);
        assert_eq!(p.gate(next_day, FORGET_AFTER_MS), Gate::Open);
    }

    #[test]
    fn a_running_lock_is_never_forgotten() {
        let p = LockoutPolicy::new(5);
        let mut s = fail_n(&p, LockState::default(), 5, 0);
        s.locked_until = Some(2 * FORGET_AFTER_MS);
        assert_eq!(p.remembered(s, FORGET_AFTER_MS + 1), s);
        // Once the lock is over (and the last failure old), it is.
        assert_eq!(p.remembered(s, 2 * FORGET_AFTER_MS), LockState::default());
    }

    #[test]
    fn a_count_stored_without_its_time_counts_as_old() {
        let p = LockoutPolicy::new(5);
        let s = LockState {
            failures: 4,
            locked_until: None,
            last_failure_at: None,
        };
        assert_eq!(p.after_failure(s, 10).failures, 1);
    }

    #[test]
    fn the_threshold_is_configurable() {
        let p = LockoutPolicy::new(3);
        let s = fail_n(&p, LockState::default(), 3, 0);
        assert!(matches!(p.gate(s, 0), Gate::Locked { .. }));
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let p = LockoutPolicy::new(5);
        let s = LockState {
            failures: u32::MAX,
            locked_until: None,
            last_failure_at: Some(i64::MAX - 10),
        };
        let next = p.after_failure(s, i64::MAX - 10);
        assert_eq!(next.failures, u32::MAX);
        assert_eq!(p.lock_ms(u32::MAX), 15 * MIN);
    }
}
