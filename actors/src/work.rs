//! One unit of work: a change's transaction, and what it owes once it
//! commits. The change writes through [`Work::conn`]; its audit events,
//! its mails (the outbox, sealed in the same transaction), a credential
//! change and the sessions it ends are recorded through `Work`, and
//! [`Work::commit`] is the one place that then wakes the outbox relay
//! and tells the TokenRegistry (caches here, broadcast to other nodes).
//! Nothing after-commit is written by hand at a call site.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jobs::{EmailKind, EventType, Sealer, Webhooks};
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio::sync::Notify;

use crate::DomainError;
use crate::attempts::Revoked;
use crate::audit::{self, Event};
use crate::credentials;
use crate::domain::{SessionId, UserId};
use crate::notices;
use crate::store::users;
use crate::webhooks;

/// Tells the TokenRegistry about sessions a committed transaction ended
/// and a user row it changed (implemented by the gate layer's `Actors`).
pub trait Announce: Send + Sync {
    fn announce(
        &self,
        revoked: Revoked,
        user_id: Option<UserId>,
    ) -> Pin<Box<dyn Future<Output = Result<(), DomainError>> + Send + '_>>;
}

/// What runs after a commit: the outbox relay woken, the webhook sender
/// woken, the registry told.
#[derive(Clone)]
pub struct AfterCommit {
    pub outbox_wake: Arc<Notify>,
    pub registry: Arc<dyn Announce>,
    /// The webhook endpoints (what a change queues events for) and the
    /// sender's wake-up.
    pub webhooks: Webhooks,
}

impl std::fmt::Debug for AfterCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterCommit")
    }
}

/// A change in progress. Dropped without [`Work::commit`], it rolls back
/// and owes nothing.
pub(crate) struct Work {
    txn: DatabaseTransaction,
    now_ms: i64,
    mailed: bool,
    hooked: bool,
    revoked: Revoked,
    user_changed: Option<UserId>,
}

impl Work {
    pub(crate) async fn begin(db: &DatabaseConnection, now_ms: i64) -> Result<Self, DomainError> {
        Ok(Self {
            txn: db.begin().await?,
            now_ms,
            mailed: false,
            hooked: false,
            revoked: Revoked::default(),
            user_changed: None,
        })
    }

    /// The transaction the change writes through.
    pub(crate) fn conn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// An event of the audit trail, committed with the change.
    pub(crate) async fn record(&mut self, event: Event<'_>) -> Result<(), DomainError> {
        audit::record(&self.txn, event, self.now_ms).await
    }

    /// An event with nothing of the client, committed with the change:
    /// the one a deleted account leaves (with the admin as `actor` when
    /// an admin deleted it).
    pub(crate) async fn record_bare(
        &mut self,
        user_id: UserId,
        kind: audit::EventKind,
        actor: Option<&str>,
    ) -> Result<(), DomainError> {
        audit::record_bare(&self.txn, user_id, kind, actor, self.now_ms).await
    }

    /// A mail to `user` about the change, queued in the outbox with it.
    pub(crate) async fn mail(
        &mut self,
        sealer: &Sealer,
        user: &users::Model,
        kind: EmailKind,
    ) -> Result<(), DomainError> {
        self.mail_to(sealer, user.id, &user.email, kind).await
    }

    /// A mail to the account `user_id` at its stored address (never an
    /// address as typed in a request), queued in the outbox with the change.
    pub(crate) async fn mail_to(
        &mut self,
        sealer: &Sealer,
        user_id: UserId,
        stored_email: &str,
        kind: EmailKind,
    ) -> Result<(), DomainError> {
        notices::queue(&self.txn, sealer, user_id, stored_email, kind, self.now_ms).await?;
        self.mailed = true;
        Ok(())
    }

    /// Notes a mail queued in [`Work::conn`] by the one that decides
    /// whether it is sent (`alerts::Alerts::queue`).
    pub(crate) fn mailed(&mut self) {
        self.mailed = true;
    }

    /// A webhook `event` about `user_id` (as the change leaves the user),
    /// queued with the change for every endpoint that takes it.
    pub(crate) async fn webhook(
        &mut self,
        after: &AfterCommit,
        event: EventType,
        user_id: UserId,
    ) -> Result<(), DomainError> {
        self.hooked |=
            webhooks::queue(&self.txn, &after.webhooks, event, user_id, self.now_ms).await?;
        Ok(())
    }

    /// `user.deleted` about `user_id`, queued with the deletion.
    pub(crate) async fn webhook_deleted(
        &mut self,
        after: &AfterCommit,
        user_id: UserId,
    ) -> Result<(), DomainError> {
        self.hooked |=
            webhooks::queue_deleted(&self.txn, &after.webhooks, user_id, self.now_ms).await?;
        Ok(())
    }

    /// The change is a credential change (`credentials::changed`): the
    /// version moves on, `mfa_token`s and reset links are void, the other
    /// devices are forgotten and every session but `keep` ends.
    pub(crate) async fn credential_change(
        &mut self,
        user_id: UserId,
        keep: Option<SessionId>,
    ) -> Result<(), DomainError> {
        let revoked = credentials::changed(&self.txn, user_id, keep, self.now_ms).await?;
        self.ended(revoked);
        self.user_changed = Some(user_id);
        Ok(())
    }

    /// The change wrote `user_id`'s row: the registry forgets what it
    /// cached of it (here and on other nodes) once the change commits.
    pub(crate) fn user_changed(&mut self, user_id: UserId) {
        self.user_changed = Some(user_id);
    }

    /// Sessions the change ended (`revocation::end`), told to the registry
    /// once it commits.
    pub(crate) fn ended(&mut self, revoked: Revoked) {
        for id in revoked.sessions {
            if !self.revoked.sessions.contains(&id) {
                self.revoked.sessions.push(id);
            }
        }
    }

    /// Commits, then wakes the outbox relay if a mail was queued (the
    /// webhook sender if an event was) and tells
    /// the registry what was ended or changed.
    pub(crate) async fn commit(self, after: &AfterCommit) -> Result<(), DomainError> {
        let Work {
            txn,
            mailed,
            hooked,
            revoked,
            user_changed,
            ..
        } = self;
        txn.commit().await?;
        if mailed {
            after.outbox_wake.notify_one();
        }
        if hooked {
            after.webhooks.wake();
        }
        if !revoked.sessions.is_empty() || user_changed.is_some() {
            after.registry.announce(revoked, user_changed).await?;
        }
        Ok(())
    }
}
