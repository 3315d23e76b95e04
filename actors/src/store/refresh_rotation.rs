//! Claiming a refresh token for rotation: in one step, the session is still
//! live (and marked used now) and its account active, the presented token
//! is unused (and marked used), and its successor is stored. A disabled
//! account's claim changes nothing (the token stays unused), like an ended
//! session's. Both backends take the session's
//! row before the token's, the order revocation takes them in, so a logout
//! racing a refresh never deadlocks on PostgreSQL.
//!
//! This is the one write that spans two tables, `sessions` and
//! `refresh_tokens`, so it has a module of its own instead of a function
//! in either table's. It stays one statement (PostgreSQL) or one batch of
//! three (SQLite) for speed: a refresh is the most frequent write, and
//! splitting it into a function per table would cost a round trip each
//! (five instead of one on PostgreSQL) and give up the session-then-token
//! order the lock ordering above depends on. Every other write to these
//! tables is in [`super::sessions`] and [`super::refresh_tokens`].

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};

use super::refresh_tokens;

/// What became of a claim.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The successor is stored: the rotation happened.
    Issued,
    /// The session was ended meanwhile, or its account is disabled:
    /// nothing changed.
    SessionEnded,
    /// The token was used meanwhile (a parallel rotation won).
    AlreadyUsed,
}

/// Claims `presented` (the stored row of the token presented) at `now_ms`
/// and stores `next`, its successor in the same session.
pub(crate) async fn claim(
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
/// `used_at IS NULL` is [`super::unused`], written out in SQL (in both
/// backends' statements).
const CLAIM_SQL_POSTGRES: &str = r#"
WITH live AS (
    UPDATE sessions SET last_used_at = $1
    WHERE id = $2 AND revoked_at IS NULL
      AND EXISTS (SELECT 1 FROM users WHERE id = $5 AND is_active)
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

/// The parameters of both claims, `$1` to `$10`.
fn values(
    presented: &refresh_tokens::Model,
    next: refresh_tokens::Model,
    now_ms: i64,
) -> [sea_orm::Value; 10] {
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
    ]
}

async fn in_one_statement(
    db: &DatabaseConnection,
    presented: &refresh_tokens::Model,
    next: refresh_tokens::Model,
    now_ms: i64,
) -> Result<Claim, DbErr> {
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        CLAIM_SQL_POSTGRES,
        values(presented, next, now_ms),
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

/// SQLite: no data-modifying CTEs, so three statements sent as one (one
/// hand-off to SQLite's thread instead of three) inside a transaction. Each
/// write happens only if the one before it changed one row (`changes()`),
/// so the number of rows changed in all says which step stopped it:
/// 0 the session, 1 the token, 3 none.
const CLAIM_SQL_SQLITE: &str = r#"
UPDATE sessions SET last_used_at = $1
WHERE id = $2 AND revoked_at IS NULL
  AND EXISTS (SELECT 1 FROM users WHERE id = $5 AND is_active);
UPDATE refresh_tokens SET used_at = $1
WHERE id = $3 AND used_at IS NULL AND revoked_at IS NULL AND changes() = 1;
INSERT INTO refresh_tokens
    (id, session_id, user_id, token_hash, access_jti, access_expires_at,
     expires_at, used_at, revoked_at, created_at)
SELECT $4, $2, $5, $6, $7, $8, $9, NULL, NULL, $10 WHERE changes() = 1;
"#;

async fn in_a_transaction(
    db: &DatabaseConnection,
    presented: &refresh_tokens::Model,
    next: refresh_tokens::Model,
    now_ms: i64,
) -> Result<Claim, DbErr> {
    let txn = db.begin().await?;
    let changed = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            CLAIM_SQL_SQLITE,
            values(presented, next, now_ms),
        ))
        .await?
        .rows_affected();
    let claim = match changed {
        0 => Claim::SessionEnded,
        1 => Claim::AlreadyUsed,
        3 => Claim::Issued,
        other => {
            return Err(DbErr::Custom(format!(
                "a refresh claim changed {other} rows"
            )));
        }
    };
    if claim == Claim::Issued {
        txn.commit().await?;
    }
    Ok(claim)
}
