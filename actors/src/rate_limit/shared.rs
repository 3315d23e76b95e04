//! The limiter shared through Redis: the same GCRA as the local limiter, run
//! atomically in a Lua script on Redis' clock so every node sees one budget.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::subject::Subject;
use super::{RateLimitError, RetryAfter};

/// The longest any single Redis call may take before the local limiter
/// answers instead.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_millis(250);

/// The longest `connect` may take, all attempts included.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// After a failed call, Redis is left alone this long (the local limiter
/// answers) so an outage costs one timeout per second, not one per request.
const BACKOFF_MS: u64 = 1000;

/// GCRA. ARGV[1]: emission interval in µs; ARGV[2]: burst.
/// Returns 0 when allowed, else the wait in µs until one more is allowed.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local wait = tat - now - interval * (burst - 1)
if wait > 0 then return wait end
local new_tat = tat + interval
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
return 0
";

/// A connection to Redis plus what is needed to notice and ride out outages.
/// Limiters with different quotas share one (the quota travels with each
/// call).
pub(super) struct Shared {
    conn: ConnectionManager,
    script: Script,
    prefix: String,
    /// Set while Redis is failing, so the outage is logged once.
    down: AtomicBool,
    /// Milliseconds since `started` before which Redis is not tried.
    skip_until_ms: AtomicU64,
    started: Instant,
}

/// What one Redis check came to.
pub(super) enum Outcome {
    Allowed,
    Refused(RetryAfter),
    /// Redis did not answer; the caller asks the local limiter.
    Unavailable,
}

impl Shared {
    /// Connects and loads the script, within [`CONNECT_TIMEOUT`].
    pub(super) async fn connect(url: &str, prefix: &str) -> Result<Self, RateLimitError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let script = Script::new(GCRA);
        let setup = async {
            let mut conn = ConnectionManager::new_with_config(client, config).await?;
            script.prepare_invoke().load_async(&mut conn).await?;
            Ok::<_, redis::RedisError>(conn)
        };
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, setup)
            .await
            .map_err(|_| RateLimitError::RedisTimeout(CONNECT_TIMEOUT))??;
        Ok(Self {
            conn,
            script,
            prefix: prefix.to_owned(),
            down: AtomicBool::new(false),
            skip_until_ms: AtomicU64::new(0),
            started: Instant::now(),
        })
    }

    /// Counts one request in Redis (`burst` at once, then one more every
    /// `interval_us`), or says Redis could not be asked. The key is
    /// `{prefix}:rl:{endpoint}:{subject}`.
    pub(super) async fn check(
        &self,
        endpoint: &str,
        subject: &Subject,
        interval_us: u64,
        burst: u32,
    ) -> Outcome {
        if self.elapsed_ms() < self.skip_until_ms.load(Ordering::Relaxed) {
            return Outcome::Unavailable;
        }
        let key = format!("{}:rl:{endpoint}:{subject}", self.prefix);
        let mut conn = self.conn.clone();
        let mut call = self.script.key(key);
        call.arg(interval_us).arg(burst);
        match tokio::time::timeout(CALL_TIMEOUT, call.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(wait_us)) => {
                self.mark_up();
                match u64::try_from(wait_us) {
                    Ok(wait) if wait > 0 => Outcome::Refused(RetryAfter::from_micros(wait)),
                    _ => Outcome::Allowed,
                }
            }
            Ok(Err(error)) => {
                self.mark_down(&error.to_string());
                Outcome::Unavailable
            }
            Err(_) => {
                self.mark_down("timed out");
                Outcome::Unavailable
            }
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn mark_down(&self, reason: &str) {
        let until = self.elapsed_ms().saturating_add(BACKOFF_MS);
        self.skip_until_ms.store(until, Ordering::Relaxed);
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                error = reason,
                "redis unreachable for rate limits; each node limits on its own until it is back"
            );
        }
    }

    fn mark_up(&self) {
        if self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("redis reachable again; rate limits are shared again");
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("prefix", &self.prefix)
            .field("down", &self.down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
