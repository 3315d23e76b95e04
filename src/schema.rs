//! The database schema at start and in `authd migrate`: migrations applied
//! by one node at a time, what is applied and pending, and what a node does
//! with a schema newer than itself.
//!
//! Every release's migrations are additive (new tables, new columns with
//! defaults, new indexes): a node of the release before keeps working on
//! the newer schema, which is what a rolling upgrade and a rollback need.
//! Such a node finds migrations it does not know in the database; it says so
//! and starts without migrating.

use std::collections::BTreeSet;

use anyhow::Context;
use migrations::{Migrator, MigratorTrait, SchemaManager, seaql_migrations};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Statement, TransactionTrait,
};
use tracing::{info, warn};

/// The PostgreSQL advisory lock taken around migrating ("authd-mg").
const LOCK_KEY: i64 = 0x6175_7468_642d_6d67;

/// The migrations of this release and of the database.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Known to this release and applied.
    pub applied: Vec<String>,
    /// Known to this release, not applied yet.
    pub pending: Vec<String>,
    /// Applied by a newer release: this one does not know them.
    pub newer: Vec<String>,
}

/// Reads the status without writing anything (no table is created).
pub async fn status(db: &DatabaseConnection) -> anyhow::Result<Status> {
    let known: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let table = "seaql_migrations";
    let in_db: BTreeSet<String> = if SchemaManager::new(db).has_table(table).await? {
        seaql_migrations::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|m| m.version)
            .collect()
    } else {
        BTreeSet::new()
    };
    let (applied, pending) = known.iter().cloned().partition(|m| in_db.contains(m));
    let newer = in_db.into_iter().filter(|m| !known.contains(m)).collect();
    Ok(Status {
        applied,
        pending,
        newer,
    })
}

/// At `serve` or `worker` start: applies what is pending when `migrate`,
/// else refuses to start while anything is.
pub async fn at_start(db: &DatabaseConnection, migrate: bool) -> anyhow::Result<()> {
    let now = status(db).await?;
    if !now.newer.is_empty() {
        return newer_than_this_release(&now);
    }
    if now.pending.is_empty() {
        return Ok(());
    }
    if !migrate {
        anyhow::bail!(
            "AUTH_MIGRATE_ON_START is off and {} migration(s) are pending (first: {}): run `authd migrate` first",
            now.pending.len(),
            now.pending[0]
        );
    }
    apply(db).await
}

/// Applies every pending migration. On PostgreSQL under an advisory lock:
/// a node starting at the same moment waits, then finds nothing to do.
pub async fn apply(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        // SQLite: one process owns the file.
        return apply_now(db).await;
    }
    // Held by a transaction of its own on one of the pool's connections,
    // released when it ends; the migrations run on the others.
    let lock = db.begin().await?;
    lock.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"),
    ))
    .await
    .context("cannot take the migration lock")?;
    let result = apply_now(db).await;
    lock.rollback().await?;
    result
}

/// Nothing pending: nothing is run, not even the migration table's
/// `CREATE TABLE IF NOT EXISTS`.
async fn apply_now(db: &DatabaseConnection) -> anyhow::Result<()> {
    let now = status(db).await?;
    if !now.newer.is_empty() {
        return newer_than_this_release(&now);
    }
    if now.pending.is_empty() {
        return Ok(());
    }
    Migrator::up(db, None).await.context("migration failed")?;
    info!(applied = now.pending.len(), "migrations applied");
    Ok(())
}

/// A database migrated by a newer release: this node runs on it (the
/// migrations are additive) and migrates nothing.
fn newer_than_this_release(now: &Status) -> anyhow::Result<()> {
    if !now.pending.is_empty() {
        anyhow::bail!(
            "the database has migrations this release does not know ({}) and lacks some it does ({}): it belongs to another line of releases",
            now.newer.join(", "),
            now.pending.join(", ")
        );
    }
    warn!(
        newer = %now.newer.join(", "),
        "the database schema is newer than this release; running on it without migrating"
    );
    Ok(())
}
