//! An admin mails a user a reset link
//! (`POST /api/v1/admin/users/{id}/send-password-reset/`): the mail of the
//! user's own request, earlier links void, outside the per-address mail
//! budget, refused for a disabled account; the event with its actor.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::admin::{admin_send, key, patch_user, user_id};
use crate::admin_create::admin_events;
use crate::helpers::{PASSWORD, TestApp, assert_error, builder, spawn_app};

async fn send_reset(app: &TestApp, key: &str, id: &str) -> (StatusCode, serde_json::Value) {
    let path = format!("/api/v1/admin/users/{id}/send-password-reset/");
    admin_send(app, Method::POST, key, &path, None).await
}

#[tokio::test]
async fn the_user_gets_the_reset_mail_of_their_own_request_and_earlier_links_die() {
    // One mail an hour per address: the public endpoint's budget.
    let app = builder()
        .settings(|s| s.mail_per_recipient_per_hour = 1)
        .spawn()
        .await;
    let ops = key(&app, "support-desk", false).await;
    let (email, access, _) = app.logged_in_user().await;
    let id = user_id(&app, &email).await;
    assert_eq!(app.request_reset(&email).await.0, StatusCode::OK);
    let own = app.reset_token(&email, 1).await;
    // The budget is spent; the admin's request is not counted in it.
    let (status, body) = send_reset(&app, &ops, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));
    assert!(body["data"].is_null(), "{body}");
    let sent = app.reset_token(&email, 2).await;
    let mails = app.smtp.mails_to(&email);
    let last = mails.last().unwrap();
    assert!(last.text.contains("Hello Ada"), "{}", last.text);
    assert!(last.text.contains("24 hours"), "{}", last.text);
    // The earlier link is void; the new one works, as a reset does.
    let (status, _) = app.confirm_reset(&own, "Another-Horse-43").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = app.confirm_reset(&sent, "Another-Horse-43").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.login(&email, "Another-Horse-43").await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.login(&email, PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.verify_token(&access).await.0, StatusCode::UNAUTHORIZED);
    let events = admin_events(&app, &ops, &id).await;
    let by_admin: Vec<_> = events
        .iter()
        .filter(|(k, a)| k == "reset_requested" && *a == json!("admin:support-desk"))
        .collect();
    assert_eq!(by_admin.len(), 1, "{events:?}");
    let own_request = events
        .iter()
        .filter(|(k, a)| k == "reset_requested" && a.is_null())
        .count();
    assert_eq!(own_request, 1, "{events:?}");
}

#[tokio::test]
async fn a_disabled_user_is_409_an_unknown_one_404_and_keys_are_checked() {
    let app = spawn_app().await;
    let ops = key(&app, "ops", false).await;
    let (email, _, _) = app.logged_in_user().await;
    let id = user_id(&app, &email).await;
    let (status, _) = patch_user(&app, &ops, &id, &json!({ "disabled": true })).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send_reset(&app, &ops, &id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, 409, "Conflict");
    assert_eq!(body["message"], json!("Account disabled"));
    let nobody = uuid::Uuid::new_v4().to_string();
    for unknown in [nobody.as_str(), "not-an-id"] {
        let (status, body) = send_reset(&app, &ops, unknown).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_error(&body, 404, "Not found");
    }
    let (status, _) = patch_user(&app, &ops, &id, &json!({ "disabled": false })).await;
    assert_eq!(status, StatusCode::OK);
    let reader = key(&app, "reader", true).await;
    let (status, body) = send_reset(&app, &reader, &id).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = send_reset(&app, "adm_nonsense", &id).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/admin/users/{id}/send-password-reset/")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let queued = app.outbox().await;
    assert!(
        !queued.iter().any(|m| m.kind == "password_reset"),
        "no reset mail was queued"
    );
}
