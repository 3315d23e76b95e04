//! The per-recipient mail budget: how many mails the endpoints that send
//! mail on request (password reset, resend verification) may queue to one
//! address per hour, whoever asks and from wherever.

use std::fmt;
use std::time::Duration;

use super::RateLimiter;
use crate::domain::Email;

const HOUR: Duration = Duration::from_secs(3600);

/// Limits mails per normalised recipient address. Cheap to clone; clones
/// share the budgets. The address is only ever kept (and sent to Redis) as
/// a hash.
#[derive(Clone, Default)]
pub struct MailBudget(Option<RateLimiter>);

impl MailBudget {
    /// `per_hour` mails per address per hour, on `backend`'s store (Redis
    /// when it is shared); zero turns the limit off.
    pub fn new(backend: &RateLimiter, per_hour: u32) -> Self {
        Self((per_hour > 0).then(|| backend.with_quota(per_hour, HOUR)))
    }

    /// No limit.
    pub fn off() -> Self {
        Self(None)
    }

    /// Counts one mail to `to`: `true` if it may be queued.
    pub async fn allow(&self, to: &Email) -> bool {
        match &self.0 {
            None => true,
            Some(limiter) => {
                let allowed = limiter.check_id("mail", to.normalized()).await.is_ok();
                if !allowed {
                    tracing::info!("mail not queued: the recipient's hourly budget is spent");
                }
                allowed
            }
        }
    }
}

impl fmt::Debug for MailBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("MailBudget(off)"),
            Some(limiter) => write!(f, "MailBudget({} per hour)", limiter.count()),
        }
    }
}
