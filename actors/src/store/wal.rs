//! SQLite's write-ahead log, checkpointed beside the serving connection
//! instead of on it. SQLite copies the log back into the database file
//! (and syncs it) in whichever connection commits past the log's size
//! limit: with one connection per process, every request waited while
//! that commit also did a checkpoint and its `fsync`. Here the serving
//! connection's automatic checkpoint is raised to a far limit (a safety
//! net, see [`FALLBACK_PAGES`]) and a task with a connection of its own
//! runs a passive checkpoint a few times a second, which does not block
//! writers or readers.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sea_orm::sqlx::{ConnectOptions, Connection, Executor};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the log is checkpointed.
const EVERY: Duration = Duration::from_millis(250);
/// The serving connection's own automatic checkpoint, in pages (4 KiB):
/// it only runs if the checkpoint task falls this far behind or stopped,
/// so the log cannot grow without bound (SQLite's default is 1,000).
pub(super) const FALLBACK_PAGES: u32 = 16_384;
/// The log file is cut back to this size after a checkpoint (SQLite
/// otherwise keeps it at its largest).
pub(super) const SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

/// Starts the checkpoint task for the SQLite database at `url`; `None`
/// for another database or an in-memory one.
pub fn spawn_checkpointer(url: &str, shutdown: CancellationToken) -> Option<JoinHandle<()>> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options: SqliteConnectOptions = url.parse().ok()?;
    let options = options.create_if_missing(false).disable_statement_logging();
    Some(tokio::spawn(async move {
        let mut conn = None;
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if conn.is_none() {
                conn = SqliteConnection::connect_with(&options).await.ok();
            }
            if let Some(c) = conn.as_mut()
                && let Err(e) = c.execute("PRAGMA wal_checkpoint(PASSIVE)").await
            {
                // The serving connection's fallback checkpoint covers
                // meanwhile; a new connection is tried at the next tick.
                tracing::debug!(error = %e, "WAL checkpoint failed");
                conn = None;
            }
        }
        if let Some(c) = conn {
            let _ = c.close().await;
        }
    }))
}
