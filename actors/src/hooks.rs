//! Pause points for tests: a test can stop an attempt between its check
//! and the start of its session, change the credentials meanwhile, and
//! let it go on, to prove the race deterministically. Unarmed in
//! production (a relaxed atomic load per completed login). And the
//! statement log of the statement-budget tests (`None` in production: no
//! callback is installed on the connection).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// Where a running attempt can be held.
#[derive(Debug, Default, Clone)]
pub struct Hooks {
    /// After the password or code was found right, before the session starts.
    pub before_session_start: Arc<Pause>,
    /// A mail request (`password-reset`, `resend-verification`) answered,
    /// before its lookup and writes.
    pub before_mail_request: Arc<Pause>,
    /// An email verification that used its link and marked the account
    /// verified, before it commits.
    pub before_verify_commit: Arc<Pause>,
    /// A change-email request whose re-authentication passed, before its
    /// unit of work.
    pub before_email_change_work: Arc<Pause>,
    /// A janitor pass that took the lease, before it deletes anything.
    pub janitor_pass: Arc<Pause>,
    /// Given, every statement of the application's database pool is noted
    /// here (see [`StatementLog`]); `None` in production.
    pub statements: Option<Arc<StatementLog>>,
}

/// The statements a database pool ran, in the order they finished: the
/// SQL of each statement (sea-orm's metric callback, which sees those run
/// inside a transaction too, but not `BEGIN`/`COMMIT`/`ROLLBACK`), and on
/// SQLite [`StatementLog::COMMIT`] / [`StatementLog::ROLLBACK`] for every
/// transaction that wrote and committed or rolled back (SQLite's commit
/// and rollback hooks). Installed by `store::connect` only when a test
/// gives one.
#[derive(Debug, Default)]
pub struct StatementLog {
    entries: Mutex<Vec<String>>,
}

impl StatementLog {
    /// The entry of a committed write transaction (SQLite only).
    pub const COMMIT: &'static str = "COMMIT -- a transaction that wrote (SQLite commit hook)";
    /// The entry of a rolled-back transaction (SQLite only).
    pub const ROLLBACK: &'static str = "ROLLBACK -- (SQLite rollback hook)";

    /// Notes one entry.
    pub fn record(&self, entry: String) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }

    /// Everything noted since the last call, oldest first.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.entries.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// One pause point. Armed, it holds the next attempt that reaches it until
/// [`Pause::resume`]; then it disarms itself.
#[derive(Debug, Default)]
pub struct Pause {
    armed: AtomicBool,
    reached: Notify,
    resume: Notify,
}

impl Pause {
    /// Holds the next attempt that reaches this point.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Waits until an attempt is held here.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the held attempt go on.
    pub fn resume(&self) {
        self.resume.notify_one();
    }

    /// Called by the attempt: returns at once unless armed.
    pub(crate) async fn pass(&self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.reached.notify_one();
            self.resume.notified().await;
        }
    }
}
