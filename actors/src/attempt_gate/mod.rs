//! AttemptGate: one actor per active user (and per address with no account
//! that is being tried). It takes that user's attempts (a [`GateMsg`] each:
//! a password, a passkey or a code) one at a time, applies the lockout state machine, and persists
//! the count with compare-and-swap updates so that restarts and other nodes
//! see the same state. An attempt claims its failure *before* the password
//! is checked, so concurrent attempts on any number of nodes never check
//! more passwords than the threshold allows; a right password gives the
//! claim back (or resets the count when the login completes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use sea_orm::TransactionTrait;
use uuid::Uuid;

use crate::DomainError;
use crate::attempts::{Attempt, Budget, Purpose};
use crate::audit::{self, Event, EventKind};
use crate::context::RequestContext;
use crate::domain::UserId;
use crate::store::address_failures;

mod claim;
mod deps;
mod factor;
mod msg;

use claim::{Lock, claim, claim_on, failure_stands};
pub use deps::GateDeps;
use factor::{Factor, Verdict, second_step};
pub use msg::{AttemptMsg, GateMsg, Presented, Reply};

/// By default a gate with no message for this long is stopped by its
/// supervisor. Its state lives in the database, so a short idle time costs
/// one actor start per returning user and bounds the live gates by the
/// login rate rather than by the number of users.
pub const IDLE_AFTER: Duration = Duration::from_secs(10);

pub(crate) struct AttemptGate;

pub(crate) struct GateState {
    /// A user's id, or the keyed hash of an address with no account.
    user_id: Uuid,
    deps: GateDeps,
    /// Messages answered, read by the supervisor before it stops the gate.
    handled: Arc<AtomicU64>,
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
        let (outcome, reply) = match msg {
            GateMsg::Attempt(AttemptMsg {
                presented,
                budget,
                client,
                reply,
            }) => {
                let deps = &state.deps;
                let attempt =
                    account_attempt(UserId(state.user_id), deps, &presented, budget, &client);
                (Box::pin(attempt).await, reply)
            }
            GateMsg::UnknownAddress { password, reply } => {
                let attempt = address_attempt(state.user_id, &state.deps, &password);
                (Box::pin(attempt).await, reply)
            }
        };
        let _ = reply.send(outcome);
        state.handled.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

/// An attempt on an account: the factor presented, then [`attempt`].
async fn account_attempt(
    user_id: UserId,
    deps: &GateDeps,
    presented: &Presented,
    budget: Budget,
    client: &RequestContext,
) -> Result<Attempt, DomainError> {
    let (factor, budget) = Factor::of(presented, user_id, budget, deps).await?;
    attempt(Lock::of(user_id, budget), deps, factor, client).await
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
        // A right password is not a failure (given back, as for an
        // unverified address); the answer is 403 `Account disabled` (only
        // an account's right password gets it: an unknown address never
        // reaches here). The log and the trail say why.
        tracing::info!(user_id = %claimed.user.id, factor = factor.name(), "right factor for a disabled account: refused");
        let event = Event::new(claimed.user.id, EventKind::LoginRefusedDisabled, client);
        audit::record(&deps.db, event, deps.clock.now_ms()).await?;
        claimed.give_back(deps).await?;
        return Ok(Attempt::Disabled);
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
        }
        | Factor::Identity { .. }
            if claimed.user.mfa_enabled =>
        {
            claimed.give_back(deps).await?;
            let step = second_step(deps, &claimed.user, claimed.lock.budget()).await?;
            Ok(Attempt::MfaRequired(Box::new(claimed.user), Box::new(step)))
        }
        Factor::Password { .. } | Factor::Passkey { .. } | Factor::Identity { .. } => {
            let version = claimed.user.credential_version;
            let via = factor.provider();
            claimed.complete_login(deps, version, via, client).await
        }
        Factor::Code {
            step: Some(step), ..
        } => {
            claimed
                .complete_login(deps, step.version, None, client)
                .await
        }
    }
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
