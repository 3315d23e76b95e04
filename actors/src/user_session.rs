//! UserSession: one actor per active user. It takes that user's password
//! attempts one at a time, applies the lockout state machine, and persists
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

use crate::lockout::{Gate, LockState, LockoutPolicy};
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
    /// Right password: the login is complete and the count reset.
    Accepted(Box<users::Model>),
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
            SessionMsg::Password { password, reply } => {
                state.last_message = tokio::time::Instant::now();
                let outcome = attempt(state.user_id, &state.deps, &password).await;
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

async fn attempt(
    user_id: Uuid,
    deps: &SessionDeps,
    password: &str,
) -> Result<Attempt, DomainError> {
    // Claim one failure (or learn that the account is locked).
    let mut claimed = None;
    for _ in 0..CAS_RETRIES {
        let Some(user) = users::Entity::find_by_id(user_id).one(&deps.db).await? else {
            return Ok(Attempt::Wrong);
        };
        let before = lock_state(&user);
        let now = deps.clock.now_ms();
        if let Gate::Locked { retry_after_secs } = deps.policy.gate(before, now) {
            return Ok(Attempt::Locked { retry_after_secs });
        }
        let after = deps.policy.after_failure(before, now);
        if compare_and_set(&deps.db, user_id, before, after).await? {
            claimed = Some((user, before, after));
            break;
        }
    }
    let Some((user, before, after)) = claimed else {
        return Err(DomainError::Internal("lockout state kept changing".into()));
    };

    if !deps.hasher.verify(password, &user.password_hash).await? {
        tracing::info!(%user_id, failures = after.failures, "wrong password");
        return Ok(Attempt::Wrong);
    }
    if !user.is_active {
        return Ok(Attempt::Wrong);
    }
    if user.email_verified_at.is_none() {
        // A right password is not a failure; it is not a login either.
        let _ = compare_and_set(&deps.db, user_id, after, before).await?;
        return Ok(Attempt::Unverified);
    }
    users::Entity::update_many()
        .col_expr(users::Column::FailedAttempts, Expr::value(0))
        .col_expr(users::Column::LockedUntil, Expr::value(Option::<i64>::None))
        .filter(users::Column::Id.eq(user_id))
        .exec(&deps.db)
        .await?;
    Ok(Attempt::Accepted(Box::new(user)))
}
