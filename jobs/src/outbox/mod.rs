//! The email outbox: rows written in the same transaction as the change that
//! needs the email, then moved to the queue by the relay and marked by the
//! worker. Every state change is a conditional update, so two relays or two
//! workers on one row never both win.

pub mod entity;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

pub use entity::{Column, Entity as Outbox, Model as OutboxRow, Status};

use crate::{EmailKind, JobsError, Sealer};

/// An email to send, as the code that needs it describes it.
#[derive(Debug)]
pub struct NewEmail {
    pub user_id: Option<Uuid>,
    /// The stored address of the account, never an address as typed in a request.
    pub recipient: String,
    pub kind: EmailKind,
}

/// Writes the outbox row on `conn`, which should be the caller's transaction.
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    sealer: &Sealer,
    now_ms: i64,
    email: NewEmail,
) -> Result<Uuid, JobsError> {
    let id = Uuid::now_v7();
    let plaintext =
        serde_json::to_vec(&email.kind).map_err(|e| JobsError::Template(e.to_string()))?;
    let row = entity::ActiveModel {
        id: Set(id),
        user_id: Set(email.user_id),
        kind: Set(email.kind.name().to_owned()),
        recipient: Set(email.recipient),
        payload: Set(Some(sealer.seal(&plaintext, id.as_bytes())?)),
        status: Set(Status::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now_ms),
        lease_until: Set(None),
        last_error: Set(None),
        created_at: Set(now_ms),
        sent_at: Set(None),
    };
    Outbox::insert(row).exec_without_returning(conn).await?;
    Ok(id)
}

/// Pending rows whose dispatch is due and that no worker holds.
pub async fn due<C: ConnectionTrait>(
    conn: &C,
    now_ms: i64,
    limit: u64,
) -> Result<Vec<(Uuid, i64)>, JobsError> {
    Ok(Outbox::find()
        .select_only()
        .column(Column::Id)
        .column(Column::NextAttemptAt)
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

/// The relay takes a due row for dispatch by pushing its next dispatch time
/// forward; only the relay whose update matched pushes the job.
pub async fn take_for_dispatch<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    seen_next_attempt_at: i64,
    redispatch_at: i64,
) -> Result<bool, JobsError> {
    let res = Outbox::update_many()
        .col_expr(Column::NextAttemptAt, Expr::value(redispatch_at))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(Status::Pending))
        .filter(Column::NextAttemptAt.eq(seen_next_attempt_at))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// After a failed push, make the row due again soon.
pub async fn dispatch_failed<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    retry_at: i64,
) -> Result<(), JobsError> {
    Outbox::update_many()
        .col_expr(Column::NextAttemptAt, Expr::value(retry_at))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(Status::Pending))
        .exec(conn)
        .await?;
    Ok(())
}

/// A worker claims a row before sending. Returns the row with its new attempt
/// number, or `None` when it is sent, failed, or held by another worker.
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now_ms: i64,
    lease_until: i64,
) -> Result<Option<OutboxRow>, JobsError> {
    let res = Outbox::update_many()
        .col_expr(Column::LeaseUntil, Expr::value(lease_until))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(Status::Pending))
        .filter(free_at(now_ms))
        .exec(conn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    Ok(Outbox::find_by_id(id).one(conn).await?)
}

pub async fn mark_sent<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now_ms: i64,
) -> Result<(), JobsError> {
    if finish(conn, id, Status::Sent, Some(now_ms), None).await? {
        metrics::counter!("authd_email_jobs_sent_total").increment(1);
    }
    Ok(())
}

pub async fn mark_failed<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    error: &str,
) -> Result<(), JobsError> {
    if finish(conn, id, Status::Failed, None, Some(error)).await? {
        metrics::counter!("authd_email_jobs_failed_total").increment(1);
    }
    Ok(())
}

/// Sent and failed rows lose their sealed payload: nothing secret stays
/// behind. Whether the row was still pending (this call finished it).
async fn finish<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    status: Status,
    sent_at: Option<i64>,
    error: Option<&str>,
) -> Result<bool, JobsError> {
    let done = Outbox::update_many()
        .col_expr(Column::Status, Expr::value(status))
        .col_expr(Column::SentAt, Expr::value(sent_at))
        .col_expr(Column::Payload, Expr::value(Option::<String>::None))
        .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .col_expr(Column::LastError, Expr::value(error.map(str::to_owned)))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(Status::Pending))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// A transient failure: release the claim and make the row due after `retry_at`.
pub async fn mark_retry<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    retry_at: i64,
    error: &str,
) -> Result<(), JobsError> {
    let retried = Outbox::update_many()
        .col_expr(Column::NextAttemptAt, Expr::value(retry_at))
        .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .col_expr(Column::LastError, Expr::value(error.to_owned()))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(Status::Pending))
        .exec(conn)
        .await?;
    if retried.rows_affected == 1 {
        metrics::counter!("authd_email_jobs_retried_total").increment(1);
    }
    Ok(())
}

/// A claimed row this worker cannot open: the claim is released and not
/// counted as an attempt, the payload stays, and the row is due again
/// after `retry_at`.
pub async fn set_aside<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    retry_at: i64,
    error: &str,
) -> Result<(), JobsError> {
    Outbox::update_many()
        .col_expr(Column::NextAttemptAt, Expr::value(retry_at))
        .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).sub(1))
        .col_expr(Column::LastError, Expr::value(error.to_owned()))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(Status::Pending))
        .exec(conn)
        .await?;
    Ok(())
}

/// Counts rows by status; used by `/readyz`-style checks and tests.
pub async fn count_with_status<C: ConnectionTrait>(
    conn: &C,
    status: Status,
) -> Result<u64, JobsError> {
    use sea_orm::PaginatorTrait;
    Ok(Outbox::find()
        .filter(Column::Status.eq(status))
        .count(conn)
        .await?)
}

/// Sent and failed rows created before `created_before` (the outbox
/// retention), at most `limit` of them; returns how many. Pending rows are
/// never pruned: they are still to be delivered.
pub async fn prune<C: ConnectionTrait>(
    conn: &C,
    created_before: i64,
    limit: u64,
) -> Result<u64, JobsError> {
    let mut deleted = 0;
    for status in [Status::Sent, Status::Failed] {
        let finished = sea_orm::Condition::all()
            .add(Column::Status.eq(status))
            .add(Column::CreatedAt.lt(created_before));
        deleted +=
            crate::batch::delete_some::<Outbox, _>(conn, Column::Id, finished, limit).await?;
    }
    Ok(deleted)
}

/// Every finished (sent or failed) row of these users, whose accounts are
/// being removed; a pending row stays until it is delivered or given up.
pub async fn forget_users<C: ConnectionTrait>(
    conn: &C,
    user_ids: &[Uuid],
) -> Result<u64, JobsError> {
    if user_ids.is_empty() {
        return Ok(0);
    }
    let res = Outbox::delete_many()
        .filter(Column::UserId.is_in(user_ids.iter().copied()))
        .filter(Column::Status.ne(Status::Pending))
        .exec(conn)
        .await?;
    Ok(res.rows_affected)
}
