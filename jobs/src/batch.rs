//! Deleting in batches: at most `limit` rows per statement, so that a big
//! backlog never holds a long lock; the caller loops until a batch comes
//! back short.

use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// Deletes at most `limit` rows of `E` that match `cond`, in one statement
/// (`DELETE ... WHERE id IN (SELECT id ... LIMIT n)`, the same on SQLite
/// and PostgreSQL); `id` is the table's primary key. Returns how many.
pub async fn delete_some<E: EntityTrait, C: ConnectionTrait>(
    conn: &C,
    id: E::Column,
    cond: Condition,
    limit: u64,
) -> Result<u64, DbErr> {
    let ids = Query::select()
        .column(id)
        .from(E::default())
        .cond_where(cond)
        .limit(limit)
        .to_owned();
    let deleted = E::delete_many()
        .filter(id.in_subquery(ids))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected)
}
