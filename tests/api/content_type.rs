//! Request bodies are JSON, said so by `Content-Type: application/json`:
//! a body under any other or no content type is refused with 415 before
//! anything reads it, so no cross-site form or preflight-free `fetch` (a
//! typeless Blob, `text/plain`) gets in. A request without a body needs no
//! content type.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_error, read, spawn_app, unique_email};

/// Sends `body` with `content_type` (none when `None`) and an optional
/// bearer token.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &Value,
    bearer: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .body(body.to_string());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    read(req.send().await.expect("request failed")).await
}

fn assert_415(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{what}: {body}");
    assert_error(body, 415, "Unsupported media type");
    assert!(body["data"].is_null(), "{what}: {body}");
}

#[tokio::test]
async fn a_login_without_content_type_is_refused_with_415_and_issues_no_token() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    // What `fetch(url, {method: "POST", body: new Blob([json])})` from a
    // sibling origin sends: no Content-Type, so no preflight.
    let login = json!({ "email": email, "password": PASSWORD });
    let (status, body) = send(
        &app,
        Method::POST,
        "/api/v1/auth/login/",
        None,
        &login,
        None,
    )
    .await;
    assert_415(status, &body, "no content type");
}

#[tokio::test]
async fn every_method_with_a_body_under_another_or_no_content_type_gets_415() {
    let app = spawn_app().await;
    let (access, _) = app.logged_in().await;
    let passkey = format!("/api/v1/passkeys/{}/", uuid::Uuid::new_v4());
    let cases = [
        (
            Method::POST,
            "/api/v1/auth/register/".to_owned(),
            crate::helpers::registration(&unique_email()),
        ),
        (
            Method::PUT,
            "/api/v1/auth/alerts/".to_owned(),
            json!({ "new_device": false }),
        ),
        (Method::PATCH, passkey.clone(), json!({ "name": "Laptop" })),
        (Method::DELETE, passkey, json!({ "password": PASSWORD })),
        (
            Method::POST,
            "/api/v1/auth/logout-all/".to_owned(),
            json!({}),
        ),
    ];
    for (method, path, body) in cases {
        for ct in [
            None,
            Some("text/plain"),
            Some("text/plain;charset=UTF-8"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/xml"),
            Some("application/jsonp"),
            Some("not a type"),
        ] {
            let what = format!("{method} {path} {ct:?}");
            let (status, answer) =
                send(&app, method.clone(), &path, ct, &body, Some(&access)).await;
            assert_415(status, &answer, &what);
        }
    }
    assert!(app.outbox().await.len() <= 1, "nothing registered");
}

#[tokio::test]
async fn application_json_with_parameters_or_in_capitals_is_accepted() {
    let app = spawn_app().await;
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
    ] {
        let (status, body) = send(
            &app,
            Method::POST,
            "/api/v1/auth/register/",
            Some(ct),
            &crate::helpers::registration(&unique_email()),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{ct}: {body}");
    }
}

#[tokio::test]
async fn requests_without_a_body_need_no_content_type() {
    let app = spawn_app().await;
    let (access, _) = app.logged_in().await;
    let resp = app
        .client
        .post(app.url("/api/v1/auth/logout-all/"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A DELETE without a body reaches its handler (a made-up session: 404).
    let (access, _) = app.logged_in().await;
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/auth/sessions/{}/", uuid::Uuid::new_v4())))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Logout with no body at all, and with an empty one under a simple type.
    let resp = app
        .client
        .post(app.url("/api/v1/auth/logout/"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (access, _) = app.logged_in().await;
    let resp = app
        .client
        .post(app.url("/api/v1/auth/logout/"))
        .header("content-type", "text/plain")
        .header("content-length", "0")
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
