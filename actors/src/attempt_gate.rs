//! AttemptGate: one actor per active user (and per address with no account
//! that is being tried). It takes that user's password and code attempts
//! one at a time, applies the lockout state machine, and persists
//! the count with compare-and-swap updates so that restarts and other nodes
//! see the same state. An attempt claims its failure *before* the password
//! is checked, so concurrent attempts on any number of nodes never check
//! more passwords than the threshold allows; a right password gives the
//! claim back (or resets the count when the login completes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jobs::SharedClock;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use sea_orm::{DatabaseConnection, EntityTrait, TransactionTrait};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::alerts::Alert;
use crate::attempts::Revoked;
use crate::attempts::{Attempt, Budget, LoggedIn, PasswordStep, Purpose, SecondStep};
use crate::audit::{self, Event, EventKind};
use crate::context::RequestContext;
use crate::hooks::Hooks;
use crate::lockout::{Gate, LockState, LockoutPolicy};
use crate::mfa::challenges;
use crate::mfa::codes::{self, CodeCheck};
use crate::mfa::deps::MfaDeps;
use crate::passkeys::assertion::{self, Assertion, Checked};
use crate::sessions::SessionStore;
use crate::store::{address_failures, devices, passkeys, users};
use crate::{DomainError, Hasher};

/// By default a gate with no message for this long is stopped by its
/// supervisor. Its state lives in the database, so a short idle time costs
/// one actor start per returning user and bounds the live gates by the
/// login rate rather than by the number of users.
pub const IDLE_AFTER: Duration = Duration::from_secs(10);
const CAS_RETRIES: usize = 8;

/// What a gate needs from the outside world.
#[derive(Clone, Debug)]
pub struct GateDeps {
    pub db: DatabaseConnection,
    pub hasher: Hasher,
    pub clock: SharedClock,
    pub policy: LockoutPolicy,
    /// A gate with no message for this long is stopped.
    pub idle_after: Duration,
    pub mfa: std::sync::Arc<MfaDeps>,
    /// A completed login starts its session here, in the transaction that
    /// resets the failure count.
    pub sessions: SessionStore,
    /// Pause points for tests.
    pub hooks: Hooks,
    /// A hash of a random password with the configured cost: passwords
    /// for addresses with no account are checked against it.
    pub dummy_hash: std::sync::Arc<str>,
}

pub struct AttemptGate;

pub struct GateState {
    user_id: Uuid,
    deps: GateDeps,
    /// Messages answered, read by the supervisor before it stops the gate.
    handled: Arc<AtomicU64>,
}

pub enum GateMsg {
    Password {
        password: Zeroizing<String>,
        purpose: Purpose,
        budget: Budget,
        client: RequestContext,
        reply: RpcReplyPort<Result<Attempt, DomainError>>,
    },
    /// A login password for an address with no account (the actor's id is
    /// the address's keyed hash).
    UnknownAddress {
        password: Zeroizing<String>,
        reply: RpcReplyPort<Result<Attempt, DomainError>>,
    },
    /// A passkey login's assertion (its challenge already used).
    Passkey {
        assertion: Box<Assertion>,
        /// The account's, or a known device's of the owner.
        budget: Budget,
        client: RequestContext,
        reply: RpcReplyPort<Result<Attempt, DomainError>>,
    },
    /// A TOTP or backup code (login step two, setup, re-authentication).
    Code {
        check: CodeCheck,
        /// Spent unless the check is a login's second step (which spends
        /// its first step's).
        budget: Budget,
        client: RequestContext,
        reply: RpcReplyPort<Result<Attempt, DomainError>>,
    },
}

impl Actor for AttemptGate {
    type Msg = GateMsg;
    type State = GateState;
    type Arguments = (Uuid, GateDeps, Arc<AtomicU64>);

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        (user_id, deps, handled): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(GateState {
            user_id,
            deps,
            handled,
        })
    }

    /// Each attempt's future is boxed: ractor allocates a gate's message
    /// loop once, sized for the largest future its handler awaits inline,
    /// and an attempt's (queries, a hash, the session's transaction) is
    /// several kilobytes (5.6 KB of handler in a debug build); boxed, it
    /// exists only while a message is handled, and an idle gate stays
    /// small (bench/scale memory).
    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            GateMsg::Password {
                password,
                purpose,
                budget,
                client,
                reply,
            } => {
                let lock = Lock::of(state.user_id, budget);
                let factor = Factor::Password {
                    password: &password,
                    purpose,
                };
                let outcome = Box::pin(attempt(lock, &state.deps, factor, &client)).await;
                let _ = reply.send(outcome);
            }
            GateMsg::UnknownAddress { password, reply } => {
                let outcome =
                    Box::pin(address_attempt(state.user_id, &state.deps, &password)).await;
                let _ = reply.send(outcome);
            }
            GateMsg::Passkey {
                assertion,
                budget,
                client,
                reply,
            } => {
                let outcome = Box::pin(passkey_attempt(
                    Lock::of(state.user_id, budget),
                    &state.deps,
                    *assertion,
                    &client,
                ))
                .await;
                let _ = reply.send(outcome);
            }
            GateMsg::Code {
                check,
                budget,
                client,
                reply,
            } => {
                let outcome = Box::pin(code_attempt(
                    state.user_id,
                    &state.deps,
                    &check,
                    budget,
                    &client,
                ))
                .await;
                let _ = reply.send(outcome);
            }
        }
        state.handled.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

/// A failure claimed before the secret is checked.
struct Claimed {
    user: users::Model,
    lock: Lock,
    before: LockState,
    after: LockState,
}

impl Claimed {
    /// A wrong password or code: the claimed failure stands. Its event,
    /// and `account_locked` when it started a lock (of the account or of
    /// a device). The claim itself committed before the check, so these
    /// are a write of their own, and the answer is a wrong attempt even if
    /// that write fails (the database went away meanwhile): the failure is
    /// counted, so the client is told it was wrong, never a 503 it would
    /// take for "not counted".
    async fn record_failure(
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
    async fn give_back(&self, deps: &GateDeps) -> Result<(), DomainError> {
        let now = deps.clock.now_ms();
        self.lock.swap(deps, self.after, self.before, now).await?;
        Ok(())
    }

    /// A completed login, checked against credential version `version`:
    /// the session starts and the count starts again, only if the
    /// credentials have not changed since (else it is a wrong attempt, and
    /// the claimed failure stands).
    async fn complete_login(
        self,
        deps: &GateDeps,
        version: i64,
        client: &RequestContext,
    ) -> Result<Attempt, DomainError> {
        deps.hooks.before_session_start.pass().await;
        let cleared = deps.policy.after_success();
        let now = deps.clock.now_ms();
        let budget = self.lock.budget();
        match deps
            .sessions
            .start(self.user.id, version, budget, cleared, client, now)
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
fn failure_stands(deps: &GateDeps, after: LockState) -> Attempt {
    if lock_started(deps, after) {
        metrics::counter!("authd_lockouts_total").increment(1);
    }
    Attempt::Wrong
}

/// Whether a failure that left the lock state `after` started a lock: an
/// attempt is only checked while unlocked, so a locked `after` is a new
/// lock.
fn lock_started(deps: &GateDeps, after: LockState) -> bool {
    matches!(
        deps.policy.gate(after, deps.clock.now_ms()),
        Gate::Locked { .. }
    )
}

/// Whose lock state an attempt claims a failure on.
#[derive(Debug, Clone, Copy)]
enum Lock {
    User(Uuid),
    /// A known device of a user.
    Device {
        user_id: Uuid,
        device_id: Uuid,
    },
    /// An address with no account, by its keyed hash.
    Address(Uuid),
}

impl Lock {
    fn of(user_id: Uuid, budget: Budget) -> Self {
        match budget {
            Budget::Account => Lock::User(user_id),
            Budget::Device(device_id) => Lock::Device { user_id, device_id },
        }
    }

    fn budget(self) -> Budget {
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
async fn claim_on(deps: &GateDeps, lock: Lock) -> Result<Result<ClaimedOn, Attempt>, DomainError> {
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
async fn claim(lock: Lock, deps: &GateDeps) -> Result<Result<Claimed, Attempt>, DomainError> {
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

/// A password for an address with no account: the same gate, the same
/// kind of write and the same hashing work as for an account, and the
/// same answers (wrong, then locked).
async fn address_attempt(
    id: Uuid,
    deps: &GateDeps,
    password: &str,
) -> Result<Attempt, DomainError> {
    let after = match claim_on(deps, Lock::Address(id)).await? {
        Ok((_, _, after)) => after,
        Err(ended) => return Ok(ended),
    };
    let _ = deps.hasher.verify(password, &deps.dummy_hash).await?;
    tracing::info!(
        failures = after.failures,
        "password for an address with no account"
    );
    // What an account's failure writes for its audit event, in the same
    // kind of transaction, answered the same way if it fails: no timing or
    // status tells the two apart.
    let write = async {
        let txn = deps.db.begin().await?;
        address_failures::failure_stands(&txn, id, deps.clock.now_ms()).await?;
        txn.commit().await
    };
    if let Err(e) = write.await {
        tracing::error!(error = %e, "the write of a counted failure was not recorded");
    }
    Ok(failure_stands(deps, after))
}

/// The factor an attempt presents, and what a right one leads to.
enum Factor<'a> {
    Password {
        password: &'a str,
        purpose: Purpose,
    },
    /// A TOTP or backup code; `step` is its login's first step (none for
    /// a code confirming a change).
    Code {
        check: &'a CodeCheck,
        step: Option<PasswordStep>,
    },
    /// A passkey login's assertion.
    Passkey {
        assertion: Assertion,
        webauthn: &'a webauthn_rs::Webauthn,
    },
}

/// What checking a factor found.
enum Verdict {
    /// Wrong: the claimed failure stands, recorded as this event.
    Wrong(EventKind),
    /// Right, and the sessions the change it made ended (2FA turned on).
    Right(Revoked),
}

impl Factor<'_> {
    /// Checks the factor against `user` (a right password whose hash has
    /// an older cost is hashed again).
    async fn check(
        &self,
        deps: &GateDeps,
        user: &users::Model,
        client: &RequestContext,
    ) -> Result<Verdict, DomainError> {
        Ok(match self {
            Factor::Password { password, .. } => {
                if deps.hasher.verify(password, &user.password_hash).await? {
                    rehash_if_outdated(deps, user, password).await?;
                    Verdict::Right(Revoked::default())
                } else {
                    Verdict::Wrong(EventKind::LoginFailed)
                }
            }
            Factor::Code { check, .. } => match codes::check(&deps.mfa, user, check, client).await?
            {
                Some(revoked) => Verdict::Right(revoked),
                None => Verdict::Wrong(EventKind::MfaFailed),
            },
            Factor::Passkey {
                assertion,
                webauthn,
            } => {
                let now = deps.clock.now_ms();
                match assertion::check(&deps.db, webauthn, user, assertion, now).await? {
                    Checked::Accepted => Verdict::Right(Revoked::default()),
                    Checked::Refused => Verdict::Wrong(EventKind::LoginFailed),
                    Checked::Cloned => Verdict::Wrong(EventKind::PasskeyCloneSuspected),
                }
            }
        })
    }

    /// A password is checked before anything else is looked at, so a
    /// deactivated account costs the same hash as any other; a code or a
    /// passkey of one is not checked at all.
    fn checked_while_inactive(&self) -> bool {
        matches!(self, Factor::Password { .. })
    }

    fn name(&self) -> &'static str {
        match self {
            Factor::Password { .. } => "password",
            Factor::Code { .. } => "code",
            Factor::Passkey { .. } => "passkey",
        }
    }
}

/// One attempt, whatever its factor: a failure claimed first (on the
/// account's budget or a known device's), the factor checked, then one
/// answer: a wrong attempt recorded, a right one given back and accepted
/// (a change, or a login's first step with 2FA on, whose challenge starts
/// here), or a completed login.
async fn attempt(
    lock: Lock,
    deps: &GateDeps,
    factor: Factor<'_>,
    client: &RequestContext,
) -> Result<Attempt, DomainError> {
    let claimed = match claim(lock, deps).await? {
        Ok(c) => c,
        Err(ended) => return Ok(ended),
    };
    let active = claimed.user.is_active;
    if !active && !factor.checked_while_inactive() {
        return Ok(failure_stands(deps, claimed.after));
    }
    let revoked = match factor.check(deps, &claimed.user, client).await? {
        Verdict::Right(revoked) => revoked,
        Verdict::Wrong(kind) => {
            tracing::info!(
                user_id = %claimed.user.id,
                budget = ?claimed.lock.budget(),
                failures = claimed.after.failures,
                factor = factor.name(),
                "wrong factor"
            );
            return claimed.record_failure(deps, kind, client).await;
        }
    };
    if !active {
        return Ok(failure_stands(deps, claimed.after));
    }
    if claimed.user.email_verified_at.is_none() {
        // A right answer is not a failure; it is not a login either.
        claimed.give_back(deps).await?;
        return Ok(Attempt::Unverified);
    }
    match factor {
        Factor::Password {
            purpose: Purpose::Reauth,
            ..
        }
        | Factor::Code { step: None, .. } => {
            claimed.give_back(deps).await?;
            Ok(Attempt::Accepted(Box::new(claimed.user), revoked))
        }
        Factor::Password {
            purpose: Purpose::Login,
            ..
        } if claimed.user.mfa_enabled => {
            claimed.give_back(deps).await?;
            let step = second_step(deps, &claimed.user, claimed.lock.budget()).await?;
            Ok(Attempt::MfaRequired(Box::new(claimed.user), Box::new(step)))
        }
        Factor::Password { .. } | Factor::Passkey { .. } => {
            let version = claimed.user.credential_version;
            claimed.complete_login(deps, version, client).await
        }
        Factor::Code {
            step: Some(step), ..
        } => claimed.complete_login(deps, step.version, client).await,
    }
}

/// The challenge of a login's second step, started where its first step
/// was decided: checked against the credential version the password was
/// checked against, on the budget the password step spent.
async fn second_step(
    deps: &GateDeps,
    user: &users::Model,
    budget: Budget,
) -> Result<SecondStep, DomainError> {
    let now = deps.clock.now_ms();
    let version = user.credential_version;
    let mfa_token = challenges::start(&deps.db, user.id, version, budget, now).await?;
    let mut factors = vec!["totp"];
    if !passkeys::of_user(&deps.db, user.id).await?.is_empty() {
        factors.push("passkey");
    }
    Ok(SecondStep {
        mfa_token,
        expires_in: challenges::TTL_MS / 1000,
        factors,
    })
}

/// A right password whose stored hash has an older cost is hashed again.
async fn rehash_if_outdated(
    deps: &GateDeps,
    user: &users::Model,
    password: &str,
) -> Result<(), DomainError> {
    if deps.hasher.is_current(&user.password_hash) {
        return Ok(());
    }
    let new = deps.hasher.hash(password).await?;
    users::rehash(&deps.db, user.id, &user.password_hash, new).await?;
    tracing::info!(user_id = %user.id, "password hash upgraded to the configured cost");
    Ok(())
}

/// A code attempt: a void `mfa_token` or a missing setup is not a guess
/// at a code, so it is refused before anything is counted; a login's
/// second step spends its first step's budget.
async fn code_attempt(
    user_id: Uuid,
    deps: &GateDeps,
    check: &CodeCheck,
    budget: Budget,
    client: &RequestContext,
) -> Result<Attempt, DomainError> {
    let step = codes::precheck(&deps.mfa, user_id, check).await?;
    let budget = step.map_or(budget, |s| s.budget);
    let factor = Factor::Code { check, step };
    attempt(Lock::of(user_id, budget), deps, factor, client).await
}

/// A passkey login: counted like a password, and a completed login with
/// user verification when right (no code step, even with 2FA on).
async fn passkey_attempt(
    lock: Lock,
    deps: &GateDeps,
    assertion: Assertion,
    client: &RequestContext,
) -> Result<Attempt, DomainError> {
    let Some(webauthn) = deps.mfa.webauthn.as_deref() else {
        return Err(DomainError::PasskeysOff);
    };
    let factor = Factor::Passkey {
        assertion,
        webauthn,
    };
    attempt(lock, deps, factor, client).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future a function returns, without calling it.
    fn future_size<A, B, C, F: std::future::Future>(_: impl Fn(A, B, C) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    static GATE: AttemptGate = AttemptGate;

    /// An idle gate holds a message loop sized for its handler's future;
    /// with 100,000 users logged in there are 100,000 of them, so the
    /// attempts' large futures must not be inlined in it.
    #[test]
    fn a_gate_handler_future_is_small_and_an_attempt_future_is_not() {
        let handle = future_size(
            |myself: ActorRef<GateMsg>, msg: GateMsg, state: &'static mut GateState| {
                GATE.handle(myself, msg, state)
            },
        );
        let attempt = future_size(
            |lock: Lock, deps: &'static GateDeps, client: &'static RequestContext| {
                let factor = Factor::Password {
                    password: "",
                    purpose: Purpose::Login,
                };
                attempt(lock, deps, factor, client)
            },
        );
        assert!(handle <= 1024, "handler future: {handle} bytes");
        assert!(attempt > 4 * handle, "attempt {attempt}, handler {handle}");
    }
}
