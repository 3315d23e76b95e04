//! The caller's sessions: `GET /auth/sessions/`, `DELETE
//! /auth/sessions/{id}/`, `POST /auth/logout-all/`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, read, spawn_app, tokens_of, unique_email};

/// Logs `email` in from `ip` (through the trusted local proxy) with
/// `user_agent`: (access token, refresh token).
async fn login_as(app: &TestApp, email: &str, ip: &str, user_agent: &str) -> (String, String) {
    let resp = app
        .client
        .post(app.url("/api/v1/auth/login/"))
        .header("x-forwarded-for", ip)
        .header("user-agent", user_agent)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokens_of(&body)
}

async fn list(app: &TestApp, access: &str) -> (StatusCode, Value) {
    app.get_bearer("/api/v1/auth/sessions/", access).await
}

async fn listed(app: &TestApp, access: &str) -> Vec<Value> {
    let (status, body) = list(app, access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["sessions"].as_array().unwrap().clone()
}

async fn end(app: &TestApp, access: &str, path_id: &str) -> (StatusCode, Value) {
    read(
        app.client
            .delete(app.url(&format!("/api/v1/auth/sessions/{path_id}")))
            .bearer_auth(access)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn verified(app: &TestApp) -> String {
    let email = unique_email();
    app.verified_user(&email).await;
    email
}

#[tokio::test]
async fn the_list_shows_each_login_newest_first_with_its_client_and_marks_the_current_one() {
    let app = spawn_app().await;
    let email = verified(&app).await;
    let (first, _) = login_as(&app, &email, "203.0.113.7", "Firefox/140").await;
    app.clock.advance_ms(5_000);
    let (second, _) = login_as(&app, &email, "2001:db8::42", "Chromium/156").await;
    let sessions = listed(&app, &first).await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions[0]["ip"], "2001:db8::42");
    assert_eq!(sessions[0]["user_agent"], "Chromium/156");
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(sessions[1]["ip"], "203.0.113.7");
    assert_eq!(sessions[1]["user_agent"], "Firefox/140");
    assert_eq!(sessions[1]["current"], true);
    for s in &sessions {
        for key in ["created_at", "last_used_at"] {
            let at = s[key].as_str().unwrap();
            assert!(
                chrono::DateTime::parse_from_rfc3339(at).is_ok(),
                "{key}: {at}"
            );
        }
    }
    assert!(sessions[0]["created_at"].as_str() > sessions[1]["created_at"].as_str());
    // The other session sees itself as the current one.
    let seen = listed(&app, &second).await;
    assert_eq!(seen[0]["current"], true);
    assert_eq!(seen[1]["current"], false);
}

#[tokio::test]
async fn a_refresh_moves_last_used_at_and_another_user_sees_none_of_it() {
    let app = spawn_app().await;
    let email = verified(&app).await;
    let (access, refresh) = login_as(&app, &email, "203.0.113.7", "ua").await;
    let before = listed(&app, &access).await[0]["last_used_at"].clone();
    app.clock.advance_ms(120_000);
    let (status, body) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["data"]["token"].as_str().unwrap();
    let after = listed(&app, access).await;
    assert_eq!(after.len(), 1, "a refresh continues the session");
    assert!(after[0]["last_used_at"].as_str() > before.as_str());
    let (other, _) = app.logged_in().await;
    assert_eq!(listed(&app, &other).await.len(), 1);
}

#[tokio::test]
async fn ending_a_session_revokes_its_tokens_and_leaves_the_callers() {
    let app = spawn_app().await;
    let email = verified(&app).await;
    let (mine, my_refresh) = login_as(&app, &email, "203.0.113.7", "laptop").await;
    let (theirs, their_refresh) = login_as(&app, &email, "198.51.100.9", "stolen").await;
    let id = listed(&app, &mine).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Without the trailing slash, as every path.
    let (status, body) = end(&app, &mine, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.verify_token(&theirs).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.refresh(&their_refresh).await.0,
        StatusCode::UNAUTHORIZED
    );
    let left = listed(&app, &mine).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
    assert_eq!(app.refresh(&my_refresh).await.0, StatusCode::OK);
    // Already ended: 404.
    let (status, body) = end(&app, &mine, &format!("{id}/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["success"], false);
}

#[tokio::test]
async fn another_users_session_or_a_made_up_id_is_404_and_a_bad_id_400() {
    let app = spawn_app().await;
    let (mine, _) = app.logged_in().await;
    let (victim, _) = app.logged_in().await;
    let victim_id = listed(&app, &victim).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = end(&app, &mine, &format!("{victim_id}/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        app.verify_token(&victim).await.0,
        StatusCode::OK,
        "untouched"
    );
    let (status, _) = end(&app, &mine, &format!("{}/", uuid::Uuid::new_v4())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = end(&app, &mine, "not-a-uuid/").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["success"], false);
    let (status, _) = end(&app, "not.a.token", &format!("{victim_id}/")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_all_ends_every_session_the_callers_included() {
    let app = spawn_app().await;
    let email = verified(&app).await;
    let (a, a_refresh) = login_as(&app, &email, "203.0.113.7", "a").await;
    let (b, b_refresh) = login_as(&app, &email, "203.0.113.8", "b").await;
    let (status, body) = app
        .post_bearer("/api/v1/auth/logout-all/", &a, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for access in [&a, &b] {
        assert_eq!(app.verify_token(access).await.0, StatusCode::UNAUTHORIZED);
    }
    for refresh in [&a_refresh, &b_refresh] {
        assert_eq!(app.refresh(refresh).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(list(&app, &a).await.0, StatusCode::UNAUTHORIZED);
    // A new login starts afresh.
    let (c, _) = login_as(&app, &email, "203.0.113.9", "c").await;
    assert_eq!(listed(&app, &c).await.len(), 1);
}

#[tokio::test]
async fn ended_and_expired_sessions_are_not_listed() {
    let app = spawn_app().await;
    let email = verified(&app).await;
    let (old, _) = login_as(&app, &email, "203.0.113.7", "old").await;
    let (gone, _) = login_as(&app, &email, "203.0.113.8", "gone").await;
    assert_eq!(app.logout(&gone, None).await.0, StatusCode::OK);
    assert_eq!(listed(&app, &old).await.len(), 1);
    // Fourteen days later the old session has no working refresh token.
    app.clock.advance_ms(15 * 24 * 3_600_000);
    let (fresh, _) = login_as(&app, &email, "203.0.113.9", "fresh").await;
    let sessions = listed(&app, &fresh).await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["user_agent"], "fresh");
}

#[tokio::test]
async fn parallel_ends_of_one_session_end_it_and_answer_200_or_404() {
    let app = spawn_app().await;
    let email = verified(&app).await;
    let (mine, _) = login_as(&app, &email, "203.0.113.7", "mine").await;
    let (other, other_refresh) = login_as(&app, &email, "203.0.113.8", "other").await;
    let id = listed(&app, &mine).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("{id}/");
    let statuses = crate::helpers::parallel_statuses((0..8).map(|_| end(&app, &mine, &path))).await;
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::NOT_FOUND),
        "{statuses:?}"
    );
    assert_eq!(app.verify_token(&other).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.refresh(&other_refresh).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.verify_token(&mine).await.0, StatusCode::OK);
}
