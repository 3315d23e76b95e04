//! Migrations: nodes starting together take turns (PostgreSQL advisory
//! lock), `authd migrate status`, `AUTH_MIGRATE_ON_START=off`, and a node
//! of an older release on a newer schema.

use std::path::Path;
use std::process::Output;

use sea_orm::{ConnectionTrait, Database};

use crate::binary::authd;
use crate::helpers::{fresh_postgres, postgres_url};

fn run(dir: &Path, database_url: &str, args: &[&str]) -> Output {
    authd(dir)
        .env("AUTH_DATABASE_URL", database_url)
        .args(args)
        .output()
        .expect("authd runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `migrate status`'s lines by state.
fn states(dir: &Path, database_url: &str) -> (usize, usize, Vec<String>) {
    let out = run(dir, database_url, &["migrate", "status"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let count = |s: &str| stdout.lines().filter(|l| l.starts_with(s)).count();
    let newer = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("newer "))
        .map(str::to_owned)
        .collect();
    (count("applied "), count("pending "), newer)
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}/authd.db?mode=rwc", dir.display())
}

#[test]
fn status_lists_pending_then_applied_migrations_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let (applied, pending, newer) = states(dir.path(), &url);
    assert_eq!(applied, 0);
    assert!(pending >= 17, "{pending}");
    assert!(newer.is_empty());
    // Asking changed nothing: still all pending.
    assert_eq!(states(dir.path(), &url).1, pending);
    let out = run(dir.path(), &url, &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(states(dir.path(), &url), (pending, 0, vec![]));
}

#[test]
fn with_migrate_on_start_off_a_node_refuses_a_pending_schema_and_says_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let out = authd(dir.path())
        .env("AUTH_DATABASE_URL", &url)
        .env("AUTH_MIGRATE_ON_START", "off")
        .env("AUTH_BIND", "127.0.0.1:0")
        .arg("serve")
        .output()
        .expect("authd runs");
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("AUTH_MIGRATE_ON_START") && said.contains("authd migrate"),
        "{said}"
    );
    // Migrated by the job first, the same node starts (and is stopped here
    // once it serves).
    assert!(run(dir.path(), &url, &["migrate"]).status.success());
    let mut node = crate::binary::Running::start({
        let mut cmd = authd(dir.path());
        cmd.env("AUTH_DATABASE_URL", &url)
            .env("AUTH_MIGRATE_ON_START", "off")
            .env("AUTH_BIND", "127.0.0.1:0")
            .arg("serve");
        cmd
    });
    assert!(
        node.wait_for(std::time::Duration::from_secs(20), |l| l
            .contains("listening"))
            .is_some(),
        "{:?}",
        node.seen
    );
}

#[tokio::test]
async fn an_older_release_runs_on_a_newer_schema_without_migrating() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    assert!(run(dir.path(), &url, &["migrate"]).status.success());
    // A migration of a release after this one.
    let db = Database::connect(&url).await.unwrap();
    db.execute_unprepared(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m20990101_000001_future', 0)",
    )
    .await
    .unwrap();
    db.close().await.unwrap();
    let (_, pending, newer) = states(dir.path(), &url);
    assert_eq!(
        (pending, newer),
        (0, vec!["m20990101_000001_future".to_owned()])
    );
    let out = run(dir.path(), &url, &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("newer than this release"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn nodes_migrating_a_fresh_postgres_database_at_once_all_succeed() {
    let Some(base) = postgres_url() else {
        eprintln!("skipped: set AUTH_TEST_DATABASE_URL to run the migration race on PostgreSQL");
        return;
    };
    // Without the lock, two of these died on a duplicate pg_type row nearly
    // every time (the tables created twice at once).
    for _ in 0..3 {
        let url = fresh_postgres(&base).await;
        let dir = tempfile::tempdir().unwrap();
        let racers: Vec<_> = (0..4)
            .map(|_| {
                authd(dir.path())
                    .env("AUTH_DATABASE_URL", &url)
                    .arg("migrate")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("authd runs")
            })
            .collect();
        for racer in racers {
            let out = racer.wait_with_output().expect("authd ends");
            assert!(out.status.success(), "{}", text(&out));
            // The migrator's idempotent DDL leaves no NOTICE in the log.
            assert!(!text(&out).contains("already exists"), "{}", text(&out));
        }
        let (applied, pending, newer) = states(dir.path(), &url);
        assert!(applied >= 17 && pending == 0 && newer.is_empty());
    }
}

/// Migration 000026 rebuilds SQLite's `audit_events` without its foreign
/// key: on a database with events, every row and index is kept, and an
/// event then outlives its user.
#[tokio::test]
async fn dropping_the_audit_trails_foreign_key_keeps_every_event_on_sqlite() {
    use actors::store::{audit_events, users};
    use migrations::MigratorTrait;
    use sea_orm::{EntityTrait, Statement};

    let dir = tempfile::tempdir().unwrap();
    let db = Database::connect(sqlite_url(dir.path())).await.unwrap();
    db.execute_unprepared("PRAGMA foreign_keys = ON")
        .await
        .unwrap();
    let pending = migrations::Migrator::get_pending_migrations(&db)
        .await
        .unwrap();
    let before = pending
        .iter()
        .position(|m| m.name() == "m20261206_000026_account_deletion")
        .expect("the migration is listed");
    migrations::Migrator::up(&db, Some(u32::try_from(before).unwrap()))
        .await
        .unwrap();

    // Rows as they were before the migration, in its columns (the
    // entities of today have columns added later).
    let user_id = actors::UserId::new_v4();
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO users (id, email, email_normalized, password_hash, first_name, \
         last_name, is_active, created_at, updated_at, failed_attempts, mfa_enabled, \
         credential_version, alert_new_device, roles, app_metadata) \
         VALUES ($1, 'old@example.org', 'old@example.org', 'x', 'Old', 'Data', \
         true, 1, 1, 0, false, 0, true, '[]', '{}')",
        [user_id.into()],
    ))
    .await
    .unwrap();
    let mut ids = Vec::new();
    for (i, kind) in ["registered", "login_succeeded"].into_iter().enumerate() {
        let id = uuid::Uuid::now_v7();
        db.execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "INSERT INTO audit_events (id, user_id, kind, at, ip, user_agent) \
             VALUES ($1, $2, $3, $4, '192.0.2.1', 'test')",
            [
                id.into(),
                user_id.into(),
                kind.into(),
                (10 + i64::try_from(i).unwrap()).into(),
            ],
        ))
        .await
        .unwrap();
        ids.push(id);
    }
    let indexes = |db: sea_orm::DatabaseConnection| async move {
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT name FROM sqlite_master WHERE type = 'index' \
                 AND tbl_name = 'audit_events' AND sql IS NOT NULL ORDER BY name",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get::<String>("", "name").unwrap())
            .collect::<Vec<_>>()
    };
    let indexes_before = indexes(db.clone()).await;
    assert!(!indexes_before.is_empty());

    migrations::Migrator::up(&db, None).await.unwrap();

    let mut kept: Vec<uuid::Uuid> = audit_events::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    kept.sort();
    ids.sort();
    assert_eq!(kept, ids);
    assert_eq!(indexes(db.clone()).await, indexes_before);
    // No foreign key any more: the events outlive their user.
    users::Entity::delete_by_id(user_id)
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(
        audit_events::Entity::find().all(&db).await.unwrap().len(),
        2
    );
}
