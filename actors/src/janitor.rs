//! The janitor: a periodic pass, run by the worker processes, that deletes
//! what no rule reads any more. It only orchestrates: each store module
//! owns the rule saying what of its table is dead (`prune`), and the pass
//! calls them in batches under a lease (`store::janitor_lease`) so that one
//! janitor at a time runs across any number of workers.
//!
//! Why a lease row rather than a PostgreSQL advisory lock: it is the same
//! two conditional updates on SQLite and PostgreSQL, it holds no pooled
//! connection for the length of a pass, it names its holder, and a holder
//! that dies (kill -9, lost network) lets go by itself when the lease runs
//! out. It is measured with the injected clock, so tests move time to take
//! over from a dead holder.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use jobs::SharedClock;
use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, instrument};

use crate::DomainError;
use crate::hooks::Hooks;
use crate::store::{
    address_failures, audit_events, devices, janitor_lease, mfa_challenges, oidc_codes, oidc_flows,
    one_time_tokens, refresh_tokens, sessions, users, webauthn_challenges,
};

/// How much later than its expiry a row is deleted: a request that checked
/// a token just before it expired (or a node whose clock is a little
/// behind) finishes before the row goes.
pub(crate) const GRACE_MS: i64 = 5 * 60 * 1000;

/// How long the queue keeps its record of a job that ended.
const QUEUE_JOBS_KEPT: Duration = Duration::from_secs(3600);

/// Timings of the janitor. The defaults are production values; tests
/// shorten them through the same struct instead of sleeping.
#[derive(Debug, Clone)]
pub struct JanitorTuning {
    /// Time between two passes of one worker process.
    pub interval: Duration,
    /// The first pass after the worker starts.
    pub first_pass_after: Duration,
    /// How long the lease lasts without being renewed (it is renewed after
    /// every batch); a dead holder is taken over after this.
    pub lease: Duration,
    /// Rows per delete statement.
    pub batch: u64,
}

impl Default for JanitorTuning {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3600),
            first_pass_after: Duration::from_secs(60),
            lease: Duration::from_secs(600),
            batch: 1000,
        }
    }
}

/// How long what the settings keep is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Sent and failed outbox rows, `.eml` files, and delivered and
    /// failed webhook deliveries (after their last attempt).
    pub outbox_ms: i64,
    /// Audit events.
    pub audit_ms: i64,
    /// Today's refresh-token lifetime (narrows the search for dead sessions).
    pub refresh_ttl_ms: i64,
}

/// One janitor (one per worker process).
#[derive(Debug, Clone)]
pub struct Janitor {
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    pub tuning: JanitorTuning,
    pub retention: Retention,
    /// Where the mailer writes `.eml` files (`None` with SMTP).
    pub eml_dir: Option<PathBuf>,
    /// The worker's queue, whose record of ended jobs is vacuumed (`None`
    /// in tests that build a janitor without a worker).
    pub queue: Option<jobs::Queue>,
    /// This janitor's name in the lease: pid and a random suffix.
    pub holder: String,
    /// Pause points for tests.
    pub hooks: Hooks,
}

/// What a pass deleted, per table (`outbox_files` for `.eml` files), in
/// the order it ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    pub deleted: Vec<(&'static str, u64)>,
}

impl PassReport {
    /// Rows (or files) deleted from `table`.
    pub fn count(&self, table: &str) -> u64 {
        self.deleted
            .iter()
            .filter(|(t, _)| *t == table)
            .map(|(_, n)| n)
            .sum()
    }

    fn add(&mut self, table: &'static str, n: u64) {
        metrics::counter!("authd_janitor_deleted_total", "table" => table).increment(n);
        self.deleted.push((table, n));
    }

    fn summary(&self) -> String {
        let parts: Vec<String> = self
            .deleted
            .iter()
            .map(|(t, n)| format!("{t}={n}"))
            .collect();
        parts.join(" ")
    }
}

/// Why a pass stopped early.
#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error("the lease ran out and another janitor took it")]
    LeaseLost,
    #[error(transparent)]
    Domain(#[from] DomainError),
}

impl From<sea_orm::DbErr> for PassError {
    fn from(e: sea_orm::DbErr) -> Self {
        PassError::Domain(e.into())
    }
}

impl From<jobs::JobsError> for PassError {
    fn from(e: jobs::JobsError) -> Self {
        PassError::Domain(e.into())
    }
}

impl Janitor {
    /// A janitor named after this process and a random suffix.
    pub fn holder_name() -> String {
        format!("{}-{:08x}", std::process::id(), rand::random::<u32>())
    }

    /// Runs one pass now if no other janitor is running one: `None` when
    /// another holds the lease. Tests call this instead of waiting for the
    /// interval.
    #[instrument(skip_all, fields(holder = %self.holder))]
    pub async fn run_once(&self) -> Result<Option<PassReport>, DomainError> {
        let now = self.clock.now_ms();
        if !janitor_lease::acquire(&self.db, &self.holder, now, self.lease_end(now)).await? {
            return Ok(None);
        }
        self.hooks.janitor_pass.pass().await;
        let started = Instant::now();
        let mut report = PassReport::default();
        let outcome = self.pass(now, &mut report).await;
        janitor_lease::release(&self.db, &self.holder).await?;
        let ms = started.elapsed().as_millis();
        match outcome {
            Ok(()) => {
                info!(ms, deleted = %report.summary(), "janitor pass done");
                Ok(Some(report))
            }
            Err(PassError::LeaseLost) => {
                error!(ms, deleted = %report.summary(), "janitor pass stopped: the lease ran out and another janitor took it");
                Ok(Some(report))
            }
            Err(PassError::Domain(e)) => Err(e),
        }
    }

    /// Runs a pass after `first_pass_after`, then every `interval`, until
    /// `shutdown`. A failed pass is logged and the next one tried; a pass
    /// under way when `shutdown` comes stops between two statements and
    /// gives the lease up.
    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut wait = self.tuning.first_pass_after;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                tokio::select! {
                    () = shutdown.cancelled() => {
                        let _ = janitor_lease::release(&self.db, &self.holder).await;
                        return;
                    }
                    outcome = self.run_once() => {
                        if let Err(e) = outcome {
                            error!(error = %e, "janitor pass failed");
                        }
                    }
                }
                wait = self.tuning.interval;
            }
        })
    }

    fn lease_end(&self, now: i64) -> i64 {
        let lease = i64::try_from(self.tuning.lease.as_millis()).unwrap_or(i64::MAX);
        now.saturating_add(lease)
    }

    /// Every table in turn; `now` is the pass's start.
    async fn pass(&self, now: i64, report: &mut PassReport) -> Result<(), PassError> {
        let dead_before = now.saturating_sub(GRACE_MS);
        let registered_before = dead_before.saturating_sub(crate::accounts::VERIFY_EMAIL_TTL_MS);
        let batch = self.tuning.batch;
        let db = &self.db;
        self.table(report, "users", || async {
            let removed =
                users::prune_unverified(db, registered_before, dead_before, batch).await?;
            Ok(removed.len() as u64)
        })
        .await?;
        self.table(report, "one_time_tokens", || async {
            Ok(one_time_tokens::prune(db, dead_before, batch).await?)
        })
        .await?;
        self.table(report, "mfa_challenges", || async {
            Ok(mfa_challenges::prune(db, dead_before, batch).await?)
        })
        .await?;
        self.table(report, "webauthn_challenges", || async {
            Ok(webauthn_challenges::prune(db, dead_before, batch).await?)
        })
        .await?;
        self.table(report, "oidc_flows", || async {
            Ok(oidc_flows::prune(db, dead_before, batch).await?)
        })
        .await?;
        self.table(report, "oidc_codes", || async {
            Ok(oidc_codes::prune(db, dead_before, batch).await?)
        })
        .await?;
        self.table(report, "refresh_tokens", || async {
            Ok(refresh_tokens::prune(db, dead_before, batch).await?)
        })
        .await?;
        let idle_before = dead_before.saturating_sub(self.retention.refresh_ttl_ms);
        self.table(report, "sessions", || async {
            Ok(sessions::prune(db, idle_before, batch).await?)
        })
        .await?;
        self.table(report, "devices", || async {
            Ok(devices::prune(db, dead_before, batch).await?)
        })
        .await?;
        self.table(report, "address_failures", || async {
            Ok(address_failures::prune(db, dead_before, batch).await?)
        })
        .await?;
        let before = now.saturating_sub(self.retention.audit_ms);
        self.table(report, "audit_events", || async {
            Ok(audit_events::prune(db, before, batch).await?)
        })
        .await?;
        let before = now.saturating_sub(self.retention.outbox_ms);
        self.table(report, "email_outbox", || async {
            Ok(jobs::outbox::prune(db, before, batch).await?)
        })
        .await?;
        self.table(report, "webhook_deliveries", || async {
            Ok(jobs::webhooks::deliveries::prune(db, before, batch).await?)
        })
        .await?;
        if let Some(dir) = &self.eml_dir {
            let n = jobs::mailer::prune_files(dir, before)
                .await
                .map_err(|e| DomainError::Internal(format!("{}: {e}", dir.display())))?;
            report.add("outbox_files", n);
        }
        if let Some(queue) = &self.queue {
            // The outbox row is the record that matters; the queue's own
            // record of an ended job is kept an hour (a Redis vacuum reads
            // the queue's whole job hash, so it is kept small).
            let n = queue
                .vacuum(QUEUE_JOBS_KEPT)
                .await
                .map_err(|e| DomainError::Internal(e.to_string()))?;
            report.add("queue_jobs", n as u64);
        }
        Ok(())
    }

    /// Runs `batch` until it deletes fewer than a full batch, renewing the
    /// lease after each, and reports the total deleted from `table`.
    async fn table<F, Fut>(
        &self,
        report: &mut PassReport,
        table: &'static str,
        mut batch: F,
    ) -> Result<(), PassError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<u64, PassError>>,
    {
        let mut total = 0;
        loop {
            let n = batch().await?;
            total += n;
            let end = self.lease_end(self.clock.now_ms());
            if !janitor_lease::renew(&self.db, &self.holder, end).await? {
                report.add(table, total);
                return Err(PassError::LeaseLost);
            }
            if n < self.tuning.batch {
                report.add(table, total);
                return Ok(());
            }
        }
    }
}
