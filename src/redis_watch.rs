//! Redis, watched. Readiness does not wait for it: every request is served
//! without Redis (rate limits fall back to each node's own, mail waits in
//! the outbox, revocations reach other nodes through the database), so a
//! Redis blip must not take every node out of a load balancer at once.
//! Its state is the `authd_redis_up` gauge and one log line per change.

use std::time::Duration;

use jobs::Queue;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often Redis is asked.
const EVERY: Duration = Duration::from_secs(2);
/// An answer slower than this counts as down.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Pings the queue's Redis every [`EVERY`] until `shutdown`.
pub(crate) fn spawn(queue: Queue, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_up = None;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let up = tokio::time::timeout(TIMEOUT, queue.ping())
                .await
                .unwrap_or(false);
            metrics::gauge!("authd_redis_up").set(if up { 1.0 } else { 0.0 });
            match (was_up, up) {
                (Some(true) | None, false) => {
                    warn!(
                        "Redis is not reachable; requests are still served (rate limits per node, mail waits in the outbox)"
                    );
                }
                (Some(false), true) => info!("Redis is reachable again"),
                _ => {}
            }
            was_up = Some(up);
        }
    })
}
