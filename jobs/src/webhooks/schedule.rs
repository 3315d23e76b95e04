//! When a refused delivery is tried again: Standard Webhooks' schedule
//! (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after each failed attempt),
//! with up to a tenth of random spread, then given up.

use rand::Rng;

/// The delays after failed attempts 1 to 7, in seconds.
pub const DELAYS_SECS: [i64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// Attempts in all: the first and one after each delay.
pub const MAX_ATTEMPTS: i32 = DELAYS_SECS.len() as i32 + 1;

/// After failed attempt `attempt` (1-based) at `now_ms`: when to try again,
/// or `None` when that was the last.
pub fn next_attempt_at(attempt: i32, now_ms: i64) -> Option<i64> {
    let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
    let delay_ms = DELAYS_SECS.get(index)? * 1000;
    let spread = rand::rng().random_range(0..=delay_ms / 10);
    Some(now_ms + delay_ms + spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_schedule_then_gives_up() {
        for (n, secs) in DELAYS_SECS.iter().enumerate() {
            let at = next_attempt_at(n as i32 + 1, 0).unwrap();
            assert!(at >= secs * 1000 && at <= secs * 1100, "{n}: {at}");
        }
        assert_eq!(next_attempt_at(MAX_ATTEMPTS, 0), None);
        assert_eq!(next_attempt_at(0, 0), None);
    }
}
