//! Known devices: a completed login returns a `device_token`; a login that
//! presents it has its own failure budget, so failures from elsewhere do
//! not lock the owner out.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, count, remember_secret, spawn_app, unique_email};

const WRONG: &str = "Wrong-Password-99";

impl TestApp {
    /// A login presenting `device_token`.
    async fn login_with_device(
        &self,
        email: &str,
        password: &str,
        device_token: &str,
    ) -> (StatusCode, Value) {
        let (status, body) = self
            .post(
                "/api/v1/auth/login/",
                &json!({ "email": email, "password": password, "device_token": device_token }),
            )
            .await;
        remember_device(&body);
        (status, body)
    }
}

fn remember_device(body: &Value) -> Option<String> {
    let token = body["data"]["device_token"].as_str()?.to_owned();
    remember_secret(&token);
    for key in ["token", "refresh_token"] {
        if let Some(s) = body["data"][key].as_str() {
            remember_secret(s);
        }
    }
    Some(token)
}

/// A verified user and the device token of its first login.
async fn user_with_device(app: &TestApp) -> (String, String) {
    let email = unique_email();
    app.verified_user(&email).await;
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let device = remember_device(&body).expect("a completed login returns a device_token");
    assert_eq!(device.len(), 43, "{body}");
    (email, device)
}

/// Locks the account with wrong passwords from 30 addresses at once.
async fn lock_from_elsewhere(app: &TestApp, email: &str) {
    let statuses: Vec<StatusCode> = futures::future::join_all((0..30).map(|i| async move {
        app.login_from(&format!("198.51.100.{i}"), email, WRONG)
            .await
            .0
    }))
    .await;
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED),
        5,
        "{statuses:?}"
    );
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 25);
    let (status, _) = app.login(email, PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the account is locked"
    );
}

#[tokio::test]
async fn the_owner_with_a_device_token_logs_in_while_the_account_is_locked_from_elsewhere() {
    let app = spawn_app().await;
    let (email, device) = user_with_device(&app).await;
    lock_from_elsewhere(&app, &email).await;

    let (status, body) = app.login_with_device(&email, PASSWORD, &device).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["token"].is_string(), "{body}");
    // The lock from elsewhere stands for everyone else.
    let (status, _) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_device_token_of_another_account_is_worthless() {
    let app = spawn_app().await;
    let (_, other_device) = user_with_device(&app).await;
    let (email, _) = user_with_device(&app).await;
    lock_from_elsewhere(&app, &email).await;
    let (status, body) = app.login_with_device(&email, PASSWORD, &other_device).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    for junk in [
        "",
        "x",
        &"a".repeat(5000),
        "not-a-device-token-at-all-not-a-device-tok",
    ] {
        let (status, body) = app.login_with_device(&email, PASSWORD, junk).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    }
}

#[tokio::test]
async fn a_device_that_fails_five_times_is_locked_out_and_its_token_void() {
    let app = spawn_app().await;
    let (email, device) = user_with_device(&app).await;
    for _ in 0..5 {
        let (status, body) = app.login_with_device(&email, WRONG, &device).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    // Its failures were its own: the account is not locked.
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    remember_device(&body);
    // But the token is void: it no longer lets its holder past a lock.
    lock_from_elsewhere(&app, &email).await;
    let (status, body) = app.login_with_device(&email, PASSWORD, &device).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

#[tokio::test]
async fn each_completed_login_renews_the_device_token_and_the_old_one_stops_working() {
    let app = spawn_app().await;
    let (email, first) = user_with_device(&app).await;
    let (status, body) = app.login_with_device(&email, PASSWORD, &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = remember_device(&body).unwrap();
    assert_ne!(first, second);

    lock_from_elsewhere(&app, &email).await;
    let (status, _) = app.login_with_device(&email, PASSWORD, &first).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, body) = app.login_with_device(&email, PASSWORD, &second).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_known_device_passes_both_steps_of_a_2fa_login_while_the_account_is_locked() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let mfa_token = app.mfa_token(&user.email).await;
    let (status, body) = app
        .mfa_verify(&mfa_token, &app.code_now(&user.secret))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let device = remember_device(&body).expect("mfa/verify returns a device_token");
    app.next_step();
    // 2fa/recover returns one too.
    let mfa_token = app.mfa_token(&user.email).await;
    let (status, body) = app.recover(&mfa_token, &user.backup_codes[0]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(remember_device(&body).is_some(), "{body}");

    lock_from_elsewhere(&app, &user.email).await;
    let (status, body) = app.login_with_device(&user.email, PASSWORD, &device).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["mfa_required"], json!(true), "{body}");
    let mfa_token = body["data"]["mfa_token"].as_str().unwrap().to_owned();
    remember_secret(&mfa_token);
    let (status, body) = app
        .mfa_verify(&mfa_token, &app.code_now(&user.secret))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(remember_device(&body).is_some());
}
