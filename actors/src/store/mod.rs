//! sea-orm entities and the queries the actors run. Timestamps are Unix
//! milliseconds.

pub mod address_failures;
pub mod admin_keys;
pub mod audit_events;
pub mod backup_codes;
pub mod devices;
pub mod identities;
pub(crate) mod janitor_lease;
pub mod key_fingerprints;
pub(crate) mod lock_columns;
pub mod mfa_challenges;
pub mod mfa_secrets;
pub mod oidc_codes;
pub mod oidc_flows;
pub mod one_time_tokens;
pub mod passkeys;
pub mod reachability;
pub(crate) mod refresh_rotation;
pub mod refresh_tokens;
pub mod sessions;
pub mod users;
pub mod webauthn_challenges;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::domain::{SessionId, UserId};
use crate::hooks::StatementLog;

/// How long the first connection may take: an unreachable database is
/// reported with its cause within this, not after the pool's retries.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a PostgreSQL query waits for a connection of the pool. The
/// pool retries a refused connection silently until then, so this is how
/// long a request waits before answering 503 while the server is down.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// SQLite is a file: a wait for its connection is only other requests'
/// statements, queued in turn.
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// SQLite takes one writer at a time. With one connection per process,
/// statements queue in the pool (first come, first served, without sleeping)
/// instead of in SQLite's busy handler, which sleeps up to 100 ms a turn:
/// token/refresh went from p99 ~210 ms to ~12 ms and +25 % a second
/// (BENCHMARKS.md). Reads are microseconds and queue too. The busy timeout
/// still covers other processes on the same file (`authd worker`).
const SQLITE_CONNECTIONS: u32 = 1;
/// A PostgreSQL connection idle at least this long is pinged before use,
/// so one a restarted server dropped is replaced instead of failing a
/// request. One in use more recently is not: sqlx pings every connection
/// as it goes back to the pool anyway, and a ping on every acquire too
/// cost a round trip per statement on the busiest paths.
const PG_PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// What a process asks of its connection pool.
#[derive(Debug, Clone)]
pub struct Pool {
    /// Most connections open at once (PostgreSQL; SQLite keeps its own
    /// small pool).
    pub max_connections: u32,
    /// What PostgreSQL shows for them (`application_name`, in
    /// `pg_stat_activity`), e.g. `authd-serve`.
    pub application_name: &'static str,
    /// Given (statement-budget tests), every statement the pool runs is
    /// noted there; `None` in production, where nothing is installed.
    pub statements: Option<Arc<StatementLog>>,
}

/// Opens the database. SQLite gets WAL and a busy timeout so that parallel
/// requests wait for each other instead of failing with "database is locked".
pub async fn connect(url: &str, pool: Pool) -> Result<DatabaseConnection, DbErr> {
    if !url.starts_with("sqlite:") {
        probe_postgres(url).await?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // A file has no server that could drop the connection: no ping
        // before use (each was a hop to SQLite's thread and back).
        options.test_before_acquire(false);
        options.acquire_timeout(SQLITE_ACQUIRE_TIMEOUT);
        options
            .max_connections(SQLITE_CONNECTIONS)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(std::time::Duration::from_secs(10))
                    .foreign_keys(true)
            });
    } else {
        options.acquire_timeout(PG_ACQUIRE_TIMEOUT);
        options.test_before_acquire_if_idle_for(PG_PING_AFTER_IDLE);
        options
            .max_connections(pool.max_connections.max(1))
            // The server keeps its NOTICEs ("relation ... already exists,
            // skipping" from the migrator's idempotent DDL) to itself;
            // warnings and errors still come.
            .map_sqlx_postgres_opts(|o| {
                o.application_name(pool.application_name)
                    .options([("client_min_messages", "warning")])
            });
    }
    if let Some(log) = pool.statements.clone()
        && url.starts_with("sqlite:")
    {
        options.map_sqlx_sqlite_pool_opts(move |o| o.after_connect(sqlite_hooks(log.clone())));
    }
    let mut db = Database::connect(options).await?;
    if let Some(log) = pool.statements {
        db.set_metric_callback(move |info| log.record(info.statement.sql.clone()));
    }
    Ok(db)
}

/// Notes each SQLite transaction that commits a write, or rolls back, in
/// `log` (sea-orm's metric callback does not see `BEGIN`/`COMMIT`).
fn sqlite_hooks(
    log: Arc<StatementLog>,
) -> impl for<'c> Fn(
    &'c mut sea_orm::sqlx::SqliteConnection,
    sea_orm::sqlx::pool::PoolConnectionMetadata,
) -> futures::future::BoxFuture<'c, Result<(), sea_orm::sqlx::Error>>
+ Send
+ Sync
+ 'static {
    move |conn, _| {
        let log = log.clone();
        Box::pin(async move {
            let mut handle = conn.lock_handle().await?;
            let on_commit = log.clone();
            handle.set_commit_hook(move || {
                on_commit.record(StatementLog::COMMIT.to_owned());
                true
            });
            handle.set_rollback_hook(move || log.record(StatementLog::ROLLBACK.to_owned()));
            Ok(())
        })
    }
}

/// One direct connection, so an unreachable server is reported with its
/// cause ("Connection refused") at once: the pool retries a refused
/// connection silently until its acquire timeout, then reports only the
/// timeout.
async fn probe_postgres(url: &str) -> Result<(), DbErr> {
    use sea_orm::sqlx::Connection;
    let conn_err = |e: String| DbErr::Conn(sea_orm::RuntimeErr::Internal(e));
    match tokio::time::timeout(CONNECT_TIMEOUT, sea_orm::sqlx::PgConnection::connect(url)).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(conn_err(e.to_string())),
        Err(_) => Err(conn_err(format!(
            "no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// Which sessions a revocation ends: [`sessions::revoke`] ends them and
/// [`refresh_tokens::revoke`] revokes their tokens, in that order, each
/// with this scope in its own columns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SessionScope {
    /// One session (a logout with its refresh token, a reused token).
    Session(SessionId),
    /// One session, if it is `user_id`'s.
    SessionOf {
        user_id: UserId,
        session_id: SessionId,
    },
    /// Every session of `user_id` but `keep`.
    AllOf {
        user_id: UserId,
        keep: Option<SessionId>,
    },
}

impl SessionScope {
    /// The rows of a table that belong to the sessions of this scope, given
    /// the table's session id and user id columns.
    pub(crate) fn rows<C: sea_orm::ColumnTrait>(
        self,
        session_id: C,
        user_id: C,
    ) -> sea_orm::Condition {
        let all = sea_orm::Condition::all();
        match self {
            SessionScope::Session(id) => all.add(session_id.eq(id)),
            SessionScope::SessionOf {
                user_id: user,
                session_id: id,
            } => all.add(session_id.eq(id)).add(user_id.eq(user)),
            SessionScope::AllOf {
                user_id: user,
                keep,
            } => {
                let all = all.add(user_id.eq(user));
                match keep {
                    Some(keep) => all.add(session_id.ne(keep)),
                    None => all,
                }
            }
        }
    }
}

/// "Use once", written once: a single-use row (an emailed link, a backup
/// code, an `mfa_token`, a WebAuthn challenge, a refresh token) is used by
/// setting its `used_at`, and only while that is unset, so exactly one of
/// any number of concurrent conditional updates changes it. Every such
/// claim (and every count of what is left) filters with this.
pub(crate) fn unused<C: sea_orm::ColumnTrait>(used_at: C) -> sea_orm::Condition {
    sea_orm::Condition::all().add(used_at.is_null())
}

/// A single-use row that can no longer be used: used, or expired, before
/// `dead_before`.
pub(crate) fn used_or_expired<C: sea_orm::ColumnTrait>(
    used_at: C,
    expires_at: C,
    dead_before: i64,
) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(used_at.lte(dead_before))
        .add(expires_at.lte(dead_before))
}

pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryTrait};

    use super::*;

    #[test]
    fn unused_is_the_same_sql_as_used_at_is_null() {
        use one_time_tokens::{Column, Entity};
        let claim = || {
            Entity::update_many()
                .col_expr(Column::UsedAt, Expr::value(1))
                .filter(Column::Id.eq(uuid::Uuid::nil()))
        };
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let by_hand = claim()
                .filter(Column::UsedAt.is_null())
                .filter(Column::ExpiresAt.gt(1))
                .build(backend)
                .to_string();
            let helped = claim()
                .filter(unused(Column::UsedAt))
                .filter(Column::ExpiresAt.gt(1))
                .build(backend)
                .to_string();
            assert_eq!(helped, by_hand);
            assert!(helped.contains(r#""used_at" IS NULL AND"#), "{helped}");
        }
    }
}
