//! Statements that touch a user's rows by `user_id` find them through an
//! index, not by reading the whole table (bench/scale: on 2,000,000 refresh
//! tokens a scan made logout-all hundreds of times slower).

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};

use crate::helpers::spawn_app;

/// The plan of `sql` as text, one line per step. On PostgreSQL sequential
/// scans are made a last resort, so the plan uses an index whenever one
/// exists (a small test table would otherwise be scanned anyway).
pub(crate) async fn plan(app: &crate::helpers::TestApp, sql: &str) -> String {
    let backend = app.db.get_database_backend();
    let txn = app.db.begin().await.unwrap();
    let explain = match backend {
        DatabaseBackend::Postgres => {
            txn.execute_unprepared("SET LOCAL enable_seqscan = off")
                .await
                .unwrap();
            format!("EXPLAIN {sql}")
        }
        _ => format!("EXPLAIN QUERY PLAN {sql}"),
    };
    let rows = txn
        .query_all_raw(Statement::from_string(backend, explain))
        .await
        .unwrap();
    let column = match backend {
        DatabaseBackend::Postgres => "QUERY PLAN",
        _ => "detail",
    };
    let lines: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", column).unwrap())
        .collect();
    txn.rollback().await.unwrap();
    lines.join("\n")
}

/// A user id as a literal of the app's database.
fn some_user(app: &crate::helpers::TestApp) -> &'static str {
    match app.db.get_database_backend() {
        DatabaseBackend::Postgres => "'00000000-0000-0000-0000-000000000001'",
        _ => "x'00000000000000000000000000000001'",
    }
}

#[tokio::test]
async fn ending_every_session_of_a_user_finds_its_rows_by_index() {
    let app = spawn_app().await;
    let user = some_user(&app);
    for (sql, index) in [
        (
            format!(
                "UPDATE refresh_tokens SET revoked_at = 1 WHERE user_id = {user} AND revoked_at IS NULL"
            ),
            "refresh_tokens_user_id_idx",
        ),
        (
            format!(
                "UPDATE sessions SET revoked_at = 1 WHERE user_id = {user} AND revoked_at IS NULL"
            ),
            "sessions_user_id_idx",
        ),
    ] {
        let plan = plan(&app, &sql).await;
        assert!(plan.contains(index), "{sql}\n{plan}");
    }
}

/// Every credential change voids the user's open challenges by `user_id`
/// (`mfa::challenges::void_all`); the index is migration 12's.
#[tokio::test]
async fn voiding_a_users_mfa_challenges_finds_them_by_index() {
    let app = spawn_app().await;
    let user = some_user(&app);
    let sql =
        format!("UPDATE mfa_challenges SET used_at = 1 WHERE user_id = {user} AND used_at IS NULL");
    let plan = plan(&app, &sql).await;
    assert!(plan.contains("mfa_challenges_user_id_idx"), "{sql}\n{plan}");
}

/// A user's passkeys are listed, and a removed user's ceremonies deleted
/// (cascade), by `user_id`.
#[tokio::test]
async fn a_users_passkeys_and_ceremonies_are_found_by_index() {
    let app = spawn_app().await;
    let user = some_user(&app);
    for (sql, index) in [
        (
            format!("SELECT * FROM passkeys WHERE user_id = {user}"),
            "passkeys_user_id_idx",
        ),
        (
            format!("DELETE FROM webauthn_challenges WHERE user_id = {user}"),
            "webauthn_challenges_user_id_idx",
        ),
    ] {
        let plan = plan(&app, &sql).await;
        assert!(plan.contains(index), "{sql}\n{plan}");
    }
}
