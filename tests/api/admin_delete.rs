//! An admin deletes a user (`DELETE /api/v1/admin/users/{id}/`): exactly
//! the user's own deletion, without re-authentication, its one remaining
//! event carrying the admin as `actor`.

use std::time::Duration;

use jobs::webhooks::Subscription;
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::account_deletion::{
    race_logins_and_refreshes, refused_here_at_once_and_there_within_a_second,
};
use crate::admin::{admin_get, admin_send, key, user_id};
use crate::helpers::{
    PASSWORD, TestApp, assert_error, count, parallel_statuses, remember_secret, spawn_app,
    unique_email,
};
use crate::webhooks::{Receiver, app_with, new_secret, verify_with_python};

async fn delete_user(app: &TestApp, key: &str, id: &str) -> (StatusCode, Value) {
    let path = format!("/api/v1/admin/users/{id}/");
    admin_send(app, Method::DELETE, key, &path, None).await
}

/// The `account_deleted` events stored of `id`.
async fn deletion_events(app: &TestApp, id: &str) -> Vec<actors::store::audit_events::Model> {
    use actors::store::audit_events::{Column, Entity};
    let id = actors::UserId(id.parse().unwrap());
    Entity::find()
        .filter(Column::UserId.eq(id))
        .filter(Column::Kind.eq("account_deleted"))
        .all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_deletes_a_user_as_its_own_deletion_does_with_the_admin_as_actor() {
    let receiver = Receiver::start().await;
    let secret = new_secret();
    let app = app_with(&receiver, &[&secret], Subscription::All).await;
    let ops = key(&app, "ops", false).await;
    let email = unique_email();
    // Failures for the address before it had an account.
    assert_eq!(
        app.login(&email, "Wrong-Password-9").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.count_all("address_failures").await, 1);
    app.verified_user(&email).await;
    let (access, _) = app.tokens_for(&email, PASSWORD).await;
    app.add_passkey(&access, "Laptop").await;
    // A 2FA setup left pending (a secret and backup codes), a reset link.
    assert_eq!(app.enable_mfa(&access).await.0, StatusCode::OK);
    assert_eq!(app.request_reset(&email).await.0, StatusCode::OK);
    let id = user_id(&app, &email).await;
    let uuid: uuid::Uuid = id.parse().unwrap();
    let before = app.rows_of(uuid).await;
    for table in [
        "backup_codes",
        "devices",
        "mfa_secrets",
        "passkeys",
        "refresh_tokens",
        "sessions",
    ] {
        assert!(
            before.iter().any(|(t, n)| t == table && *n > 0),
            "{table}: nothing to delete, the test proves nothing: {before:?}"
        );
    }

    let (status, body) = delete_user(&app, &ops, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], json!("User deleted"), "{body}");

    assert!(app.user(&email.to_lowercase()).await.is_none());
    for (table, n) in app.rows_of(uuid).await {
        match table.as_str() {
            "audit_events" => assert_eq!(n, 1, "one event stays"),
            "email_outbox" | "webhook_deliveries" => assert!(n > 0, "{table}"),
            other => assert_eq!(n, 0, "{other} keeps rows of the deleted user"),
        }
    }
    assert_eq!(app.count_all("address_failures").await, 0);
    let events = deletion_events(&app, &id).await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.actor.as_deref(), Some("admin:ops"));
    assert_eq!(
        (&event.ip, &event.user_agent, &event.request_id),
        (&None, &None, &None),
        "nothing of the client"
    );
    // The admin sees it in everyone's events; the user is gone.
    let (status, body) = admin_get(&app, &ops, "/api/v1/admin/events/?kind=account_deleted").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["user_id"] == json!(id) && e["actor"] == json!("admin:ops")),
        "{body}"
    );
    let (status, _) = admin_get(&app, &ops, &format!("/api/v1/admin/users/{id}/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let mail = app.notice(&email, "Your account was deleted", 1).await;
    assert!(mail.text.contains("by an administrator"), "{}", mail.text);
    assert!(!mail.text.contains("http"), "{}", mail.text);
    assert!(!mail.html.contains("href"), "{}", mail.html);

    let got = receiver
        .wait_for_type("user.deleted", Duration::from_secs(10))
        .await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let hook = got[0].json();
    assert_eq!(hook["data"]["user_id"], json!(id), "{hook}");
    assert!(hook["data"].get("user").is_none(), "{hook}");
    verify_with_python(&secret, &got);
}

#[tokio::test]
async fn an_admins_deletion_refuses_every_token_on_both_nodes_within_a_second() {
    let a = spawn_app().await;
    let b = a.second_node().await;
    let ops = key(&a, "ops", false).await;
    let email = unique_email();
    a.verified_user(&email).await;
    let (access, refresh) = a.tokens_for(&email, PASSWORD).await;
    let (other_access, _) = b.tokens_for(&email, PASSWORD).await;
    for token in [&access, &other_access] {
        assert_eq!(b.verify_token(token).await.0, StatusCode::OK);
        assert_eq!(a.verify_token(token).await.0, StatusCode::OK);
    }
    let id = user_id(&a, &email).await;
    let (status, body) = delete_user(&a, &ops, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    refused_here_at_once_and_there_within_a_second(&a, &b, &[&access, &other_access]).await;
    assert_eq!(b.refresh(&refresh).await.0, StatusCode::UNAUTHORIZED);
    // The address is unknown again: it registers anew.
    assert_eq!(a.register(&email).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn deleting_needs_a_write_key_and_an_unknown_id_is_404() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let id = user_id(&app, &email).await;
    refused_without_a_write_key_or_a_known_user(&app, Method::DELETE, "", &id, &access).await;
    assert!(app.user(&email).await.is_some());
    assert_eq!(app.verify_token(&access).await.0, StatusCode::OK);
}

/// The admin write `method` on `/api/v1/admin/users/{id}/{action}`: 401
/// with the user's `access` token, an unknown key, a malformed one or
/// none; 403 with a read-only key; 404 (with a right key) for an unknown
/// id or one that is not a UUID. Makes the keys `ops` and `reader`.
pub(crate) async fn refused_without_a_write_key_or_a_known_user(
    app: &TestApp,
    method: Method,
    action: &str,
    id: &str,
    access: &str,
) {
    let ops = key(app, "ops", false).await;
    let reader = key(app, "reader", true).await;
    let path = |id: &str| format!("/api/v1/admin/users/{id}/{action}");
    let unknown = format!("adm_{}", "A".repeat(43));
    remember_secret(&unknown);
    for bad in [access, unknown.as_str(), "nonsense"] {
        let (status, body) = admin_send(app, method.clone(), bad, &path(id), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}: {body}");
        assert_error(&body, 401, "Unauthorized");
    }
    let resp = app
        .client
        .request(method.clone(), app.url(&path(id)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "no key");
    let (status, body) = admin_send(app, method.clone(), &reader, &path(id), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error(&body, 403, "Forbidden");
    for nobody in [uuid::Uuid::new_v4().to_string(), "not-an-id".to_owned()] {
        let (status, body) = admin_send(app, method.clone(), &ops, &path(&nobody), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{nobody}: {body}");
        assert_error(&body, 404, "Not found");
    }
}

#[tokio::test]
async fn parallel_admin_deletions_of_one_user_give_one_200_and_404s() {
    let app = spawn_app().await;
    let ops = key(&app, "ops", false).await;
    let (email, _, _) = app.logged_in_user().await;
    let id = user_id(&app, &email).await;
    let statuses = parallel_statuses((0..8).map(|_| delete_user(&app, &ops, &id))).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::NOT_FOUND), 7, "{statuses:?}");
    assert!(app.user(&email).await.is_none());
    assert_eq!(deletion_events(&app, &id).await.len(), 1, "one event");
    let mails = app.outbox().await;
    assert_eq!(
        mails.iter().filter(|r| r.kind == "account_deleted").count(),
        1,
        "one mail"
    );
}

#[tokio::test]
async fn an_admins_deletion_racing_the_users_logins_and_refreshes_leaves_no_session() {
    let app = spawn_app().await;
    let ops = key(&app, "ops", false).await;
    let email = unique_email();
    app.verified_user(&email).await;
    let id = user_id(&app, &email).await;
    race_logins_and_refreshes(&app, &email, delete_user(&app, &ops, &id)).await;
}
