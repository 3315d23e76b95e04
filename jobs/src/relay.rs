//! The relay: moves due outbox rows onto the queue. A row is due when new,
//! and again only when the queue has not come back to it `redispatch_after`
//! past its push or its retry time: the queue lost the job (Redis flushed,
//! a worker killed mid-job). Retrying a failed send is apalis' business
//! (`worker`, `retry`), not the relay's.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::{DeliveryTuning, JobsError, Queue, SharedClock, outbox};

#[derive(Debug)]
pub struct Relay {
    pub db: DatabaseConnection,
    pub queue: Queue,
    pub clock: SharedClock,
    pub tuning: DeliveryTuning,
    /// Poked after a commit that wrote an outbox row, so mail leaves at once.
    pub wake: Arc<Notify>,
}

const BATCH: u64 = 100;
/// After a failed push, try again this much later (ms).
const PUSH_RETRY_MS: i64 = 1_000;

impl Relay {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            match self.tick().await {
                Ok(n) if n as u64 == BATCH => continue,
                Ok(_) => {}
                Err(e) => warn!(error = %e, "outbox relay pass failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.tuning.relay_interval) => {}
            }
        }
    }

    /// One pass: dispatches every due row it can take. Returns how many it took.
    pub async fn tick(&self) -> Result<usize, JobsError> {
        let now = self.clock.now_ms();
        let redispatch_at =
            now + i64::try_from(self.tuning.redispatch_after.as_millis()).unwrap_or(i64::MAX);
        let mut taken = 0;
        for (id, seen) in outbox::due(&self.db, now, BATCH).await? {
            if !outbox::take_for_dispatch(&self.db, id, seen, redispatch_at).await? {
                continue;
            }
            taken += 1;
            match self.queue.push(id, redispatch_at).await {
                Ok(()) => {
                    metrics::counter!("authd_email_jobs_queued_total").increment(1);
                    info!(outbox_id = %id, "outbox row dispatched");
                }
                Err(e) => {
                    warn!(outbox_id = %id, error = %e, "could not push email job; will retry");
                    outbox::dispatch_failed(&self.db, id, now + PUSH_RETRY_MS).await?;
                }
            }
        }
        Ok(taken)
    }
}
