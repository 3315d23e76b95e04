//! An injectable clock, in Unix milliseconds, so that expiry, backoff and
//! lockout rules are tested by moving time instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// The real time plus a shift that tests move forward ("48 hours later")
/// without sleeping; between jumps it runs like the real clock.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_ms: AtomicI64,
}

impl OffsetClock {
    pub fn advance_ms(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.offset_ms.load(Ordering::SeqCst)
    }
}

/// Waits until `clock` reads at least `until_ms`, looking at it at least
/// every `step`: a real wait on the system clock, and a short one when a
/// test moves the clock past the target.
pub async fn sleep_until(clock: &dyn Clock, until_ms: i64, step: std::time::Duration) {
    loop {
        let left = until_ms.saturating_sub(clock.now_ms());
        if left <= 0 {
            return;
        }
        let left = std::time::Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX));
        tokio::time::sleep(left.min(step)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_clock_jumps_forward() {
        let clock = OffsetClock::default();
        let before = clock.now_ms();
        clock.advance_ms(3_600_000);
        assert!(clock.now_ms() - before >= 3_600_000);
    }

    #[tokio::test]
    async fn sleep_until_ends_when_the_clock_is_moved_past_the_target() {
        let clock = std::sync::Arc::new(OffsetClock::default());
        let target = clock.now_ms() + 3_600_000;
        let waiting = tokio::spawn({
            let clock = clock.clone();
            async move { sleep_until(&*clock, target, std::time::Duration::from_millis(10)).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "an hour has not passed");
        clock.advance_ms(3_600_000);
        tokio::time::timeout(std::time::Duration::from_secs(2), waiting)
            .await
            .expect("woken by the moved clock")
            .expect("no panic");
    }
}
