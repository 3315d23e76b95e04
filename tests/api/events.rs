//! The audit trail: security events written with the change they record,
//! and `GET /auth/events/` listing the caller's own, newest first, a page
//! at a time.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, read, spawn_app, unique_email};

async fn events(app: &TestApp, access: &str, query: &str) -> (StatusCode, Value) {
    app.get_bearer(&format!("/api/v1/auth/events/{query}"), access)
        .await
}

/// Every event of the caller, newest first (at most 100).
pub async fn kinds(app: &TestApp, access: &str) -> Vec<String> {
    let (status, body) = events(app, access, "?limit=100").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["next_before"].is_null(), "{body}");
    body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_users_story_is_told_newest_first_with_the_client_of_each_step() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    assert_eq!(
        app.login(&email, "Wrong-Passw0rd").await.0,
        StatusCode::UNAUTHORIZED
    );
    let resp = app
        .client
        .post(app.url("/api/v1/auth/login/"))
        .header("x-forwarded-for", "2001:db8::7")
        .header("user-agent", "Firefox/140")
        .header("x-request-id", "audit-login-1")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (access, refresh) = crate::helpers::tokens_of(&body);
    let (status, body) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The old refresh token again: reuse, the session ends.
    assert_eq!(app.refresh(&refresh).await.0, StatusCode::UNAUTHORIZED);
    let (access2, _) = app.tokens_for(&email, PASSWORD).await;
    assert_eq!(app.logout(&access2, None).await.0, StatusCode::OK);
    let (access3, _) = app.tokens_for(&email, PASSWORD).await;
    assert_eq!(app.verify_token(&access).await.0, StatusCode::UNAUTHORIZED);

    assert_eq!(
        kinds(&app, &access3).await,
        [
            "login_succeeded",
            "device_trusted",
            "logged_out",
            "login_succeeded",
            "device_trusted",
            "refresh_reuse_detected",
            "login_succeeded",
            "device_trusted",
            "login_failed",
            "email_verified",
            "registered",
        ]
    );
    let (_, body) = events(&app, &access3, "").await;
    let login = body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ip"] == "2001:db8::7")
        .expect("the login from 2001:db8::7")
        .clone();
    assert_eq!(login["kind"], "login_succeeded");
    assert_eq!(login["user_agent"], "Firefox/140");
    assert!(chrono::DateTime::parse_from_rfc3339(login["at"].as_str().unwrap()).is_ok());
    // The row keeps the request id, to find the request's log lines.
    let id: uuid::Uuid = login["id"].as_str().unwrap().parse().unwrap();
    let row = actors::store::audit_events::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.request_id.as_deref(), Some("audit-login-1"));
}

#[tokio::test]
async fn failures_that_lock_the_account_say_so_once() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    for _ in 0..5 {
        assert_eq!(
            app.login(&email, "Wrong-Passw0rd").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // Locked: refused unchecked, no event.
    assert_eq!(
        app.login(&email, PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock.advance_ms(61_000);
    let (access, _) = app.tokens_for(&email, PASSWORD).await;
    let kinds = kinds(&app, &access).await;
    let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
    assert_eq!(count("login_failed"), 5, "{kinds:?}");
    assert_eq!(count("account_locked"), 1, "{kinds:?}");
    assert_eq!(count("login_succeeded"), 1, "{kinds:?}");
}

#[tokio::test]
async fn password_and_2fa_changes_are_events() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    // A wrong code, then a backup code.
    let token = app.mfa_token(&user.email).await;
    assert_eq!(
        app.mfa_verify(&token, "000000").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = app.recover(&token, &user.backup_codes[0]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post_bearer(
            "/api/v1/2fa/backup-codes",
            &user.access,
            &json!({ "password": PASSWORD, "totp_code": app.code_now(&user.secret) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.next_step();
    let (status, body) = app
        .post_bearer(
            "/api/v1/2fa/disable",
            &user.access,
            &json!({ "password": PASSWORD, "totp_code": app.code_now(&user.secret) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .change_password(&user.access, PASSWORD, "Another-Horse-43")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let kinds = kinds(&app, &user.access).await;
    let newest: Vec<&str> = kinds.iter().take(7).map(String::as_str).collect();
    assert_eq!(
        newest,
        [
            "password_changed",
            "mfa_disabled",
            "backup_codes_renewed",
            "login_succeeded",
            "device_trusted",
            "backup_code_used",
            "mfa_failed",
        ],
        "{kinds:?}"
    );
    assert!(kinds.contains(&"mfa_enabled".to_owned()), "{kinds:?}");
}

#[tokio::test]
async fn a_reset_is_requested_then_completed() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    app.request_reset(&email).await;
    let token = app.reset_token(&email, 1).await;
    let (status, body) = app.confirm_reset(&token, "Another-Horse-43").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (access, _) = app.tokens_for(&email, "Another-Horse-43").await;
    let kinds = kinds(&app, &access).await;
    assert_eq!(
        &kinds[2..4],
        ["reset_completed", "reset_requested"],
        "{kinds:?}"
    );
}

#[tokio::test]
async fn pages_follow_each_other_without_gaps_or_repeats_and_bad_queries_are_400() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    for _ in 0..3 {
        assert_eq!(
            app.login(&email, "Wrong-Passw0rd").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (access, _) = app.tokens_for(&email, PASSWORD).await;
    let all = kinds(&app, &access).await;
    assert_eq!(all.len(), 7, "{all:?}");
    let mut seen = Vec::new();
    let mut ids = std::collections::HashSet::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let (status, body) = events(&app, &access, &query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["data"]["events"].as_array().unwrap();
        assert!(page.len() <= 2);
        for e in page {
            assert!(ids.insert(e["id"].as_str().unwrap().to_owned()), "repeated");
            seen.push(e["kind"].as_str().unwrap().to_owned());
        }
        match body["data"]["next_before"].as_str() {
            Some(next) => query = format!("?limit=2&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen, all);
    for bad in [
        "?limit=0",
        "?limit=101",
        "?limit=x",
        "?before=nope",
        "?before=%00",
    ] {
        let (status, body) = events(&app, &access, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["success"], false);
    }
    assert_eq!(
        events(&app, "not.a.token", "").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_user_sees_only_their_own_events() {
    let app = spawn_app().await;
    let (victim_email, _, _) = app.logged_in_user().await;
    assert_eq!(
        app.login(&victim_email, "Wrong-Passw0rd").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (mine, _) = app.logged_in().await;
    let kinds = kinds(&app, &mine).await;
    assert!(!kinds.contains(&"login_failed".to_owned()), "{kinds:?}");
    // And the database holds the victim's, under the victim's id.
    let victim = app.user(&victim_email).await.unwrap();
    let rows = actors::store::audit_events::Entity::find()
        .filter(actors::store::audit_events::Column::UserId.eq(victim.id))
        .all(&app.db)
        .await
        .unwrap();
    assert!(rows.iter().any(|r| r.kind == "login_failed"));
}

#[tokio::test]
async fn the_right_password_of_a_disabled_account_gets_403_and_is_recorded() {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    let user = app.user(&email).await.unwrap();
    let mut row: actors::store::users::ActiveModel = user.clone().into();
    row.is_active = Set(false);
    row.update(&app.db).await.unwrap();
    let (status, body) = app.login(&email, PASSWORD).await;
    let (wrong, wrong_body) = app.login(&email, "Wrong-Passw0rd").await;
    // API.md: 403 `Account disabled` after a right password; a wrong
    // one is still the wrong password's 401.
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["message"], json!("Account disabled"), "{body}");
    assert_eq!(wrong, StatusCode::UNAUTHORIZED, "{wrong_body}");
    let rows = actors::store::audit_events::Entity::find()
        .filter(actors::store::audit_events::Column::UserId.eq(user.id))
        .all(&app.db)
        .await
        .unwrap();
    let refused = rows
        .iter()
        .filter(|r| r.kind == "login_refused_disabled")
        .count();
    assert_eq!(
        refused,
        1,
        "{:?}",
        rows.iter().map(|r| &r.kind).collect::<Vec<_>>()
    );
}
