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

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use sea_orm::TransactionTrait;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::DomainError;
use crate::attempts::{Attempt, Budget, Purpose};
use crate::context::RequestContext;
use crate::mfa::codes::{self, CodeCheck};
use crate::passkeys::assertion::Assertion;
use crate::store::address_failures;

mod claim;
mod deps;
mod factor;

use claim::{Lock, claim, claim_on, failure_stands};
pub use deps::GateDeps;
use factor::{Factor, Verdict, second_step};

/// By default a gate with no message for this long is stopped by its
/// supervisor. Its state lives in the database, so a short idle time costs
/// one actor start per returning user and bounds the live gates by the
/// login rate rather than by the number of users.
pub const IDLE_AFTER: Duration = Duration::from_secs(10);

pub(crate) struct AttemptGate;

pub(crate) struct GateState {
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
                    assertion,
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
    assertion: Box<Assertion>,
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
