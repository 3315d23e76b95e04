//! Claiming a refresh token for rotation: in one step, the session is still
//! live (and marked used now), the presented token is unused (and marked
//! used), and its successor is stored. Both backends take the session's
//! row before the token's, the order revocation takes them in, so a logout
//! racing a refresh never deadlocks on PostgreSQL.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, Statement, TransactionTrait,
};

use crate::store::{refresh_tokens, sessions};

/// What became of a claim.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Claim {
    /// The successor is stored: the rotation happened.
    Issued,
    /// The session was ended meanwhile: nothing changed.
    SessionEnded,
    /// The token was used meanwhile (a parallel rotation won).
    AlreadyUsed,
}

/// Claims `presented` (the stored row of the token presented) at `now_ms`
/// and stores `next`, its successor in the same session.
pub(super) async fn claim(
    db: &DatabaseConnection,
    presented: &refresh_tokens::Model,
    next: refresh_tokens::Model,
    now_ms: i64,
) -> Result<Claim, DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => in_one_statement(db, presented, next, now_ms).await,
        _ => in_a_transaction(db, presented, next, now_ms).await,
    }
}

/// PostgreSQL: one statement (one round trip instead of five). The session
/// update runs first: the token's update waits on its result (an InitPlan).
const CLAIM_SQL: &str = r#"
WITH live AS (
    UPDATE sessions SET last_used_at = $1
    WHERE id = $2 AND revoked_at IS NULL
    RETURNING id
), claimed AS (
    UPDATE refresh_tokens SET used_at = $1
    WHERE id = $3 AND used_at IS NULL AND revoked_at IS NULL
      AND EXISTS (SELECT 1 FROM live)
    RETURNING id
), issued AS (
    INSERT INTO refresh_tokens
        (id, session_id, user_id, token_hash, access_jti, access_expires_at,
         expires_at, used_at, revoked_at, created_at)
    SELECT $4, $2, $5, $6, $7, $8, $9, NULL, NULL, $10 FROM claimed
    RETURNING id
)
SELECT (SELECT count(*) FROM live) AS live, (SELECT count(*) FROM issued) AS issued
"#;

async fn in_one_statement(
    db: &DatabaseConnection,
    presented: &refresh_tokens::Model,
    next: refresh_tokens::Model,
    now_ms: i64,
) -> Result<Claim, DbErr> {
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        CLAIM_SQL,
        [
            now_ms.into(),
            presented.session_id.into(),
            presented.id.into(),
            next.id.into(),
            next.user_id.into(),
            next.token_hash.into(),
            next.access_jti.into(),
            next.access_expires_at.into(),
            next.expires_at.into(),
            next.created_at.into(),
        ],
    );
    let row = db
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("claim returned no row".to_owned()))?;
    let live: i64 = row.try_get("", "live")?;
    let issued: i64 = row.try_get("", "issued")?;
    Ok(match (live, issued) {
        (0, _) => Claim::SessionEnded,
        (_, 0) => Claim::AlreadyUsed,
        _ => Claim::Issued,
    })
}

/// SQLite (one writer at a time): the same three writes in a transaction,
/// rolled back unless all three happen.
async fn in_a_transaction(
    db: &DatabaseConnection,
    presented: &refresh_tokens::Model,
    next: refresh_tokens::Model,
    now_ms: i64,
) -> Result<Claim, DbErr> {
    let txn = db.begin().await?;
    let live = sessions::Entity::update_many()
        .col_expr(sessions::Column::LastUsedAt, Expr::value(now_ms))
        .filter(sessions::Column::Id.eq(presented.session_id))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if live.rows_affected != 1 {
        return Ok(Claim::SessionEnded);
    }
    let used = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::UsedAt, Expr::value(now_ms))
        .filter(refresh_tokens::Column::Id.eq(presented.id))
        .filter(refresh_tokens::Column::UsedAt.is_null())
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if used.rows_affected != 1 {
        return Ok(Claim::AlreadyUsed);
    }
    refresh_tokens::Entity::insert(next.into_active_model())
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(Claim::Issued)
}
