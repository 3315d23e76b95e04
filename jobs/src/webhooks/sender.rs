//! The sender: a polling task of the worker that claims due delivery rows
//! with a lease and POSTs each, signed, in its own task (a slow receiver
//! holds one slot, not the others, and never the mail relay). 2xx within
//! the timeout is delivered; anything else (a redirect too: none is
//! followed) is retried on the schedule, then failed.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::entity::{Model as Delivery, Status};
use super::{Webhooks, deliveries, schedule, sign};
use crate::{JobsError, SharedClock};

/// Timings of the sender; production defaults, shortened by tests.
#[derive(Debug, Clone)]
pub struct WebhookTuning {
    /// How long a receiver has to answer (API.md: 10 s).
    pub timeout: Duration,
    /// How often the sender looks for due rows when nothing wakes it.
    pub poll_interval: Duration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
}

impl Default for WebhookTuning {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            concurrency: 32,
        }
    }
}

impl WebhookTuning {
    /// A claim outlives the attempt it covers: the timeout and a margin.
    fn lease_ms(&self) -> i64 {
        i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX / 2) + 30_000
    }
}

#[derive(Debug, Clone)]
pub struct Sender {
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    pub webhooks: Webhooks,
    pub tuning: WebhookTuning,
    client: reqwest::Client,
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Retried,
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retried => "retried",
            Self::Failed => "failed",
        }
    }
}

impl Sender {
    pub fn new(
        db: DatabaseConnection,
        clock: SharedClock,
        webhooks: Webhooks,
        tuning: WebhookTuning,
    ) -> Result<Self, JobsError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(tuning.timeout)
            .user_agent(concat!("authd-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JobsError::Template(format!("webhook client: {e}")))?;
        Ok(Self {
            db,
            clock,
            webhooks,
            tuning,
            client,
        })
    }

    /// Sends until `shutdown`, then waits for the attempts in flight (each
    /// bounded by the timeout).
    pub async fn run(self, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.tuning.concurrency.max(1)));
        let tasks = TaskTracker::new();
        let this = Arc::new(self);
        loop {
            if let Err(e) = this.tick(&slots, &tasks).await {
                warn!(error = %e, "webhook pass failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = this.webhooks.woken().notified() => {}
                () = tokio::time::sleep(this.tuning.poll_interval) => {}
            }
        }
        tasks.close();
        tasks.wait().await;
    }

    /// One pass: claims every due row it has a free slot for and starts its
    /// attempt.
    async fn tick(
        self: &Arc<Self>,
        slots: &Arc<Semaphore>,
        tasks: &TaskTracker,
    ) -> Result<(), JobsError> {
        let free = slots.available_permits();
        if free == 0 {
            return Ok(());
        }
        let now = self.clock.now_ms();
        for id in deliveries::due(&self.db, now, free as u64).await? {
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                break;
            };
            let Some(row) =
                deliveries::claim(&self.db, id, now, now + self.tuning.lease_ms()).await?
            else {
                continue;
            };
            let this = self.clone();
            tasks.spawn(async move {
                if let Err(e) = this.attempt(row).await {
                    warn!(error = %e, "webhook attempt could not be recorded; retried after its lease");
                }
                drop(slot);
            });
        }
        Ok(())
    }

    /// One attempt of a claimed row, and its mark.
    async fn attempt(&self, row: Delivery) -> Result<(), JobsError> {
        let Some(endpoint) = self
            .webhooks
            .endpoints()
            .iter()
            .find(|e| e.key() == row.endpoint)
        else {
            warn!(webhook_id = %row.webhook_id, endpoint = %row.endpoint,
                "webhook endpoint no longer configured: delivery failed");
            return self.mark(&row, Outcome::Failed, None, None).await;
        };
        let timestamp = self.clock.now_ms().div_euclid(1000);
        let body = row.payload.clone().into_bytes();
        let signature = sign::signature(endpoint.secrets(), &row.webhook_id, timestamp, &body);
        let sent = self
            .client
            .post(endpoint.url().clone())
            .header("content-type", "application/json")
            .header("webhook-id", &row.webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        // The answer's body is never read: nothing of it is logged or kept.
        let status = match &sent {
            Ok(resp) => Some(i32::from(resp.status().as_u16())),
            Err(_) => None,
        };
        let delivered = sent.as_ref().is_ok_and(|r| r.status().is_success());
        if let Err(e) = &sent {
            let kind = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect"
            } else {
                "request"
            };
            info!(webhook_id = %row.webhook_id, endpoint = %row.endpoint, attempt = row.attempts, error = kind,
                "webhook receiver did not answer");
        }
        if delivered {
            return self.mark(&row, Outcome::Delivered, None, status).await;
        }
        let now = self.clock.now_ms();
        match schedule::next_attempt_at(row.attempts, now) {
            Some(at) => self.mark(&row, Outcome::Retried, Some(at), status).await,
            None => self.mark(&row, Outcome::Failed, None, status).await,
        }
    }

    async fn mark(
        &self,
        row: &Delivery,
        outcome: Outcome,
        next_attempt_at: Option<i64>,
        response_status: Option<i32>,
    ) -> Result<(), JobsError> {
        let status = match outcome {
            Outcome::Delivered => Status::Delivered,
            Outcome::Retried => Status::Pending,
            Outcome::Failed => Status::Failed,
        };
        let ours = deliveries::finish_attempt(
            &self.db,
            row.id,
            row.attempts,
            status,
            next_attempt_at,
            response_status,
        )
        .await?;
        if ours {
            metrics::counter!("authd_webhook_deliveries_total", "outcome" => outcome.as_str())
                .increment(1);
            info!(webhook_id = %row.webhook_id, endpoint = %row.endpoint, r#type = %row.r#type,
                attempt = row.attempts, status = ?response_status, outcome = outcome.as_str(),
                "webhook attempt");
        }
        Ok(())
    }
}
