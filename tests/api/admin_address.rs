//! An admin sets a user's address (`PATCH /api/v1/admin/users/{id}/` with
//! `email`): at once, the old address told without a link, every reset,
//! verification and pending address-change link of the user void, the new
//! address verified only when the admin says so (else mailed a
//! verification link), sessions kept; 409 for a taken address however the
//! race with a registration goes; the event and the webhook.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::admin::{admin_get, key, patch_user, user_id};
use crate::admin_create::{VERIFY_SUBJECT, WAIT, admin_events, token_in};
use crate::helpers::{PASSWORD, TestApp, assert_error, count, spawn_app, unique_email};

const NOTICE_SUBJECT: &str = "An administrator changed the email address of your account";
const CONFIRM_SUBJECT: &str = "Confirm your new email address";

async fn confirm_change(app: &TestApp, token: &str) -> StatusCode {
    let body = json!({ "token": token });
    app.post("/api/v1/auth/confirm-email-change/", &body)
        .await
        .0
}

#[tokio::test]
async fn a_new_address_is_set_at_once_and_every_link_in_the_old_mailbox_stops_working() {
    let app = spawn_app().await;
    let ops = key(&app, "ops", false).await;
    // Links a mailbox holds: a reset link, and a pending address change.
    let (old, access, refresh) = app.logged_in_user().await;
    let id = user_id(&app, &old).await;
    assert_eq!(app.request_reset(&old).await.0, StatusCode::OK);
    let reset = app.reset_token(&old, 1).await;
    let elsewhere = unique_email();
    let asked = json!({ "password": PASSWORD, "new_email": elsewhere });
    let (status, body) = app
        .post_bearer("/api/v1/auth/change-email/", &access, &asked)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let change = token_in(&app, &elsewhere, CONFIRM_SUBJECT, 1).await;

    let new = unique_email();
    let (status, body) = patch_user(&app, &ops, &id, &json!({ "email": new.to_uppercase() })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user = &body["data"]["user"];
    assert_eq!(user["email"], json!(new.to_uppercase()));
    assert_eq!(user["is_email_verified"], json!(false));
    // The old address is told, without a link.
    let notice = &app
        .smtp
        .wait_for_subject(&old, NOTICE_SUBJECT, 1, WAIT)
        .await[0];
    assert!(notice.text.starts_with("Hello Ada,"), "{}", notice.text);
    assert!(!notice.text.contains("token="), "{}", notice.text);
    assert!(!notice.html.contains("href"), "{}", notice.html);
    // The links in it, and the pending change, no longer work.
    let (status, body) = app.confirm_reset(&reset, "Another-Horse-43").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(confirm_change(&app, &change).await, StatusCode::BAD_REQUEST);
    // Sessions stay; the new address is unverified until its link is used.
    assert_eq!(app.verify_token(&access).await.0, StatusCode::OK);
    assert_eq!(app.refresh(&refresh).await.0, StatusCode::OK);
    assert_eq!(app.login(&old, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login(&new, PASSWORD).await.0, StatusCode::FORBIDDEN);
    let verify = token_in(&app, &new, VERIFY_SUBJECT, 1).await;
    assert_eq!(app.verify_email(&verify).await.0, StatusCode::OK);
    assert_eq!(app.login(&new, PASSWORD).await.0, StatusCode::OK);
    let events = admin_events(&app, &ops, &id).await;
    let changed = events.iter().find(|(k, _)| k == "email_changed");
    assert_eq!(
        changed.map(|(_, a)| a.clone()),
        Some(json!("admin:ops")),
        "{events:?}"
    );
}

#[tokio::test]
async fn the_verification_link_of_an_unverified_old_address_stops_working() {
    let app = spawn_app().await;
    let ops = key(&app, "ops", false).await;
    let old = unique_email();
    let token = app.register_and_get_token(&old).await;
    let id = user_id(&app, &old).await;
    let new = unique_email();
    let change = json!({ "email": new, "email_verified": true });
    let (status, body) = patch_user(&app, &ops, &id, &change).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["is_email_verified"], json!(true));
    let (status, body) = app.verify_email(&token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Verified by the admin: it logs in, and no link went to it. The
    // never-proved old address is told without the registrant's name.
    assert_eq!(app.login(&new, PASSWORD).await.0, StatusCode::OK);
    let mails = app
        .smtp
        .wait_for_subject(&old, NOTICE_SUBJECT, 1, WAIT)
        .await;
    assert!(mails[0].text.starts_with("Hello,"), "{}", mails[0].text);
    let to_new: Vec<String> = app
        .outbox()
        .await
        .into_iter()
        .filter(|m| m.recipient == new)
        .map(|m| m.kind)
        .collect();
    assert!(to_new.is_empty(), "{to_new:?}");
}

#[tokio::test]
async fn a_taken_or_bad_address_changes_nothing() {
    let app = spawn_app().await;
    let ops = key(&app, "ops", false).await;
    let (email, _, _) = app.logged_in_user().await;
    let id = user_id(&app, &email).await;
    let (taken, _, _) = app.logged_in_user().await;
    let change = json!({ "email": taken.to_uppercase(), "first_name": "Changed" });
    let (status, body) = patch_user(&app, &ops, &id, &change).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, 409, "Conflict");
    assert!(body["errors"]["email"].is_array(), "{body}");
    let (status, body) = patch_user(&app, &ops, &id, &json!({ "email": "not an address" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["email"].is_array(), "{body}");
    let (_, body) = admin_get(&app, &ops, &format!("/api/v1/admin/users/{id}/")).await;
    assert_eq!(body["data"]["user"]["email"], json!(email));
    assert_eq!(body["data"]["user"]["first_name"], json!("Ada"));
    // The same address (normalised) is no change and no event.
    let (status, _) = patch_user(&app, &ops, &id, &json!({ "email": email.to_uppercase() })).await;
    assert_eq!(status, StatusCode::OK);
    let events = admin_events(&app, &ops, &id).await;
    assert!(
        !events.iter().any(|(k, _)| k == "email_changed"),
        "{events:?}"
    );
    assert!(
        !app.outbox()
            .await
            .iter()
            .any(|m| m.kind == "email_changed_by_admin"),
        "nothing was mailed"
    );
    // A read-only key changes nothing either.
    let reader = key(&app, "reader", true).await;
    let (status, _) = patch_user(&app, &reader, &id, &json!({ "email": unique_email() })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Rounds of an admin moving a user to an address that a registration
/// races for: exactly one gets it, never a 500.
#[tokio::test]
async fn an_address_change_racing_a_registration_leaves_one_account_with_the_address() {
    let app = spawn_app().await;
    let ops = key(&app, "ops", false).await;
    let (email, _, _) = app.logged_in_user().await;
    let id = user_id(&app, &email).await;
    for round in 0..4 {
        let wanted = unique_email();
        let (change, upper) = (json!({ "email": wanted }), wanted.to_uppercase());
        let (patched, registered) =
            tokio::join!(patch_user(&app, &ops, &id, &change), app.register(&upper));
        let statuses = [patched.0, registered.0];
        assert_eq!(
            count(&statuses, StatusCode::CONFLICT),
            1,
            "{round}: {patched:?} {registered:?}"
        );
        let rows = actors::store::users::Entity::find()
            .filter(actors::store::users::Column::EmailNormalized.eq(wanted.clone()))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{round}");
        let moved = rows[0].id.to_string() == id;
        assert_eq!(moved, patched.0 == StatusCode::OK, "{round}");
    }
}

#[tokio::test]
async fn an_admins_address_change_is_sent_as_user_email_changed() {
    use crate::webhooks::{Receiver, app_with, new_secret};
    let receiver = Receiver::start().await;
    let secret = new_secret();
    let app = app_with(&receiver, &[&secret], jobs::webhooks::Subscription::All).await;
    let ops = key(&app, "ops", false).await;
    let (email, _, _) = app.logged_in_user().await;
    let id = user_id(&app, &email).await;
    let new = unique_email();
    let change = json!({ "email": new, "email_verified": true });
    assert_eq!(patch_user(&app, &ops, &id, &change).await.0, StatusCode::OK);
    let started = Instant::now();
    let got = loop {
        let got = receiver.of_type("user.email_changed");
        if !got.is_empty() || started.elapsed() > WAIT {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(got.len(), 1, "{got:#?}");
    let event = got[0].json();
    assert_eq!(event["data"]["user_id"], json!(id), "{event}");
    assert_eq!(event["data"]["user"]["email"], json!(new));
    assert_eq!(event["data"]["user"]["is_email_verified"], json!(true));
}
