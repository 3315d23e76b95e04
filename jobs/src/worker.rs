//! The email worker: takes a job (an outbox id) from the queue, claims the
//! row, renders and sends the email, and records the outcome on the row.
//! apalis does the retrying: a transient failure is an error it retries
//! after the row's backoff (`retry::EmailRetry`), a permanent one or the
//! last attempt aborts the job. The outbox row stays the durable record:
//! the relay pushes a row again only when the queue lost its job.

use std::sync::Arc;
use std::time::Duration;

use apalis::layers::WorkerBuilderExt;
use apalis::prelude::*;
use apalis_core::backend::ext::BackendExt;
use apalis_core::backend::ext::poll_strategy::{PollSnapshot, PollStrategy};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::mailer::SendError;
use crate::outbox::{self, OutboxRow};
use crate::queue::worker_name;
use crate::retry::{EmailRetry, RetryLater};
use crate::slots::SendSlots;
use crate::{DeliveryTuning, EmailJob, EmailKind, JobsError, Mailer, Queue, Sealer, SharedClock};

/// What a worker needs to deliver an outbox row.
#[derive(Debug)]
pub struct Delivery {
    pub db: DatabaseConnection,
    pub mailer: Mailer,
    pub sealer: Arc<Sealer>,
    pub clock: SharedClock,
    pub tuning: DeliveryTuning,
}

/// What became of one delivery, as the queue should see it.
#[derive(Debug)]
pub enum Outcome {
    /// Sent now, or already sent, failed or held by another worker.
    Finished,
    /// A transient failure recorded on the row: try again at `at_ms`.
    Retry(RetryLater),
    /// Refused for good, or the last attempt failed: recorded as failed.
    GaveUp(String),
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Delivery {
    /// Delivers one outbox row, at most once at a time across all workers.
    ///
    /// Once the row is claimed, sending it and recording the outcome run
    /// as a task of their own, which the caller's future being dropped does
    /// not cut short: a worker that apalis restarts (Redis flushed or
    /// blipped) or a job given up half-way would otherwise leave a mail the
    /// server has taken on a row still pending, and its lease running out
    /// would send it again.
    pub async fn deliver(self: &Arc<Self>, outbox_id: uuid::Uuid) -> Result<Outcome, JobsError> {
        let now = self.clock.now_ms();
        let Some(row) =
            outbox::claim(&self.db, outbox_id, now, now + ms(self.tuning.lease)).await?
        else {
            tracing::debug!(%outbox_id, "outbox row already handled or held by another worker");
            return Ok(Outcome::Finished);
        };
        let attempt = row.attempts;
        let span = info_span!("deliver", %outbox_id, attempt, kind = %row.kind);
        let this = Arc::clone(self);
        tokio::spawn(async move { this.send_claimed(row).await }.instrument(span))
            .await
            .map_err(|e| JobsError::Queue(format!("email delivery task ended: {e}")))?
    }

    async fn send_claimed(&self, row: OutboxRow) -> Result<Outcome, JobsError> {
        let id = row.id;
        let email = match self.open(&row) {
            Ok(email) => email,
            Err(JobsError::Crypto) => return self.set_aside(row).await,
            Err(e) => {
                warn!(outbox_id = %id, attempt = row.attempts, error = %e, "email payload unusable; recorded as failed");
                outbox::mark_failed(&self.db, id, &e.to_string()).await?;
                return Ok(Outcome::GaveUp(e.to_string()));
            }
        };
        let result = match email.render() {
            Ok(rendered) => self.send_within_lease(&row, rendered).await,
            Err(e) => Err(SendError::Permanent(e.to_string())),
        };
        Ok(match result {
            Ok(whereto) => {
                outbox::mark_sent(&self.db, id, self.clock.now_ms()).await?;
                info!(outbox_id = %id, attempt = row.attempts, via = %whereto, "email sent");
                Outcome::Finished
            }
            Err(SendError::Permanent(error)) => {
                warn!(outbox_id = %id, attempt = row.attempts, %error, "email refused permanently; recorded as failed");
                outbox::mark_failed(&self.db, id, &error).await?;
                Outcome::GaveUp(error)
            }
            Err(SendError::Transient(error)) if row.attempts >= self.tuning.max_attempts => {
                warn!(outbox_id = %id, attempt = row.attempts, %error, "email still failing after the last attempt; recorded as failed");
                outbox::mark_failed(&self.db, id, &error).await?;
                Outcome::GaveUp(error)
            }
            Err(SendError::Transient(error)) => {
                let delay = self.tuning.backoff(row.attempts);
                warn!(outbox_id = %id, attempt = row.attempts, %error, retry_in_ms = ms(delay), "email delivery failed; will retry");
                let at_ms = self.clock.now_ms() + ms(delay);
                // If the queue has not come back to the row by then, the
                // relay pushes it again.
                let redispatch_at = at_ms.saturating_add(ms(self.tuning.redispatch_after));
                outbox::mark_retry(&self.db, id, redispatch_at, &error).await?;
                Outcome::Retry(RetryLater {
                    at_ms,
                    reason: error,
                })
            }
        })
    }

    /// A payload sealed with a key this node does not have (a node started
    /// with another `AUTH_ENCRYPTION_KEY`): the row keeps its payload and
    /// its attempts, and is retried later, by whichever worker has the key.
    /// Erasing it would lose the mail for good.
    async fn set_aside(&self, row: OutboxRow) -> Result<Outcome, JobsError> {
        metrics::counter!("authd_email_jobs_unopenable_total").increment(1);
        let delay = self.tuning.backoff_cap;
        warn!(outbox_id = %row.id, "email payload sealed with a key this node does not have (check AUTH_ENCRYPTION_KEY on every node); left for a node that has it");
        let at_ms = self.clock.now_ms() + ms(delay);
        let redispatch_at = at_ms.saturating_add(ms(self.tuning.redispatch_after));
        outbox::set_aside(&self.db, row.id, redispatch_at, "sealed with another key").await?;
        Ok(Outcome::Retry(RetryLater {
            at_ms,
            reason: "sealed with another key".into(),
        }))
    }

    /// The whole send (connect, every command, the message) ends within
    /// half the claim's lease, so no other worker can claim the row while
    /// this one may still be sending it; a send cut off is a transient
    /// failure, retried like any other.
    async fn send_within_lease(
        &self,
        row: &OutboxRow,
        rendered: crate::email::Rendered,
    ) -> Result<String, SendError> {
        let deadline = self.tuning.lease / 2;
        tokio::time::timeout(
            deadline,
            self.mailer.send(&row.recipient, &row.kind, rendered),
        )
        .await
        .unwrap_or_else(|_| {
            Err(SendError::Transient(format!(
                "no answer within {} ms",
                ms(deadline)
            )))
        })
    }

    fn open(&self, row: &OutboxRow) -> Result<EmailKind, JobsError> {
        let sealed = row
            .payload
            .as_deref()
            .ok_or_else(|| JobsError::Template("the row has no payload".into()))?;
        let plain = self.sealer.open(sealed, row.id.as_bytes())?;
        serde_json::from_slice(&plain).map_err(|_| JobsError::Crypto)
    }
}

/// The apalis handler: the outcome as apalis understands it.
async fn handle(
    job: EmailJob,
    delivery: Data<Arc<Delivery>>,
    worker: WorkerContext,
) -> Result<(), BoxDynError> {
    if worker.is_shutting_down() {
        // Not claimed: the backend (or the relay) hands it to a worker later.
        return Err("worker stopping; email job left for later".into());
    }
    match delivery.deliver(job.outbox_id).await {
        Ok(Outcome::Finished) => Ok(()),
        Ok(Outcome::Retry(later)) => Err(Box::new(later)),
        Ok(Outcome::GaveUp(reason)) => Err(Box::new(AbortError::new(reason))),
        Err(e) => {
            // The row could not be claimed or marked (the database is
            // down): nothing was recorded, so try again after the first
            // backoff step.
            warn!(outbox_id = %job.outbox_id, error = %e, "email job could not reach the outbox; will retry");
            let at_ms = delivery.clock.now_ms() + ms(delivery.tuning.backoff(1));
            Err(Box::new(RetryLater {
                at_ms,
                reason: e.to_string(),
            }))
        }
    }
}

/// How often an idle worker asks the queue for work.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Wakes the worker every period. apalis' own `IntervalStrategy` arms its
/// next delay without polling it, so a worker whose fetch completes at once
/// can park with nothing left to wake it (seen as a stalled queue under CPU
/// load); this timer is always left armed with the current waker.
struct Tick(tokio::time::Interval);

impl Tick {
    fn new(period: Duration) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self(interval)
    }
}

impl PollStrategy for Tick {
    fn poll_drive(
        &mut self,
        cx: &mut std::task::Context<'_>,
        _snapshot: &PollSnapshot,
    ) -> std::task::Poll<Option<()>> {
        let mut fired = false;
        while self.0.poll_tick(cx).is_ready() {
            fired = true;
        }
        if fired {
            std::task::Poll::Ready(Some(()))
        } else {
            std::task::Poll::Pending
        }
    }
}

macro_rules! run_one {
    ($storage:expr, $delivery:expr, $retry:expr, $shutdown:expr, $concurrency:expr) => {{
        let name = worker_name();
        info!(worker = %name, "email worker started");
        let stop = $shutdown.clone();
        WorkerBuilder::new(name)
            .backend(
                $storage
                    .clone()
                    .poll_with_strategy(Tick::new(POLL_INTERVAL)),
            )
            .data($delivery.clone())
            // Outside the send slots: a job waiting for its retry holds
            // none (see `slots`).
            .retry($retry.clone())
            .layer(SendSlots($concurrency))
            .build(handle)
            .run_until(async move {
                stop.cancelled().await;
                Ok::<(), std::io::Error>(())
            })
            .await
    }};
}

/// Runs the queue's worker until `shutdown`, starting a new one (with a new
/// name) whenever the backend fails, e.g. while Redis is down.
pub async fn run(queue: Queue, delivery: Arc<Delivery>, shutdown: CancellationToken) {
    let concurrency = 8;
    let retry = EmailRetry::new(
        delivery.clock.clone(),
        delivery.tuning.clock_step,
        shutdown.clone(),
    );
    while !shutdown.is_cancelled() {
        let result = match &queue {
            Queue::Sqlite(s) => run_one!(s, delivery, retry, shutdown, concurrency),
            Queue::Redis(s) => run_one!(s, delivery, retry, shutdown, concurrency),
        };
        if let Err(e) = result {
            warn!(error = %e, "email worker stopped; starting another in 1 s");
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
    info!("email worker stopped");
}
