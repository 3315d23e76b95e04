//! Pause points for tests: a test can stop an attempt between its check
//! and the start of its session, change the credentials meanwhile, and
//! let it go on, to prove the race deterministically. Unarmed in
//! production (a relaxed atomic load per completed login).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// A janitor pass that took the lease, before it deletes anything.
    pub janitor_pass: Arc<Pause>,
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
