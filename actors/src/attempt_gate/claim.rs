//! Claiming a failure before the secret is checked, on an account's lock
//! state, a known device's or an unknown address's: compare-and-swap
//! updates of the stored state, so restarts and other nodes see the same
//! count; and what a claim comes to (recorded, given back, or a completed
//! login that clears it).

use sea_orm::{DatabaseConnection, EntityTrait, TransactionTrait};
use uuid::Uuid;

use super::GateDeps;
use crate::DomainError;
use crate::alerts::Alert;
use crate::attempts::{Attempt, Budget, LoggedIn};
use crate::audit::{self, Event, EventKind};
use crate::context::RequestContext;
use crate::domain::{DeviceId, UserId};
use crate::lockout::{Gate, LockState};
use crate::sessions::Checked;
use crate::store::{address_failures, devices, users};

const CAS_RETRIES: usize = 8;

/// A failure claimed before the secret is checked.
pub(super) struct Claimed {
    pub(super) user: users::Model,
    pub(super) lock: Lock,
    pub(super) before: LockState,
    pub(super) after: LockState,
}

impl Claimed {
    /// A wrong password or code: the claimed failure stands. Its event,
    /// and `account_locked` when it started a lock (of the account or of
    /// a device). The claim itself committed before the check, so these
    /// are a write of their own, and the answer is a wrong attempt even if
    /// that write fails (the database went away meanwhile): the failure is
    /// counted, so the client is told it was wrong, never a 503 it would
    /// take for "not counted".
    pub(super) async fn record_failure(
        &self,
        deps: &GateDeps,
        kind: EventKind,
        client: &RequestContext,
    ) -> Result<Attempt, DomainError> {
        if let Err(e) = self.write_failure_events(deps, kind, client).await {
            tracing::error!(user_id = %self.user.id, error = %e, "the event of a counted failure was not recorded");
        }
        Ok(failure_stands(deps, self.after))
    }

    async fn write_failure_events(
        &self,
        deps: &GateDeps,
        kind: EventKind,
        client: &RequestContext,
    ) -> Result<(), DomainError> {
        let now = deps.clock.now_ms();
        let txn = deps.db.begin().await?;
        audit::record(&txn, Event::new(self.user.id, kind, client), now).await?;
        let mut alerted = false;
        if lock_started(deps, self.after) {
            let event = Event::new(self.user.id, EventKind::AccountLocked, client);
            audit::record(&txn, event, now).await?;
            // The account's first lock of a run: later locks of the same
            // run (each failure after a lock ends) mail nobody again.
            let first = self.after.failures == deps.policy.threshold;
            if let (Lock::User(user_id), true) = (self.lock, first) {
                let alerts = &deps.sessions.alerts;
                alerted = alerts
                    .queue(&txn, Alert::AccountLocked, user_id, client, now)
                    .await?;
            }
        }
        txn.commit().await?;
        if alerted {
            deps.sessions.alerts.wake_outbox();
        }
        Ok(())
    }

    /// A right answer that does not complete a login: the claim is given
    /// back (if nothing moved meanwhile; otherwise the failure stands).
    pub(super) async fn give_back(&self, deps: &GateDeps) -> Result<(), DomainError> {
        let now = deps.clock.now_ms();
        self.lock.swap(deps, self.after, self.before, now).await?;
        Ok(())
    }

    /// A completed login, checked against credential version `version`:
    /// the session starts and the count starts again, only if the
    /// credentials have not changed since (else it is a wrong attempt, and
    /// the claimed failure stands).
    pub(super) async fn complete_login(
        self,
        deps: &GateDeps,
        version: i64,
        via: Option<&str>,
        client: &RequestContext,
    ) -> Result<Attempt, DomainError> {
        deps.hooks.before_session_start.pass().await;
        let cleared = deps.policy.after_success();
        let now = deps.clock.now_ms();
        let budget = self.lock.budget();
        match deps
            .sessions
            .start(
                self.user.id,
                Checked { version, via },
                budget,
                cleared,
                client,
                now,
            )
            .await?
        {
            Some((tokens, device_token)) => Ok(Attempt::LoggedIn(Box::new(LoggedIn {
                tokens,
                device_token,
                user: Box::new(self.user),
            }))),
            None => {
                tracing::info!(user_id = %self.user.id, "credentials changed during the attempt");
                Ok(failure_stands(deps, self.after))
            }
        }
    }
}

/// A claimed failure stands: the attempt was wrong. When that failure set
/// a lock, a lockout started (counted here only: a failure given back, as
/// for a right password, never locked anyone).
pub(super) fn failure_stands(deps: &GateDeps, after: LockState) -> Attempt {
    if lock_started(deps, after) {
        metrics::counter!("authd_lockouts_total").increment(1);
    }
    Attempt::Wrong
}

/// Whether a failure that left the lock state `after` started a lock: an
/// attempt is only checked while unlocked, so a locked `after` is a new
/// lock.
pub(super) fn lock_started(deps: &GateDeps, after: LockState) -> bool {
    matches!(
        deps.policy.gate(after, deps.clock.now_ms()),
        Gate::Locked { .. }
    )
}

/// Whose lock state an attempt claims a failure on.
#[derive(Debug, Clone, Copy)]
pub(super) enum Lock {
    User(UserId),
    /// A known device of a user.
    Device {
        user_id: UserId,
        device_id: DeviceId,
    },
    /// An address with no account, by its keyed hash.
    Address(Uuid),
}

impl Lock {
    pub(super) fn of(user_id: UserId, budget: Budget) -> Self {
        match budget {
            Budget::Account => Lock::User(user_id),
            Budget::Device(device_id) => Lock::Device { user_id, device_id },
        }
    }

    pub(super) fn budget(self) -> Budget {
        match self {
            Lock::Device { device_id, .. } => Budget::Device(device_id),
            Lock::User(_) | Lock::Address(_) => Budget::Account,
        }
    }

    /// The state, and the user it belongs to (`None` for an address);
    /// `None` outright when the user is gone.
    async fn read(
        self,
        db: &DatabaseConnection,
    ) -> Result<Option<(Option<users::Model>, LockState)>, DomainError> {
        Ok(match self {
            Lock::User(id) => users::Entity::find_by_id(id).one(db).await?.map(|u| {
                let state = users::lock_state(&u);
                (Some(u), state)
            }),
            Lock::Device { user_id, device_id } => {
                let device = devices::of_user(db, device_id, user_id).await?;
                let user = users::Entity::find_by_id(user_id).one(db).await?;
                match (user, device) {
                    (Some(u), Some(d)) => Some((Some(u), devices::lock_state(&d))),
                    _ => None,
                }
            }
            Lock::Address(id) => Some((None, address_failures::lock_state(db, id).await?)),
        })
    }

    async fn swap(
        self,
        deps: &GateDeps,
        from: LockState,
        to: LockState,
        now_ms: i64,
    ) -> Result<bool, DomainError> {
        let db = &deps.db;
        Ok(match self {
            Lock::User(id) => users::swap_lock_state(db, id, from, to).await?,
            Lock::Device { device_id, .. } => {
                let void_at = deps.policy.threshold;
                devices::swap_lock_state(db, device_id, from, to, void_at, now_ms).await?
            }
            Lock::Address(id) => {
                address_failures::swap_lock_state(db, id, from, to, now_ms).await?
            }
        })
    }
}

/// A failure claimed on a lock state (before anything is checked).
type ClaimedOn = (Option<users::Model>, LockState, LockState);

/// Claims one failure on `lock`, or says why the attempt ends here
/// (locked, or no such user).
pub(super) async fn claim_on(
    deps: &GateDeps,
    lock: Lock,
) -> Result<Result<ClaimedOn, Attempt>, DomainError> {
    for _ in 0..CAS_RETRIES {
        let Some((user, before)) = lock.read(&deps.db).await? else {
            return Ok(Err(Attempt::Wrong));
        };
        let now = deps.clock.now_ms();
        if let Gate::Locked { retry_after_secs } = deps.policy.gate(before, now) {
            return Ok(Err(Attempt::Locked { retry_after_secs }));
        }
        let after = deps.policy.after_failure(before, now);
        if lock.swap(deps, before, after, now).await? {
            return Ok(Ok((user, before, after)));
        }
    }
    Err(DomainError::Internal("lockout state kept changing".into()))
}

/// Claims one failure of a user's, on the account or on a device.
pub(super) async fn claim(
    lock: Lock,
    deps: &GateDeps,
) -> Result<Result<Claimed, Attempt>, DomainError> {
    Ok(match claim_on(deps, lock).await? {
        Ok((Some(user), before, after)) => Ok(Claimed {
            user,
            lock,
            before,
            after,
        }),
        Ok((None, _, _)) => Err(Attempt::Wrong),
        Err(ended) => Err(ended),
    })
}
