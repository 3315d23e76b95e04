//! Timings of delivery. The defaults are production values; tests shorten
//! them through the same struct instead of sleeping for minutes.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct DeliveryTuning {
    /// How often the relay looks for due outbox rows when nothing wakes it.
    pub relay_interval: Duration,
    /// A pushed row the queue has not come back to this long after it was
    /// due (pushed, or its retry time) is pushed again: the queue lost the
    /// job (Redis flushed, a worker killed mid-job).
    pub redispatch_after: Duration,
    /// How long a worker's claim on a row lasts while it sends; the whole
    /// send is cut off after half of it.
    pub lease: Duration,
    /// First retry delay after a transient SMTP failure; doubles each time.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_cap: Duration,
    /// Attempts before a transiently failing email is recorded as failed.
    pub max_attempts: i32,
    /// SMTP connect/command timeout.
    pub smtp_timeout: Duration,
    /// How often a job waiting for its retry reads the clock.
    pub clock_step: Duration,
}

impl Default for DeliveryTuning {
    fn default() -> Self {
        // 10 s, 20 s, ... capped at 15 min, 15 attempts: about 2 h of retries.
        Self {
            relay_interval: Duration::from_secs(1),
            redispatch_after: Duration::from_secs(300),
            lease: Duration::from_secs(60),
            backoff_base: Duration::from_secs(10),
            backoff_cap: Duration::from_secs(900),
            max_attempts: 15,
            smtp_timeout: Duration::from_secs(10),
            clock_step: Duration::from_secs(1),
        }
    }
}

impl DeliveryTuning {
    /// Delay before the next try after `attempts` failed tries (1-based).
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.backoff_base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.backoff_cap)
    }

    /// Total time a transiently failing email keeps being retried.
    pub fn total_retry_window(&self) -> Duration {
        (1..self.max_attempts).map(|n| self.backoff(n)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let t = DeliveryTuning::default();
        assert_eq!(t.backoff(1), Duration::from_secs(10));
        assert_eq!(t.backoff(2), Duration::from_secs(20));
        assert_eq!(t.backoff(7), Duration::from_secs(640));
        assert_eq!(t.backoff(8), Duration::from_secs(900));
        assert_eq!(t.backoff(40), Duration::from_secs(900));
    }

    #[test]
    fn default_retries_last_more_than_an_hour() {
        assert!(DeliveryTuning::default().total_retry_window() >= Duration::from_secs(3600));
    }
}
