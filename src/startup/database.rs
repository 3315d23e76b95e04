//! The database at start: its SQLite directory, the pool of each role, and
//! `authd migrate` (and `migrate status`).

use std::path::Path;
use std::sync::Arc;

use actors::hooks::StatementLog;
use anyhow::Context;
use sea_orm::DatabaseConnection;
use tracing::info;

use crate::config::Settings;

/// Creates the SQLite file's directory, if the database is SQLite.
fn ensure_sqlite_dir(url: &str) -> anyhow::Result<()> {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Ok(());
    };
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(())
}

/// Which process a pool is for: its default size and the name PostgreSQL
/// shows for its connections.
#[derive(Debug, Clone, Copy)]
pub(super) enum Role {
    Serve,
    Worker,
    Migrate,
}

impl Role {
    fn pool(self, settings: &Settings) -> actors::store::Pool {
        let (default, application_name) = match self {
            // Requests, the gate's attempts and the janitor of a node
            // that runs the worker too.
            Role::Serve => (16, "authd-serve"),
            // Eight sending slots, the relay and the janitor.
            Role::Worker => (8, "authd-worker"),
            // The advisory lock's connection and the migrations'.
            Role::Migrate => (2, "authd-migrate"),
        };
        actors::store::Pool {
            max_connections: settings.database_pool_size.unwrap_or(default),
            application_name,
            statements: None,
        }
    }
}

pub(super) async fn connect(settings: &Settings, role: Role) -> anyhow::Result<DatabaseConnection> {
    connect_noting(settings, role, None).await
}

/// Like [`connect`], noting every statement in `statements` when given
/// (the statement-budget tests).
pub(super) async fn connect_noting(
    settings: &Settings,
    role: Role,
    statements: Option<Arc<StatementLog>>,
) -> anyhow::Result<DatabaseConnection> {
    ensure_sqlite_dir(&settings.database_url)?;
    let pool = actors::store::Pool {
        statements,
        ..role.pool(settings)
    };
    actors::store::connect(&settings.database_url, pool)
        .await
        .context("cannot connect to the database (AUTH_DATABASE_URL)")
}

/// `authd migrate`.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = connect(settings, Role::Migrate).await?;
    crate::schema::apply(&db).await?;
    info!("the database schema is current");
    Ok(())
}

/// A connection for a one-off command (`authd admin …`), as `authd
/// migrate` makes it.
pub async fn command_db(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    connect(settings, Role::Migrate).await
}

/// `authd migrate status`: one line per migration on stdout.
pub async fn migrate_status(settings: &Settings) -> anyhow::Result<()> {
    let db = connect(settings, Role::Migrate).await?;
    let now = crate::schema::status(&db).await?;
    let lines = [
        ("applied", &now.applied),
        ("pending", &now.pending),
        ("newer", &now.newer),
    ];
    for (state, names) in lines {
        for name in names {
            println!("{state} {name}");
        }
    }
    Ok(())
}
