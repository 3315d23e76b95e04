//! How apalis retries an email job: the handler says what happened, this
//! policy turns it into a wait. A transient failure (`RetryLater`) is
//! retried after its backoff, measured on the injected clock; anything else
//! ends the job (`AbortError` for a permanent refusal or the last attempt,
//! success for a row that is done or held elsewhere).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use apalis::layers::retry::Policy;
use apalis::prelude::{BoxDynError, Task};
use tokio_util::sync::CancellationToken;

use crate::{EmailJob, SharedClock};

/// A transient failure: try the same job again once `at_ms` has passed on
/// the injected clock.
#[derive(Debug, thiserror::Error)]
#[error("email delivery failed, retried at {at_ms}: {reason}")]
pub struct RetryLater {
    pub at_ms: i64,
    pub reason: String,
}

/// Retries one job at most this many times in this process. The row's own
/// limit (`max_attempts`, 15) ends a job first; this bound is for retries
/// that record no attempt (the database is down): after it the job is left
/// to the backend's own retry and to the outbox relay's redispatch.
const MAX_RETRIES_IN_PROCESS: u32 = 30;

#[derive(Clone, Debug)]
pub struct EmailRetry {
    pub clock: SharedClock,
    /// How often a waiting retry reads the clock (a moved clock is seen
    /// within this time).
    pub clock_step: Duration,
    /// Stops waiting: a worker shutting down leaves the job to the backend.
    pub shutdown: CancellationToken,
    retries: u32,
}

impl EmailRetry {
    pub fn new(clock: SharedClock, clock_step: Duration, shutdown: CancellationToken) -> Self {
        Self {
            clock,
            clock_step,
            shutdown,
            retries: 0,
        }
    }
}

impl<Res> Policy<Task<EmailJob>, Res, BoxDynError> for EmailRetry {
    type Future = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn retry(
        &mut self,
        _job: &mut Task<EmailJob>,
        result: &mut Result<Res, BoxDynError>,
    ) -> Option<Self::Future> {
        let later = result.as_ref().err()?.downcast_ref::<RetryLater>()?;
        if self.shutdown.is_cancelled() || self.retries >= MAX_RETRIES_IN_PROCESS {
            return None;
        }
        self.retries += 1;
        let (clock, step, stop, at_ms) = (
            self.clock.clone(),
            self.clock_step,
            self.shutdown.clone(),
            later.at_ms,
        );
        Some(Box::pin(async move {
            tokio::select! {
                () = crate::clock::sleep_until(&*clock, at_ms, step) => {}
                () = stop.cancelled() => {}
            }
        }))
    }

    fn clone_request(&mut self, job: &Task<EmailJob>) -> Option<Task<EmailJob>> {
        Some(job.clone())
    }
}
