//! The lock columns (`failed_attempts`, `locked_until`, `last_failed_at`)
//! that users, known devices and addresses with no account each have:
//! reading them as a lock state, writing a state, and matching the state a
//! compare-and-swap expects. The states come from the lockout state machine.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, UpdateMany};

use crate::lockout::LockState;

/// The three columns of one table.
#[derive(Clone, Copy)]
pub(crate) struct LockColumns<C> {
    pub failed_attempts: C,
    pub locked_until: C,
    pub last_failed_at: C,
}

/// The lock state stored in a row.
pub(crate) fn read(
    failed_attempts: i32,
    locked_until: Option<i64>,
    last_failed_at: Option<i64>,
) -> LockState {
    LockState {
        failures: u32::try_from(failed_attempts).unwrap_or(0),
        locked_until,
        last_failure_at: last_failed_at,
    }
}

/// The stored form of a failure count.
pub(crate) fn stored_failures(state: LockState) -> i32 {
    i32::try_from(state.failures).unwrap_or(i32::MAX)
}

impl<C: ColumnTrait> LockColumns<C> {
    /// `update` writing the state `to` into the columns.
    pub(crate) fn write<E: EntityTrait>(
        self,
        update: UpdateMany<E>,
        to: LockState,
    ) -> UpdateMany<E> {
        update
            .col_expr(self.failed_attempts, Expr::value(stored_failures(to)))
            .col_expr(self.locked_until, Expr::value(to.locked_until))
            .col_expr(self.last_failed_at, Expr::value(to.last_failure_at))
    }

    /// Rows whose columns still hold `from`.
    pub(crate) fn still(self, from: LockState) -> Condition {
        Condition::all()
            .add(self.failed_attempts.eq(stored_failures(from)))
            .add(same(self.locked_until, from.locked_until))
            .add(same(self.last_failed_at, from.last_failure_at))
    }
}

fn same<C: ColumnTrait>(column: C, value: Option<i64>) -> Condition {
    let cond = match value {
        Some(t) => column.eq(t),
        None => column.is_null(),
    };
    Condition::all().add(cond)
}
