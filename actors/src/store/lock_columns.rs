//! The lock columns (`failed_attempts`, `locked_until`) that users, known
//! devices and addresses with no account each have: reading them as a
//! lock state, writing a state, and matching the state a compare-and-swap
//! expects. The states come from the lockout state machine.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, UpdateMany};

use crate::lockout::LockState;

/// The lock state stored in a row.
pub fn read(failed_attempts: i32, locked_until: Option<i64>) -> LockState {
    LockState {
        failures: u32::try_from(failed_attempts).unwrap_or(0),
        locked_until,
    }
}

/// The stored form of a failure count.
pub fn stored_failures(state: LockState) -> i32 {
    i32::try_from(state.failures).unwrap_or(i32::MAX)
}

/// `update` writing the state `to` into the two columns.
pub fn write<E: EntityTrait, C: ColumnTrait>(
    update: UpdateMany<E>,
    failed_attempts: C,
    locked_until: C,
    to: LockState,
) -> UpdateMany<E> {
    update
        .col_expr(failed_attempts, Expr::value(stored_failures(to)))
        .col_expr(locked_until, Expr::value(to.locked_until))
}

/// Rows whose two columns still hold `from`.
pub fn still<C: ColumnTrait>(failed_attempts: C, locked_until: C, from: LockState) -> Condition {
    let locked = match from.locked_until {
        Some(t) => locked_until.eq(t),
        None => locked_until.is_null(),
    };
    Condition::all()
        .add(failed_attempts.eq(stored_failures(from)))
        .add(locked)
}
