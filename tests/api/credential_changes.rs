//! A password or factor change ends every login in flight: the credential
//! version. Races are made deterministic with the pause point between an
//! attempt's check and the start of its session.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, assert_error, spawn_app};

const NEW_PASSWORD: &str = "Another-Horse-77";

/// Sets the password to `NEW_PASSWORD` with an emailed reset token.
async fn reset(app: &TestApp, token: &str) {
    let (status, body) = app.confirm_reset(token, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn reset_token_for(app: &TestApp, email: &str) -> String {
    let (status, _) = app.request_reset(email).await;
    assert_eq!(status, StatusCode::OK);
    app.reset_token(email, 1).await
}

#[tokio::test]
async fn a_password_login_checked_before_a_reset_does_not_start_a_session() {
    let app = spawn_app().await;
    let (email, _, _) = app.logged_in_user().await;
    let token = reset_token_for(&app, &email).await;

    let pause = app.hooks.before_session_start.clone();
    pause.arm();
    let login = app.login(&email, PASSWORD);
    let meddle = async {
        pause.reached().await;
        reset(&app, &token).await;
        pause.resume();
    };
    let ((status, body), ()) = tokio::join!(login, meddle);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_error(&body, 401, "Unauthorized");
    assert_eq!(body["message"], json!("Invalid email or password"));

    let (status, body) = app.login(&email, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_second_step_checked_before_a_reset_does_not_start_a_session() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let token = reset_token_for(&app, &user.email).await;
    let mfa_token = app.mfa_token(&user.email).await;
    let code = app.code_now(&user.secret);

    let pause = app.hooks.before_session_start.clone();
    pause.arm();
    let verify = app.mfa_verify(&mfa_token, &code);
    let meddle = async {
        pause.reached().await;
        reset(&app, &token).await;
        pause.resume();
    };
    let ((status, body), ()) = tokio::join!(verify, meddle);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["data"]["token"].is_null(), "{body}");
}

#[tokio::test]
async fn a_reset_voids_an_open_mfa_token() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let token = reset_token_for(&app, &user.email).await;
    // Someone with the old password has started the second step.
    let mfa_token = app.mfa_token(&user.email).await;
    reset(&app, &token).await;

    let (status, body) = app
        .mfa_verify(&mfa_token, &app.code_now(&user.secret))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = app.recover(&mfa_token, &user.backup_codes[0]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn a_password_change_voids_an_open_mfa_token() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let mfa_token = app.mfa_token(&user.email).await;
    let (status, body) = app
        .change_password(&user.access, PASSWORD, NEW_PASSWORD)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = app
        .mfa_verify(&mfa_token, &app.code_now(&user.secret))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn a_login_checked_while_2fa_is_turned_on_elsewhere_needs_the_second_factor() {
    let a = spawn_app().await;
    let b = a.second_node().await;
    let (email, access, _) = a.logged_in_user().await;
    let (status, body) = a.enable_mfa(&access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = body["data"]["secret_key"].as_str().unwrap().to_owned();

    // The login on A has its password checked while 2FA is still off; the
    // setup is confirmed on B before A starts the session.
    let pause = a.hooks.before_session_start.clone();
    pause.arm();
    let login = a.login(&email, PASSWORD);
    let meddle = async {
        pause.reached().await;
        let (status, body) = b.confirm_mfa(&access, &b.code_now(&secret)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pause.resume();
    };
    let ((status, body), ()) = tokio::join!(login, meddle);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["data"]["token"].is_null(), "{body}");

    let (status, body) = a.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["mfa_required"], json!(true), "{body}");
}

#[tokio::test]
async fn a_login_checked_before_a_password_change_elsewhere_does_not_start_a_session() {
    let a = spawn_app().await;
    let b = a.second_node().await;
    let (email, access, _) = a.logged_in_user().await;

    let pause = a.hooks.before_session_start.clone();
    pause.arm();
    let login = a.login(&email, PASSWORD);
    let meddle = async {
        pause.reached().await;
        let (status, body) = b.change_password(&access, PASSWORD, NEW_PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pause.resume();
    };
    let ((status, body), ()) = tokio::join!(login, meddle);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // The caller of the change keeps its session.
    let (status, body) = a.verify_token(&access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Two sessions of one 2FA-less user: (email, caller's access, other's
/// access, other's refresh).
async fn two_sessions(app: &TestApp) -> (String, String, String, String) {
    let (email, access, _) = app.logged_in_user().await;
    let (other_access, other_refresh) = app.tokens_for(&email, PASSWORD).await;
    (email, access, other_access, other_refresh)
}

async fn assert_signed_out(app: &TestApp, access: &str, refresh: &str) {
    let (status, body) = app.verify_token(access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = app.refresh(refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn turning_2fa_on_ends_every_other_session_and_keeps_the_callers() {
    let app = spawn_app().await;
    let (_, access, other_access, other_refresh) = two_sessions(&app).await;
    let (status, body) = app.enable_mfa(&access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = body["data"]["secret_key"].as_str().unwrap().to_owned();
    // A setup that is only pending changes nothing yet.
    let (status, _) = app.verify_token(&other_access).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = app.confirm_mfa(&access, &app.code_now(&secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_signed_out(&app, &other_access, &other_refresh).await;
    let (status, body) = app.verify_token(&access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn turning_2fa_off_and_new_backup_codes_end_every_other_session() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    for path in ["/api/v1/2fa/backup-codes", "/api/v1/2fa/disable"] {
        // A second session, through the second step.
        let mfa_token = app.mfa_token(&user.email).await;
        let (status, body) = app
            .mfa_verify(&mfa_token, &app.code_now(&user.secret))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let other_access = body["data"]["token"].as_str().unwrap().to_owned();
        let other_refresh = body["data"]["refresh_token"].as_str().unwrap().to_owned();
        app.next_step();

        let (status, body) = app
            .post_bearer(
                path,
                &user.access,
                &json!({ "password": PASSWORD, "totp_code": app.code_now(&user.secret) }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        app.next_step();
        assert_signed_out(&app, &other_access, &other_refresh).await;
        let (status, body) = app.verify_token(&user.access).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
}

#[tokio::test]
async fn a_reset_link_is_not_an_oracle_for_the_current_password() {
    let app = spawn_app().await;
    let (email, _, _) = app.logged_in_user().await;
    let token = reset_token_for(&app, &email).await;
    // Setting the current password again is allowed (no "must differ"
    // answer that would tell a link holder the current password) and uses
    // the token.
    let (status, body) = app.confirm_reset(&token, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.confirm_reset(&token, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
