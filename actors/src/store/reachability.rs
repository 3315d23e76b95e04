//! Which database errors mean "the database cannot be reached right now"
//! (answered 503, retried by the client) rather than a bug (500).

use sea_orm::sqlx;
use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};

/// PostgreSQL SQLSTATEs of a server that is going away or not there yet:
/// class 08 (connection exception) is matched by prefix.
const PG_UNAVAILABLE: [&str; 4] = [
    // admin_shutdown: "terminating connection due to administrator command"
    "57P01", // crash_shutdown
    "57P02",
    // cannot_connect_now: "the database system is starting up / shutting down"
    "57P03", // too_many_connections
    "53300",
];

/// SQLite primary result codes (the extended code's low byte) of a
/// database held by another writer past the busy timeout.
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;

/// Whether `err` says the database is unreachable or busy (a refused or
/// reset connection, the pool's acquire timeout, a server shutting down or
/// starting up, SQLite still locked after its busy timeout). Everything
/// else (a constraint, a syntax error, a decode error) is not.
pub(crate) fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout | ConnAcquireErr::ConnectionClosed) => {
            true
        }
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => sqlx_unavailable(e),
        _ => false,
    }
}

fn sqlx_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || PG_UNAVAILABLE.contains(&code.as_ref())
                || code.parse::<i64>().is_ok_and(|c| {
                    let primary = c & 0xff;
                    primary == SQLITE_BUSY || primary == SQLITE_LOCKED
                })
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn query(e: sqlx::Error) -> DbErr {
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
    }

    #[test]
    fn connection_level_errors_are_unavailable() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(is_unavailable(&query(sqlx::Error::Io(refused))));
        assert!(is_unavailable(&query(sqlx::Error::PoolTimedOut)));
        assert!(is_unavailable(&DbErr::ConnectionAcquire(
            ConnAcquireErr::Timeout
        )));
    }

    #[test]
    fn bugs_are_not_unavailable() {
        assert!(!is_unavailable(&query(sqlx::Error::RowNotFound)));
        assert!(!is_unavailable(&query(sqlx::Error::Protocol("x".into()))));
        assert!(!is_unavailable(&DbErr::RecordNotInserted));
        assert!(!is_unavailable(&DbErr::Custom("x".into())));
    }
}
