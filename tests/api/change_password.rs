//! Changing the password of a logged-in user.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    CHANGED_SUBJECT, PASSWORD, assert_error, count, parallel_statuses, spawn_app,
};

const NEW_PASSWORD: &str = "Brand-New-Secret-77";

#[tokio::test]
async fn a_change_keeps_this_session_and_signs_out_the_others() {
    let app = spawn_app().await;
    let (email, access, refresh) = app.logged_in_user().await;
    let (other_access, other_refresh) = app.tokens_for(&email, PASSWORD).await;

    let (status, body) = app.change_password(&access, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));

    assert_eq!(app.verify_token(&access).await.0, StatusCode::OK);
    assert_eq!(
        app.verify_token(&other_access).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&other_refresh).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.refresh(&refresh).await.0, StatusCode::OK);
    assert_eq!(
        app.login(&email, PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.login(&email, NEW_PASSWORD).await.0, StatusCode::OK);

    let notice = &app
        .smtp
        .wait_for_subject(&email, CHANGED_SUBJECT, 1, Duration::from_secs(10))
        .await[0];
    assert!(!notice.raw.contains("token="));
    assert!(!notice.raw.contains(NEW_PASSWORD));
}

#[tokio::test]
async fn a_wrong_current_password_gets_401_and_counts_toward_the_lockout() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    for _ in 0..5 {
        let (status, body) = app
            .change_password(&access, "Wrong-Password-9", NEW_PASSWORD)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_error(&body, 401, "Unauthorized");
        assert_eq!(body["errors"]["current_password"], json!(["is incorrect"]));
    }
    let (status, body) = app.change_password(&access, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body["data"]["retry_after"].as_u64().unwrap() > 0);
    // The failures were the session's device's: a login from elsewhere is
    // not refused because of them.
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    crate::helpers::tokens_of(&body);
    app.clock.advance_ms(61_000);
    assert_eq!(
        app.change_password(&access, PASSWORD, NEW_PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_change_voids_outstanding_reset_tokens() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    app.request_reset(&email).await;
    let token = app.reset_token(&email, 1).await;
    assert_eq!(
        app.change_password(&access, PASSWORD, NEW_PASSWORD).await.0,
        StatusCode::OK
    );
    let (status, body) = app.confirm_reset(&token, "Another-Secret-88").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(app.login(&email, NEW_PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_new_password_follows_the_rules() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    for (new, message) in [
        ("short", "must be at least 8 characters"),
        (PASSWORD, "must be different from the current password"),
        (email.as_str(), "must not be the same as the email address"),
    ] {
        let (status, body) = app.change_password(&access, PASSWORD, new).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let messages = body["errors"]["new_password"].as_array().unwrap();
        assert!(messages.contains(&json!(message)), "{body}");
    }
    let (status, body) = app
        .post(
            "/api/v1/auth/change-password/",
            &json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no bearer token: {body}");
    let (status, body) = app.change_password(&access, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "rule failures counted nothing: {body}"
    );
}

#[tokio::test]
async fn of_parallel_changes_exactly_one_wins() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let passwords: Vec<String> = (0..6).map(|i| format!("Parallel-Secret-{i}x")).collect();
    let attempts = passwords
        .iter()
        .map(|p| app.change_password(&access, PASSWORD, p));
    let statuses = parallel_statuses(attempts).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    // Losers count as failed attempts: let any lock pass, then check the
    // winner first (a completed login resets the count).
    app.clock.advance_ms(16 * 60 * 1000);
    let winner = statuses.iter().position(|s| *s == StatusCode::OK).unwrap();
    assert_eq!(
        app.login(&email, &passwords[winner]).await.0,
        StatusCode::OK
    );
    for (i, p) in passwords.iter().enumerate().filter(|(i, _)| *i != winner) {
        assert_eq!(
            app.login(&email, p).await.0,
            StatusCode::UNAUTHORIZED,
            "loser {i}"
        );
    }
    assert_eq!(
        app.login(&email, PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "five losers in a row lock the account"
    );
}
