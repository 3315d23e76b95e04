//! An admin resets a user's second factors
//! (`POST /api/v1/admin/users/{id}/reset-mfa/`): TOTP, backup codes and
//! passkeys removed in one credential change, events by the admin, the
//! owner mailed.

use std::time::Duration;

use jobs::webhooks::Subscription;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::admin::{admin_send, key, user_id};
use crate::admin_create::admin_events;
use crate::admin_delete::refused_without_a_write_key_or_a_known_user;
use crate::helpers::{PASSWORD, TestApp, parallel_statuses, spawn_app, tokens_of};
use crate::webhooks::{Receiver, app_with, new_secret, verify_with_python};

const SUBJECT: &str = "An administrator reset your sign-in factors";

async fn reset_mfa(app: &TestApp, key: &str, id: &str) -> (StatusCode, Value) {
    let path = format!("/api/v1/admin/users/{id}/reset-mfa/");
    admin_send(app, Method::POST, key, &path, None).await
}

/// The kinds of `id`'s events made by `actor`, newest first.
async fn kinds_by(app: &TestApp, key: &str, id: &str, actor: &str) -> Vec<String> {
    admin_events(app, key, id)
        .await
        .into_iter()
        .filter(|(_, by)| *by == json!(actor))
        .map(|(kind, _)| kind)
        .collect()
}

/// How many `mfa_disabled` mails the outbox holds.
async fn mfa_mails(app: &TestApp) -> usize {
    let rows = app.outbox().await;
    rows.iter().filter(|r| r.kind == "mfa_disabled").count()
}

#[tokio::test]
async fn a_reset_removes_totp_backup_codes_and_passkeys_and_the_password_alone_then_logs_in() {
    let receiver = Receiver::start().await;
    let secret = new_secret();
    let app = app_with(&receiver, &[&secret], Subscription::All).await;
    let ops = key(&app, "ops", false).await;
    let user = app.mfa_user().await;
    let (mut laptop, _) = app.add_mfa_passkey(&user, "Laptop").await;
    app.add_mfa_passkey(&user, "Phone").await;
    let id = user_id(&app, &user.email).await;

    let (status, body) = reset_mfa(&app, &ops, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view = &body["data"]["user"];
    assert_eq!(view["id"], json!(id), "{body}");
    assert_eq!(view["mfa_enabled"], json!(false), "{body}");
    assert_eq!(view["passkeys"], json!(0), "{body}");
    assert_eq!(view["sessions"], json!(0), "a credential change: {body}");
    assert_eq!(
        app.verify_token(&user.access).await.0,
        StatusCode::UNAUTHORIZED
    );
    let rows = app.rows_of(id.parse().unwrap()).await;
    for table in ["mfa_secrets", "backup_codes", "passkeys"] {
        assert!(
            rows.iter().any(|(t, n)| t == table && *n == 0),
            "{table}: {rows:?}"
        );
    }

    // Events by the admin: TOTP off, and one per passkey.
    let mut kinds = kinds_by(&app, &ops, &id, "admin:ops").await;
    kinds.sort();
    assert_eq!(
        kinds,
        ["mfa_disabled", "passkey_removed", "passkey_removed"],
        "{kinds:?}"
    );
    let got = receiver
        .wait_for_type("user.mfa_disabled", Duration::from_secs(10))
        .await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let hook = got[0].json();
    assert_eq!(hook["data"]["user_id"], json!(id), "{hook}");
    assert_eq!(hook["data"]["user"]["mfa_enabled"], json!(false), "{hook}");
    verify_with_python(&secret, &got);
    let mail = app.notice(&user.email, SUBJECT, 1).await;
    assert!(mail.text.contains("An administrator"), "{}", mail.text);
    assert!(!mail.text.contains("token="), "{}", mail.text);

    // The passkey no longer logs in; the password alone does.
    let (status, _) = app.passkey_login(&mut laptop, Some(&user.email)).await;
    assert_ne!(status, StatusCode::OK, "a removed passkey logged in");
    let (status, body) = app.login(&user.email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["mfa_token"].is_null(), "a second step: {body}");
    let (access, _) = tokens_of(&body);
    // And 2FA can be turned on again.
    let (status, body) = app.enable_mfa(&access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let again = body["data"]["secret_key"].as_str().unwrap().to_owned();
    let (status, body) = app.confirm_mfa(&access, &app.code_now(&again)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.next_step();
    app.mfa_token(&user.email).await;
}

#[tokio::test]
async fn a_login_halfway_through_its_second_step_cannot_finish_after_a_reset() {
    let app = spawn_app().await;
    let ops = key(&app, "ops", false).await;
    let user = app.mfa_user().await;
    let by_code = app.mfa_token(&user.email).await;
    let by_backup = app.mfa_token(&user.email).await;
    let id = user_id(&app, &user.email).await;
    let open = || async {
        app.count_where(
            "SELECT count(*) AS n FROM mfa_challenges WHERE user_id = $1 AND used_at IS NULL",
            id.parse().unwrap(),
        )
        .await
    };
    assert_eq!(open().await, 2);
    let (status, body) = reset_mfa(&app, &ops, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Voided (not merely unanswerable now that the factors are gone).
    assert_eq!(open().await, 0, "an mfa_token outlives the reset");
    let (status, body) = app.mfa_verify(&by_code, &app.code_now(&user.secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["data"]["token"].is_null(), "{body}");
    let (status, body) = app.recover(&by_backup, &user.backup_codes[0]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["data"]["token"].is_null(), "{body}");
}

#[tokio::test]
async fn a_user_with_nothing_to_reset_is_left_as_it_is_without_event_or_mail() {
    let app = spawn_app().await;
    let ops = key(&app, "ops", false).await;
    let (email, access, refresh) = app.logged_in_user().await;
    let id = user_id(&app, &email).await;
    let (status, body) = reset_mfa(&app, &ops, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["mfa_enabled"], json!(false), "{body}");
    assert_eq!(body["data"]["user"]["sessions"], json!(1), "{body}");
    assert!(kinds_by(&app, &ops, &id, "admin:ops").await.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mfa_mails(&app).await, 0);
    assert_eq!(app.verify_token(&access).await.0, StatusCode::OK);
    assert_eq!(app.refresh(&refresh).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_passkey_only_user_loses_its_passkeys_without_an_mfa_disabled_event_or_webhook() {
    let receiver = Receiver::start().await;
    let secret = new_secret();
    let app = app_with(&receiver, &[&secret], Subscription::All).await;
    let ops = key(&app, "ops", false).await;
    let (email, access, _) = app.logged_in_user().await;
    app.add_passkey(&access, "Laptop").await;
    let id = user_id(&app, &email).await;
    let (status, body) = reset_mfa(&app, &ops, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["passkeys"], json!(0), "{body}");
    assert_eq!(
        kinds_by(&app, &ops, &id, "admin:ops").await,
        ["passkey_removed"]
    );
    app.notice(&email, SUBJECT, 1).await;
    let queued = jobs::webhooks::deliveries::all(&app.db).await.unwrap();
    assert!(
        queued.iter().all(|d| d.r#type != "user.mfa_disabled"),
        "{queued:#?}"
    );
}

#[tokio::test]
async fn parallel_resets_of_one_user_remove_once_with_one_event_and_one_mail() {
    let app = spawn_app().await;
    let ops = key(&app, "ops", false).await;
    let user = app.mfa_user().await;
    let id = user_id(&app, &user.email).await;
    let statuses = parallel_statuses((0..6).map(|_| reset_mfa(&app, &ops, &id))).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(
        kinds_by(&app, &ops, &id, "admin:ops").await,
        ["mfa_disabled"]
    );
    app.notice(&user.email, SUBJECT, 1).await;
    assert_eq!(mfa_mails(&app).await, 1);
}

#[tokio::test]
async fn resetting_needs_a_write_key_and_an_unknown_id_is_404() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let id = user_id(&app, &user.email).await;
    refused_without_a_write_key_or_a_known_user(
        &app,
        Method::POST,
        "reset-mfa/",
        &id,
        &user.access,
    )
    .await;
    // Nothing changed: 2FA is still on.
    assert!(app.user(&user.email).await.unwrap().mfa_enabled);
    app.mfa_token(&user.email).await;
}
