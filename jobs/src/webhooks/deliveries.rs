//! Every write to `webhook_deliveries`: rows written in the change's
//! transaction, claimed by a sender with a lease, then marked, a failed
//! row sent again by hand, finished rows pruned. Every state change is a
//! conditional update, so two senders (or two admins) never both win a
//! row.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entity::{self, Column, Entity as Deliveries, Model as Delivery, Status};
use crate::JobsError;

/// One row to write: an event for one endpoint.
#[derive(Debug)]
pub(super) struct NewDelivery<'a> {
    pub endpoint: &'a str,
    pub webhook_id: &'a str,
    pub event_type: &'a str,
    pub user_id: Option<Uuid>,
    pub payload: &'a str,
}

/// Writes the row on `conn`, which should be the change's transaction.
pub(super) async fn insert<C: ConnectionTrait>(
    conn: &C,
    row: NewDelivery<'_>,
    now_ms: i64,
) -> Result<(), JobsError> {
    let model = entity::ActiveModel {
        id: Set(Uuid::now_v7()),
        endpoint: Set(row.endpoint.to_owned()),
        webhook_id: Set(row.webhook_id.to_owned()),
        r#type: Set(row.event_type.to_owned()),
        user_id: Set(row.user_id),
        payload: Set(row.payload.to_owned()),
        status: Set(Status::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now_ms),
        lease_until: Set(None),
        last_attempt_at: Set(None),
        last_response_status: Set(None),
        created_at: Set(now_ms),
    };
    Deliveries::insert(model)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Pending rows that are due and that no sender holds, oldest due first.
pub(super) async fn due<C: ConnectionTrait>(
    conn: &C,
    now_ms: i64,
    limit: u64,
) -> Result<Vec<Uuid>, JobsError> {
    Ok(Deliveries::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Status.eq(Status::Pending))
        .filter(Column::NextAttemptAt.lte(now_ms))
        .filter(free_at(now_ms))
        .order_by_asc(Column::NextAttemptAt)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?)
}

fn free_at(now_ms: i64) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(Column::LeaseUntil.is_null())
        .add(Column::LeaseUntil.lt(now_ms))
}

/// Takes a due row for one attempt until `lease_until`: the attempt is
/// counted now, so a sender killed mid-attempt leaves it counted and the
/// row free again once the lease ends. `None`: another sender has it, or
/// it is no longer pending or due.
pub(super) async fn claim<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now_ms: i64,
    lease_until: i64,
) -> Result<Option<Delivery>, JobsError> {
    let res = Deliveries::update_many()
        .col_expr(Column::LeaseUntil, Expr::value(lease_until))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .col_expr(Column::LastAttemptAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(Status::Pending))
        .filter(Column::NextAttemptAt.lte(now_ms))
        .filter(free_at(now_ms))
        .exec(conn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    Ok(Deliveries::find_by_id(id).one(conn).await?)
}

/// The attempt's end: `status` (delivered, failed, or pending again with
/// `next_attempt_at`), with the receiver's HTTP status when it answered.
/// Whether the row was still this attempt's (pending, attempt `attempts`).
pub(super) async fn finish_attempt<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    attempts: i32,
    status: Status,
    next_attempt_at: Option<i64>,
    response_status: Option<i32>,
) -> Result<bool, JobsError> {
    let mut update = Deliveries::update_many()
        .col_expr(Column::Status, Expr::value(status))
        .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .col_expr(Column::LastResponseStatus, Expr::value(response_status));
    if let Some(at) = next_attempt_at {
        update = update.col_expr(Column::NextAttemptAt, Expr::value(at));
    }
    let res = update
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(Status::Pending))
        .filter(Column::Attempts.eq(attempts))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// A page of rows for the admin list: newest first (`created_at`, then
/// `id`), of one status if `status` is given, strictly after `after` (the
/// previous page's last row), at most `limit`.
pub async fn page<C: ConnectionTrait>(
    conn: &C,
    status: Option<Status>,
    after: Option<(i64, Uuid)>,
    limit: u64,
) -> Result<Vec<Delivery>, JobsError> {
    let mut find = Deliveries::find();
    if let Some(status) = status {
        find = find.filter(Column::Status.eq(status));
    }
    if let Some((created_at, id)) = after {
        find = find.filter(
            sea_orm::Condition::any()
                .add(Column::CreatedAt.lt(created_at))
                .add(
                    sea_orm::Condition::all()
                        .add(Column::CreatedAt.eq(created_at))
                        .add(Column::Id.lt(id)),
                ),
        );
    }
    Ok(find
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// The row `id`, if there is one.
pub async fn get<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Delivery>, JobsError> {
    Ok(Deliveries::find_by_id(id).one(conn).await?)
}

/// Sends a failed row again: only a `failed` row becomes `pending`, due
/// at `now_ms`, with no lease and its attempts back at 0 (the whole
/// schedule again); its `webhook-id` and body stay. The row as it now is,
/// or `None` when it was not failed (or is not there): of two admins
/// retrying one row at once, one gets it.
pub async fn retry_failed<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now_ms: i64,
) -> Result<Option<Delivery>, JobsError> {
    let mut rows = Deliveries::update_many()
        .col_expr(Column::Status, Expr::value(Status::Pending))
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::NextAttemptAt, Expr::value(now_ms))
        .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(Status::Failed))
        .exec_with_returning(conn)
        .await?;
    Ok(rows.pop())
}

/// Delivered and failed rows whose last attempt (or, without one, whose
/// creation) is before `finished_before` (the outbox retention), at most
/// `limit` per status; returns how many. Pending rows are never pruned:
/// they are still to be sent. An attempt is never before its row's
/// creation, so `created_at` narrows the search (through the list's
/// index) and `last_attempt_at` decides.
pub async fn prune<C: ConnectionTrait>(
    conn: &C,
    finished_before: i64,
    limit: u64,
) -> Result<u64, JobsError> {
    let mut deleted = 0;
    for status in [Status::Delivered, Status::Failed] {
        let finished = sea_orm::Condition::all()
            .add(Column::Status.eq(status))
            .add(Column::CreatedAt.lt(finished_before))
            .add(
                sea_orm::Condition::any()
                    .add(Column::LastAttemptAt.is_null())
                    .add(Column::LastAttemptAt.lt(finished_before)),
            );
        deleted +=
            crate::batch::delete_some::<Deliveries, _>(conn, Column::Id, finished, limit).await?;
    }
    Ok(deleted)
}

/// Every row, oldest first (tests).
pub async fn all<C: ConnectionTrait>(conn: &C) -> Result<Vec<Delivery>, JobsError> {
    Ok(Deliveries::find()
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(conn)
        .await?)
}

/// Rows with `status`.
pub async fn count_with_status<C: ConnectionTrait>(
    conn: &C,
    status: Status,
) -> Result<u64, JobsError> {
    Ok(Deliveries::find()
        .filter(Column::Status.eq(status))
        .count(conn)
        .await?)
}
