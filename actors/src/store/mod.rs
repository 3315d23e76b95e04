//! sea-orm entities and the queries the actors run. Timestamps are Unix
//! milliseconds.

pub mod address_failures;
pub mod audit_events;
pub mod backup_codes;
pub mod devices;
pub mod lock_columns;
pub mod mfa_challenges;
pub mod mfa_secrets;
pub mod one_time_tokens;
pub mod refresh_tokens;
pub mod sessions;
pub mod users;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Opens the database. SQLite gets WAL and a busy timeout so that parallel
/// requests wait for each other instead of failing with "database is locked".
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false);
    if url.starts_with("sqlite:") {
        options.max_connections(8).map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(std::time::Duration::from_secs(10))
                .foreign_keys(true)
        });
    } else {
        options.max_connections(16);
    }
    Database::connect(options).await
}

pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
