//! Startup, restart and shutdown.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{builder, spawn_app, unique_email};

#[tokio::test]
async fn the_server_stops_gracefully() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.0, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn mail_queued_before_a_restart_is_sent_after_it_with_the_same_generated_key() {
    if crate::helpers::postgres_url().is_some() {
        eprintln!("skipped: on PostgreSQL no key is generated (keys.rs tests that)");
        return;
    }
    // First start: no worker, so the mail waits in the outbox.
    let first = builder().without_worker().spawn().await;
    let email = unique_email();
    assert_eq!(first.register(&email).await.0, StatusCode::CREATED);
    let key_file = first.dir.path().join("encryption_key");
    let key = std::fs::read(&key_file).unwrap();

    // Second start on the same data directory and database, with a worker.
    let second = first.restart().await;
    let mails = second
        .smtp
        .wait_for(&email, 1, Duration::from_secs(15))
        .await;
    assert_eq!(
        std::fs::read(&key_file).unwrap(),
        key,
        "the generated key is reused"
    );
    assert_eq!(
        second.verify_email(&mails[0].token()).await.0,
        StatusCode::OK
    );
}

#[test]
fn the_binary_refuses_a_bad_setting_with_one_line_naming_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .arg("migrate")
        .env("AUTH_PUBLIC_URL", "not a url")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("AUTH_PUBLIC_URL"), "{stderr}");
}

#[test]
fn the_binary_prints_the_openapi_document() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success());
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(spec["paths"].is_object());
}

#[tokio::test]
async fn postgres_shows_each_process_by_role_and_the_pool_keeps_its_size() {
    use sea_orm::{ConnectionTrait, Statement};
    if crate::helpers::postgres_url().is_none() {
        eprintln!(
            "skipped: set AUTH_TEST_DATABASE_URL to see authd's connections in pg_stat_activity"
        );
        return;
    }
    let app = crate::helpers::builder()
        .settings(|s| s.database_pool_size = Some(3))
        .spawn()
        .await;
    // Some load, so the pool opens what it may.
    let logins: Vec<_> = (0..6).map(|_| app.logged_in()).collect();
    futures::future::join_all(logins).await;
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'authd-serve'",
        ))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get("", "n").unwrap();
    assert!((1..=3).contains(&n), "{n} connections named authd-serve");
}

#[tokio::test]
async fn on_stop_a_node_is_not_ready_at_once_and_serves_on_for_the_delay() {
    let app = builder()
        .settings(|s| s.shutdown_delay_secs = 2)
        .spawn()
        .await;
    assert_eq!(app.get("/readyz").await.0, StatusCode::OK);
    let (access, _) = app.logged_in().await;
    app.begin_stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["message"], "The node is shutting down");
    assert_eq!(app.get("/healthz").await.0, StatusCode::OK);
    assert_eq!(
        app.verify_token(&access).await.0,
        StatusCode::OK,
        "still serving"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        app.client.get(app.url("/healthz")).send().await.is_err(),
        "the listener is closed after the delay"
    );
}

#[tokio::test]
async fn with_docs_off_neither_the_page_nor_the_document_is_served() {
    let app = builder().settings(|s| s.docs = false).spawn().await;
    assert_eq!(app.get("/docs").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/openapi.json").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/healthz").await.0, StatusCode::OK);
    let on = spawn_app().await;
    assert_eq!(on.get("/openapi.json").await.0, StatusCode::OK);
}
