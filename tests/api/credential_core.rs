//! The credential core's rules that the third audit found with more than
//! one owner: re-authentication spends the session's device budget, a
//! credential change forgets the other devices, turning alerts off takes
//! a step-up, and every failure count decays by one rule.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, count, remember_secret, spawn_app, unique_email};

const WRONG: &str = "Wrong-Password-99";
const NEW_PASSWORD: &str = "Brand-New-Horse-77";
const ALERTS_OFF: &str = "New-sign-in emails were turned off for your account";

impl TestApp {
    /// A login presenting `device_token` (or none): status, body, and the
    /// tokens it got remembered for the log check.
    async fn device_login(
        &self,
        email: &str,
        password: &str,
        device_token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut body = json!({ "email": email, "password": password });
        if let Some(device) = device_token {
            body["device_token"] = json!(device);
        }
        let (status, body) = self.post("/api/v1/auth/login/", &body).await;
        for key in ["token", "refresh_token", "device_token"] {
            if let Some(s) = body["data"][key].as_str() {
                remember_secret(s);
            }
        }
        (status, body)
    }

    /// A verified user logged in once: (email, access token, device token).
    async fn user_on_a_device(&self) -> (String, String, String) {
        let email = unique_email();
        self.verified_user(&email).await;
        let (status, body) = self.device_login(&email, PASSWORD, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            email,
            body["data"]["token"].as_str().unwrap().to_owned(),
            body["data"]["device_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Locks the account with wrong passwords from 30 addresses at once.
    async fn lock_from_elsewhere(&self, email: &str) {
        let statuses: Vec<StatusCode> = futures::future::join_all((0..30).map(|i| async move {
            self.login_from(&format!("198.51.100.{i}"), email, WRONG)
                .await
                .0
        }))
        .await;
        assert_eq!(
            count(&statuses, StatusCode::UNAUTHORIZED),
            5,
            "{statuses:?}"
        );
        let (status, _) = self.login(email, PASSWORD).await;
        assert_eq!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "the account is locked"
        );
    }

    async fn put_alert_settings(&self, access: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .client
            .put(self.url("/api/v1/auth/alerts/"))
            .bearer_auth(access)
            .json(&body)
            .send()
            .await
            .unwrap();
        crate::helpers::read(resp).await
    }
}

#[tokio::test]
async fn a_locked_account_does_not_stop_its_owner_from_changing_the_password_in_a_session() {
    let app = spawn_app().await;
    let (email, access, _) = app.user_on_a_device().await;
    app.lock_from_elsewhere(&email).await;

    let (status, body) = app.enable_mfa(&access).await;
    assert_eq!(status, StatusCode::OK, "2FA setup re-authenticates: {body}");
    let (status, body) = app.change_password(&access, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The lock from elsewhere still stands for everyone else.
    let (status, _) = app.login(&email, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn wrong_passwords_in_a_session_spend_its_devices_budget_not_the_accounts() {
    let app = spawn_app().await;
    let (email, access, device) = app.user_on_a_device().await;
    for _ in 0..5 {
        let (status, body) = app.change_password(&access, WRONG, NEW_PASSWORD).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    // The account is not locked for anyone else ...
    let (status, body) = app.device_login(&email, PASSWORD, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // ... and the device that failed five times is void.
    app.lock_from_elsewhere(&email).await;
    let (status, _) = app.device_login(&email, PASSWORD, Some(&device)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_password_reset_forgets_every_known_device() {
    let app = spawn_app().await;
    let (email, _, device) = app.user_on_a_device().await;
    let (status, _) = app.request_reset(&email).await;
    assert_eq!(status, StatusCode::OK);
    let token = app.reset_token(&email, 1).await;
    let (status, body) = app.confirm_reset(&token, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    remember_secret(NEW_PASSWORD);

    let statuses: Vec<StatusCode> = futures::future::join_all((0..30).map(|i| {
        let app = &app;
        let email = &email;
        async move {
            app.login_from(&format!("198.51.100.{i}"), email, WRONG)
                .await
                .0
        }
    }))
    .await;
    assert_eq!(count(&statuses, StatusCode::UNAUTHORIZED), 5);
    let (status, body) = app.device_login(&email, NEW_PASSWORD, Some(&device)).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "a device of before the reset has no budget of its own: {body}"
    );
}

#[tokio::test]
async fn a_password_change_keeps_the_callers_device_and_forgets_the_others() {
    let app = spawn_app().await;
    let (email, access, mine) = app.user_on_a_device().await;
    let (status, body) = app.device_login(&email, PASSWORD, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let other = body["data"]["device_token"].as_str().unwrap().to_owned();

    let (status, body) = app.change_password(&access, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.lock_from_elsewhere(&email).await;
    let (status, _) = app.device_login(&email, NEW_PASSWORD, Some(&other)).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the other device is forgotten"
    );
    let (status, body) = app.device_login(&email, NEW_PASSWORD, Some(&mine)).await;
    assert_eq!(status, StatusCode::OK, "the caller's device stays: {body}");
}

#[tokio::test]
async fn turning_the_new_device_alert_off_takes_the_password_and_mails_the_owner() {
    let app = spawn_app().await;
    let (email, access, _) = app.user_on_a_device().await;
    let (status, body) = app
        .put_alert_settings(&access, json!({ "new_device": false }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["password"].is_array(), "{body}");
    let (status, body) = app
        .put_alert_settings(&access, json!({ "new_device": false, "password": WRONG }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (_, body) = app.get_bearer("/api/v1/auth/alerts/", &access).await;
    assert_eq!(body["data"]["new_device"], json!(true), "still on: {body}");

    let (status, body) = app
        .put_alert_settings(
            &access,
            json!({ "new_device": false, "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mails = app
        .smtp
        .wait_for_subject(&email, ALERTS_OFF, 1, Duration::from_secs(10))
        .await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].text.contains("reset-password"),
        "{}",
        mails[0].text
    );
    // Turning it back on needs nothing, and mails nobody.
    let (status, body) = app
        .put_alert_settings(&access, json!({ "new_device": true }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let kinds = app.outbox().await;
    assert_eq!(
        kinds.iter().filter(|r| r.kind == "alerts_off").count(),
        1,
        "one mail for one change"
    );
}

#[tokio::test]
async fn with_2fa_on_turning_the_new_device_alert_off_takes_a_code_too() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let (status, body) = app
        .put_alert_settings(
            &user.access,
            json!({ "new_device": false, "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["totp_code"].is_array(), "{body}");
    let (status, body) = app
        .put_alert_settings(
            &user.access,
            json!({ "new_device": false, "password": PASSWORD, "totp_code": "000000" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let code = app.code_now(&user.secret);
    let (status, body) = app
        .put_alert_settings(
            &user.access,
            json!({ "new_device": false, "password": PASSWORD, "totp_code": code }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Four wrong passwords, a day of quiet, then two more: an account and an
/// address with no account answer alike (both counts were forgotten).
#[tokio::test]
async fn failure_counts_of_accounts_and_unknown_addresses_decay_alike() {
    let app = spawn_app().await;
    let (email, _, _) = app.user_on_a_device().await;
    let nobody = unique_email();
    for who in [&email, &nobody] {
        for _ in 0..4 {
            let (status, _) = app.login(who, WRONG).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    app.clock.advance_ms(24 * 3600 * 1000 + 1000);
    let mut answers = Vec::new();
    for who in [&email, &nobody] {
        let mut two = Vec::new();
        for _ in 0..2 {
            two.push(app.login(who, WRONG).await.0);
        }
        answers.push(two);
    }
    assert_eq!(answers[0], answers[1], "account and no account differ");
    assert_eq!(answers[0], vec![StatusCode::UNAUTHORIZED; 2]);
}

#[tokio::test]
async fn an_account_keeps_a_bounded_number_of_live_devices() {
    use actors::store::devices;
    let app = spawn_app().await;
    let (email, _, first) = app.user_on_a_device().await;
    let cap = devices::MAX_LIVE_PER_USER;
    for _ in 0..cap + 3 {
        let (status, body) = app.device_login(&email, PASSWORD, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let user = app.user(&email).await.unwrap();
    let live = devices::Entity::find()
        .filter(devices::Column::UserId.eq(user.id))
        .filter(devices::Column::RevokedAt.is_null())
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(live, cap);
    // The least recently used went first.
    app.lock_from_elsewhere(&email).await;
    let (status, _) = app.device_login(&email, PASSWORD, Some(&first)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
