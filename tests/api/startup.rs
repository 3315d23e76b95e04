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
