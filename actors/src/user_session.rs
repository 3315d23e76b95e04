//! UserSession: one actor per active user. It takes that user's password
//! and code attempts one at a time, applies the lockout state machine, and persists
//! the count with compare-and-swap updates so that restarts and other nodes
//! see the same state. An attempt claims its failure *before* the password
//! is checked, so concurrent attempts on any number of nodes never check
//! more passwords than the threshold allows; a right password gives the
//! claim back (or resets the count when the login completes).

use std::time::Duration;

use jobs::SharedClock;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::auth::LoggedIn;
use crate::lockout::{Gate, LockState, LockoutPolicy};
use crate::mfa::MfaDeps;
use crate::mfa::codes::{self, CodeCheck};
use crate::sessions::SessionStore;
use crate::store::users;
use crate::{DomainError, Hasher};

/// By default a session with no message for this long stops itself.
pub const IDLE_AFTER: Duration = Duration::from_secs(300);
const CAS_RETRIES: usize = 8;

/// What a session needs from the outside world.
#[derive(Clone, Debug)]
pub struct SessionDeps {
    pub db: DatabaseConnection,
    pub hasher: Hasher,
    pub clock: SharedClock,
    pub policy: LockoutPolicy,
    /// A session with no message for this long stops itself.
    pub idle_after: Duration,
    pub mfa: std::sync::Arc<MfaDeps>,
    /// A completed login starts its session here, in the transaction that
    /// resets the failure count.
    pub sessions: SessionStore,
}

/// What a right password is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A login: completes it (count reset), or asks for a code with 2FA on.
    Login,
    /// A logged-in user confirming a sensitive change: the count is left
    /// as it was (only a completed login resets it).
    Reauth,
}

/// The outcome of one password attempt.
#[derive(Debug)]
pub enum Attempt {
    /// Refused unchecked.
    Locked { retry_after_secs: u64 },
    /// Wrong password (counted), or the user is gone or deactivated.
    Wrong,
    /// Right password, email not verified yet (not counted).
    Unverified,
    /// Right password for a login with 2FA on: a code must follow; the
    /// count is left as it was.
    MfaRequired(Box<users::Model>),
    /// Right password or code confirming a change (the count as it was).
    Accepted(Box<users::Model>),
    /// Right password or code completing a login: the count is reset and
    /// the session started, in one transaction.
    LoggedIn(Box<LoggedIn>),
}

pub struct UserSession;

pub struct SessionState {
    user_id: Uuid,
    deps: SessionDeps,
    last_message: tokio::time::Instant,
}

pub enum SessionMsg {
    Password {
        password: Zeroizing<String>,
        purpose: Purpose,
        reply: RpcReplyPort<Result<Attempt, DomainError>>,
    },
    /// A TOTP or backup code (login step two, setup, re-authentication).
    Code {
        check: CodeCheck,
        reply: RpcReplyPort<Result<Attempt, DomainError>>,
    },
    IdleCheck,
}

impl Actor for UserSession {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = (Uuid, SessionDeps);

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (user_id, deps): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_interval(deps.idle_after / 2, || SessionMsg::IdleCheck);
        Ok(SessionState {
            user_id,
            deps,
            last_message: tokio::time::Instant::now(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionMsg::Password {
                password,
                purpose,
                reply,
            } => {
                state.last_message = tokio::time::Instant::now();
                let outcome = attempt(state.user_id, &state.deps, &password, purpose).await;
                let _ = reply.send(outcome);
            }
            SessionMsg::Code { check, reply } => {
                state.last_message = tokio::time::Instant::now();
                let outcome = code_attempt(state.user_id, &state.deps, &check).await;
                let _ = reply.send(outcome);
            }
            SessionMsg::IdleCheck => {
                if state.last_message.elapsed() >= state.deps.idle_after {
                    myself.stop(Some("idle".into()));
                }
            }
        }
        Ok(())
    }
}

fn lock_state(user: &users::Model) -> LockState {
    LockState {
        failures: u32::try_from(user.failed_attempts).unwrap_or(0),
        locked_until: user.locked_until,
    }
}

/// Moves the stored lock state from `from` to `to` only if it is still
/// `from`. Returns whether it did.
async fn compare_and_set(
    db: &DatabaseConnection,
    user_id: Uuid,
    from: LockState,
    to: LockState,
) -> Result<bool, DomainError> {
    let mut update = users::Entity::update_many()
        .col_expr(
            users::Column::FailedAttempts,
            Expr::value(i32::try_from(to.failures).unwrap_or(i32::MAX)),
        )
        .col_expr(users::Column::LockedUntil, Expr::value(to.locked_until))
        .filter(users::Column::Id.eq(user_id))
        .filter(users::Column::FailedAttempts.eq(i32::try_from(from.failures).unwrap_or(i32::MAX)));
    update = match from.locked_until {
        Some(t) => update.filter(users::Column::LockedUntil.eq(t)),
        None => update.filter(users::Column::LockedUntil.is_null()),
    };
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// A failure claimed before the secret is checked.
struct Claimed {
    user: users::Model,
    before: LockState,
    after: LockState,
}

impl Claimed {
    /// A right answer that does not complete a login: the claim is given
    /// back (if nothing moved meanwhile; otherwise the failure stands).
    async fn give_back(&self, deps: &SessionDeps) -> Result<(), DomainError> {
        compare_and_set(&deps.db, self.user.id, self.after, self.before).await?;
        Ok(())
    }

    /// A completed login: the session starts and the count starts again.
    async fn complete_login(self, deps: &SessionDeps) -> Result<Attempt, DomainError> {
        let tokens = deps
            .sessions
            .start(self.user.id, deps.clock.now_ms())
            .await?;
        Ok(Attempt::LoggedIn(Box::new(LoggedIn {
            tokens,
            user: Box::new(self.user),
        })))
    }
}

/// Claims one failure, or says why the attempt ends here (locked, or no
/// such user).
async fn claim(user_id: Uuid, deps: &SessionDeps) -> Result<Result<Claimed, Attempt>, DomainError> {
    for _ in 0..CAS_RETRIES {
        let Some(user) = users::Entity::find_by_id(user_id).one(&deps.db).await? else {
            return Ok(Err(Attempt::Wrong));
        };
        let before = lock_state(&user);
        let now = deps.clock.now_ms();
        if let Gate::Locked { retry_after_secs } = deps.policy.gate(before, now) {
            return Ok(Err(Attempt::Locked { retry_after_secs }));
        }
        let after = deps.policy.after_failure(before, now);
        if compare_and_set(&deps.db, user_id, before, after).await? {
            return Ok(Ok(Claimed {
                user,
                before,
                after,
            }));
        }
    }
    Err(DomainError::Internal("lockout state kept changing".into()))
}

async fn attempt(
    user_id: Uuid,
    deps: &SessionDeps,
    password: &str,
    purpose: Purpose,
) -> Result<Attempt, DomainError> {
    let claimed = match claim(user_id, deps).await? {
        Ok(c) => c,
        Err(ended) => return Ok(ended),
    };
    if !deps
        .hasher
        .verify(password, &claimed.user.password_hash)
        .await?
    {
        tracing::info!(%user_id, failures = claimed.after.failures, "wrong password");
        return Ok(Attempt::Wrong);
    }
    if !claimed.user.is_active {
        return Ok(Attempt::Wrong);
    }
    if claimed.user.email_verified_at.is_none() {
        // A right password is not a failure; it is not a login either.
        claimed.give_back(deps).await?;
        return Ok(Attempt::Unverified);
    }
    match purpose {
        Purpose::Reauth => {
            claimed.give_back(deps).await?;
            Ok(Attempt::Accepted(Box::new(claimed.user)))
        }
        Purpose::Login if claimed.user.mfa_enabled => {
            claimed.give_back(deps).await?;
            Ok(Attempt::MfaRequired(Box::new(claimed.user)))
        }
        Purpose::Login => claimed.complete_login(deps).await,
    }
}

async fn code_attempt(
    user_id: Uuid,
    deps: &SessionDeps,
    check: &CodeCheck,
) -> Result<Attempt, DomainError> {
    // A void mfa_token or a missing setup is not a guess at a code: it is
    // refused before anything is counted.
    codes::precheck(&deps.mfa, user_id, check).await?;
    let claimed = match claim(user_id, deps).await? {
        Ok(c) => c,
        Err(ended) => return Ok(ended),
    };
    if !claimed.user.is_active {
        return Ok(Attempt::Wrong);
    }
    if !codes::check(&deps.mfa, &claimed.user, check).await? {
        tracing::info!(%user_id, failures = claimed.after.failures, "wrong code");
        return Ok(Attempt::Wrong);
    }
    if check.completes_login() {
        return claimed.complete_login(deps).await;
    }
    claimed.give_back(deps).await?;
    Ok(Attempt::Accepted(Box::new(claimed.user)))
}
