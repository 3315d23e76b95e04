//! A deleted account leaves one security event, `account_deleted`, with
//! its user id and nothing else: the audit trail's rows no longer cascade
//! with their user (the deletion removes the user's other events itself),
//! so the foreign key from `audit_events` to `users` goes. Every other
//! table keyed to a user keeps its `ON DELETE CASCADE`; the outbox never
//! had a foreign key, so the "account deleted" mail outlives the account.
//!
//! PostgreSQL drops the constraint by name. SQLite cannot drop a
//! constraint: the table is rebuilt from its own stored definition without
//! the clause (so columns added by any migration are kept), its rows
//! copied, and its indexes made again, in one transaction.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "audit_events";
const FKEY: &str = "audit_events_user_id_fkey";
/// The clause as sea-query wrote it into SQLite's schema (migration 000011).
const SQLITE_CLAUSE: &str =
    r#", FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match db.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {FKEY}"
                ))
                .await?;
            }
            _ => {
                let create = sqlite_table_sql(manager).await?;
                if !create.contains(SQLITE_CLAUSE) {
                    // Already without it (a rerun): nothing to do.
                    return Ok(());
                }
                rebuild_sqlite(manager, &create.replacen(SQLITE_CLAUSE, "", 1)).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Events whose user is gone cannot stay under the constraint.
        db.execute_unprepared(&format!(
            "DELETE FROM {TABLE} WHERE user_id NOT IN (SELECT id FROM users)"
        ))
        .await?;
        match db.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {TABLE} ADD CONSTRAINT {FKEY} FOREIGN KEY (user_id) \
                     REFERENCES users (id) ON DELETE CASCADE"
                ))
                .await?;
            }
            _ => {
                let create = sqlite_table_sql(manager).await?;
                if create.contains(SQLITE_CLAUSE) {
                    return Ok(());
                }
                let end = create
                    .rfind(')')
                    .ok_or_else(|| DbErr::Migration(format!("{TABLE}: no column list")))?;
                let with = format!(
                    "{}{SQLITE_CLAUSE} {}",
                    create[..end].trim_end(),
                    &create[end..]
                );
                rebuild_sqlite(manager, &with).await?;
            }
        }
        Ok(())
    }
}

/// The `CREATE TABLE` statement SQLite keeps for the table.
async fn sqlite_table_sql(manager: &SchemaManager<'_>) -> Result<String, DbErr> {
    let db = manager.get_connection();
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = '{TABLE}'"),
        ))
        .await?
        .ok_or_else(|| DbErr::Migration(format!("no table {TABLE}")))?;
    row.try_get("", "sql")
}

/// Makes the table anew as `create` says, with its rows and its indexes.
async fn rebuild_sqlite(manager: &SchemaManager<'_>, create: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let indexes: Vec<String> = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = '{TABLE}' \
                 AND sql IS NOT NULL"
            ),
        ))
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "sql"))
        .collect::<Result<_, _>>()?;
    let new = format!("{TABLE}_new");
    let quoted = format!("\"{TABLE}\"");
    let create_new =
        create
            .replacen("IF NOT EXISTS ", "", 1)
            .replacen(&quoted, &format!("\"{new}\""), 1);
    if create_new == create.replacen("IF NOT EXISTS ", "", 1) {
        return Err(DbErr::Migration(format!(
            "{TABLE}: its definition does not name it as expected"
        )));
    }
    db.execute_unprepared(&create_new).await?;
    db.execute_unprepared(&format!("INSERT INTO \"{new}\" SELECT * FROM {quoted}"))
        .await?;
    db.execute_unprepared(&format!("DROP TABLE {quoted}"))
        .await?;
    db.execute_unprepared(&format!("ALTER TABLE \"{new}\" RENAME TO {quoted}"))
        .await?;
    for index in indexes {
        db.execute_unprepared(&index).await?;
    }
    Ok(())
}
