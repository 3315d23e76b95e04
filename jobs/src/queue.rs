//! The apalis queue that carries outbox ids from the relay to the workers:
//! SQLite-backed (embedded, a file beside the database) when no Redis is
//! configured, Redis otherwise.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::RedisStorage;
use apalis_sqlite::{SqlitePool, SqliteStorage};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::JobsError;

/// The queue name when nothing else is configured.
pub const QUEUE_NAME: &str = "authd-email";
/// A push that takes longer than this (Redis unreachable) is given up and retried.
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the backend itself may hand out a job that ended without an
/// outcome (its worker stopped mid-job). apalis-redis retries such jobs up to
/// 25 times whatever is set; the SQLite queue is given the same figure. The
/// outbox row, not this count, decides how often a mail is attempted.
const BACKEND_ATTEMPTS: usize = 25;

/// Removes from the set KEYS[1] every job id whose metadata hash
/// (KEYS[2]:<id>) no longer exists.
const FORGET_VACUUMED: &str = r"
local removed = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', KEYS[2] .. ':' .. id) == 0 then
    redis.call('SREM', KEYS[1], id)
    removed = removed + 1
  end
end
return removed
";

/// The job: which outbox row to deliver. Nothing secret travels in the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailJob {
    pub outbox_id: Uuid,
}

#[derive(Clone)]
pub enum Queue {
    Sqlite(SqliteStorage<EmailJob>),
    Redis(RedisStorage<EmailJob>),
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Queue::Sqlite(_) => "Queue::Sqlite",
            Queue::Redis(_) => "Queue::Redis",
        })
    }
}

impl Queue {
    /// Opens (and creates) the embedded queue in `path`.
    pub async fn sqlite(path: &Path, name: &str) -> Result<Self, JobsError> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = SqlitePool::connect(&url)
            .await
            .map_err(|e| JobsError::Queue(format!("cannot open {}: {e}", path.display())))?;
        SqliteStorage::setup(&pool)
            .await
            .map_err(|e| JobsError::Queue(e.to_string()))?;
        let config = apalis_sqlite::Config::default().queue(name);
        Ok(Queue::Sqlite(SqliteStorage::new(&pool).with_config(config)))
    }

    /// Connects to Redis. The connection manager reconnects by itself after
    /// Redis restarts.
    pub async fn redis(url: &str, name: &str) -> Result<Self, JobsError> {
        let conn = apalis_redis::connect(url)
            .await
            .map_err(|e| JobsError::Queue(format!("cannot connect to Redis: {e}")))?;
        let config = apalis_redis::Config::default()
            .queue(name)
            .idempotency_ttl(Some(Duration::from_secs(24 * 3600)));
        Ok(Queue::Redis(RedisStorage::new(conn).with_config(config)))
    }

    /// Pushes one job. `round` tells dispatches of the same row apart, so the
    /// backend's idempotency key (`<outbox id>:<round>`) drops a duplicate
    /// push of one dispatch but lets a later re-dispatch through.
    pub async fn push(&self, outbox_id: Uuid, round: i64) -> Result<(), JobsError> {
        let task = TaskBuilder::new(EmailJob { outbox_id })
            .idempotency_key(format!("{outbox_id}:{round}"))
            .max_attempts(BACKEND_ATTEMPTS)
            .build();
        let push = async {
            match self {
                Queue::Sqlite(s) => s.clone().push_task(task).await.map_err(|e| e.to_string()),
                Queue::Redis(s) => s.clone().push_task(task).await.map_err(|e| e.to_string()),
            }
        };
        match tokio::time::timeout(PUSH_TIMEOUT, push).await {
            Ok(res) => res.map_err(JobsError::Queue),
            Err(_) => Err(JobsError::Queue("push timed out".into())),
        }
    }

    /// Deletes the queue's record of jobs that ended more than `older_than`
    /// ago (the outbox keeps the history that matters). Returns how many.
    pub async fn vacuum(&self, older_than: Duration) -> Result<usize, JobsError> {
        use apalis_core::backend::Vacuum;
        let queue_err = |e: String| JobsError::Queue(e);
        match self {
            Queue::Sqlite(s) => s
                .clone()
                .vacuum_before(older_than)
                .await
                .map_err(|e| queue_err(e.to_string())),
            Queue::Redis(s) => {
                let mut s = s.clone();
                let n = s
                    .vacuum_before(older_than)
                    .await
                    .map_err(|e| queue_err(e.to_string()))?;
                // apalis-redis leaves the ids of vacuumed jobs in its done
                // and dead sets; drop those whose record is gone.
                let config = s.get_config().clone();
                let meta = config.job_meta_hash();
                let mut conn = s.get_connection().clone();
                for set in [config.done_jobs_set(), config.dead_jobs_set()] {
                    redis::Script::new(FORGET_VACUUMED)
                        .key(&set)
                        .key(&meta)
                        .invoke_async::<i64>(&mut conn)
                        .await
                        .map_err(|e| queue_err(e.to_string()))?;
                }
                Ok(n)
            }
        }
    }

    /// Whether the queue answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        match self {
            Queue::Sqlite(s) => sqlx_ping(s.pool()).await,
            Queue::Redis(s) => {
                let mut conn = s.clone().get_connection().clone();
                let pong: Result<String, _> = redis_ping(&mut conn).await;
                pong.is_ok()
            }
        }
    }
}

async fn sqlx_ping(pool: &SqlitePool) -> bool {
    pool.acquire().await.is_ok()
}

async fn redis_ping(
    conn: &mut apalis_redis::ConnectionManager,
) -> Result<String, apalis_redis::RedisError> {
    redis::cmd("PING").query_async(conn).await
}

/// A worker name unique in this process and across restarts, so a worker
/// started right after another was killed never waits for the dead one's
/// registration to expire.
pub fn worker_name() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    format!(
        "email-{}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        Uuid::new_v4().simple()
    )
}
