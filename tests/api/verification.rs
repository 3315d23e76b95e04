//! Email verification and resending the link.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, builder, count, parallel_statuses, spawn_app, unique_email};

#[tokio::test]
async fn the_link_verifies_the_account_once() {
    let app = spawn_app().await;
    let email = unique_email();
    let token = app.register_and_get_token(&email).await;
    let mail = &app.smtp.mails_to(&email)[0];
    assert!(
        mail.text
            .contains(&format!("http://localhost:3000/verify-email?token={token}"))
    );
    assert!(mail.html.contains(&token));
    assert_eq!(mail.subject, "Verify your email address");

    let (status, body) = app.verify_email(&token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));
    assert!(app.user(&email).await.unwrap().email_verified_at.is_some());

    let (status, body) = app.verify_email(&token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, 400, "Invalid request");
    assert_eq!(body["errors"]["token"], json!(["is invalid or expired"]));
}

#[tokio::test]
async fn parallel_uses_of_one_link_succeed_once() {
    let app = spawn_app().await;
    let token = app.register_and_get_token(&unique_email()).await;
    let attempts = (0..10).map(|_| app.verify_email(&token));
    let statuses = parallel_statuses(attempts).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::BAD_REQUEST), 9);
}

#[tokio::test]
async fn the_link_expires_after_48_hours() {
    let app = spawn_app().await;
    let email = unique_email();
    let token = app.register_and_get_token(&email).await;
    app.clock.advance_ms(48 * 3600 * 1000 + 1000);
    let (status, _) = app.verify_email(&token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(app.user(&email).await.unwrap().email_verified_at.is_none());
}

#[tokio::test]
async fn the_link_still_works_just_before_48_hours() {
    let app = spawn_app().await;
    let token = app.register_and_get_token(&unique_email()).await;
    app.clock.advance_ms(47 * 3600 * 1000);
    assert_eq!(app.verify_email(&token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn malformed_and_unknown_tokens_get_400() {
    let app = spawn_app().await;
    let long = "a".repeat(10_000);
    for token in [
        "",
        "abc",
        long.as_str(),
        "ééééééééééééééééééééééééééééééééééééééééééé",
        "' OR 1=1 --",
        &"A".repeat(43),
    ] {
        let (status, body) = app.verify_email(token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{token:?}");
        assert_error(&body, 400, "Invalid request");
    }
}

#[tokio::test]
async fn a_resend_voids_the_old_link() {
    let app = spawn_app().await;
    let email = unique_email();
    let old = app.register_and_get_token(&email).await;
    let (status, body) = app
        .post(
            "/api/v1/auth/resend-verification/",
            &json!({"email": email.to_uppercase()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mails = app.smtp.wait_for(&email, 2, Duration::from_secs(10)).await;
    let new = mails[1].token();
    assert_ne!(old, new);
    assert_eq!(app.verify_email(&old).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(app.verify_email(&new).await.0, StatusCode::OK);
}

#[tokio::test]
async fn resend_answers_the_same_for_unknown_and_known_addresses() {
    let app = spawn_app().await;
    let known = unique_email();
    app.register_and_get_token(&known).await;
    let unknown = unique_email();
    let a = app
        .client
        .post(app.url("/api/v1/auth/resend-verification/"))
        .json(&json!({"email": known}))
        .send()
        .await
        .unwrap();
    let b = app
        .client
        .post(app.url("/api/v1/auth/resend-verification/"))
        .json(&json!({"email": unknown}))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), b.status());
    assert_eq!(
        a.bytes().await.unwrap(),
        b.bytes().await.unwrap(),
        "byte-identical bodies"
    );
    app.smtp.wait_for(&known, 2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        app.smtp.mails_to(&unknown).is_empty(),
        "no mail to an unknown address"
    );
}

#[tokio::test]
async fn resend_to_a_verified_account_sends_nothing() {
    let app = spawn_app().await;
    let email = unique_email();
    let token = app.register_and_get_token(&email).await;
    assert_eq!(app.verify_email(&token).await.0, StatusCode::OK);
    let (status, _) = app
        .post(
            "/api/v1/auth/resend-verification/",
            &json!({"email": email}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(app.smtp.mails_to(&email).len(), 1);
    assert_eq!(app.outbox().await.len(), 1);
}

#[tokio::test]
async fn resend_with_an_invalid_address_gets_400() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/api/v1/auth/resend-verification/",
            &json!({"email": "nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["errors"]["email"],
        json!(["must be a valid email address"])
    );
}

#[tokio::test]
async fn links_use_the_public_url_never_the_host_header() {
    let app = builder()
        .settings(|s| s.public_url = url::Url::parse("https://app.example.com/").unwrap())
        .spawn()
        .await;
    let email = unique_email();
    let resp = app
        .client
        .post(app.url("/api/v1/auth/register/"))
        .header("host", "evil.example.net")
        .header("x-forwarded-host", "evil.example.net")
        .json(&crate::helpers::registration(&email))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let mail = &app.smtp.wait_for(&email, 1, Duration::from_secs(10)).await[0];
    assert!(
        mail.text
            .contains("https://app.example.com/verify-email?token="),
        "{}",
        mail.text
    );
    assert!(!mail.raw.contains("evil"));
}
