//! CORS: listed origins get their preflights answered and their answers
//! marked readable, with credentials; other origins get nothing.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::helpers::{TestApp, builder, spawn_app};

const APP: &str = "http://localhost:3000";

async fn with_origins() -> TestApp {
    builder()
        .settings(|s| s.cors_origins = vec![APP.to_owned(), "https://app.example".to_owned()])
        .spawn()
        .await
}

async fn preflight(app: &TestApp, origin: &str) -> (StatusCode, HeaderMap) {
    let resp = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login/"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, x-requested-with",
        )
        .send()
        .await
        .unwrap();
    (resp.status(), resp.headers().clone())
}

async fn login_from_origin(app: &TestApp, origin: &str) -> (StatusCode, HeaderMap) {
    let resp = app
        .client
        .post(app.url("/api/v1/auth/login/"))
        .header("origin", origin)
        .json(&serde_json::json!({"email": "nobody@example.org", "password": "Wrong-Passw0rd"}))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.headers().clone())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_listed_origin_gets_its_preflight_answered_with_credentials_and_no_wildcard() {
    let app = with_origins().await;
    let (status, h) = preflight(&app, APP).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(header(&h, "access-control-allow-origin"), Some(APP));
    assert_eq!(header(&h, "access-control-allow-credentials"), Some("true"));
    let methods = header(&h, "access-control-allow-methods").unwrap();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let headers = header(&h, "access-control-allow-headers").unwrap();
    for needed in ["content-type", "authorization", "x-requested-with"] {
        assert!(headers.contains(needed), "{headers}");
    }
    assert_eq!(header(&h, "access-control-max-age"), Some("600"));
    assert!(header(&h, "vary").unwrap().contains("Origin"));
    assert!(h.contains_key("x-request-id"));

    // The real request: answered as usual (401 here), readable by the page.
    let (status, h) = login_from_origin(&app, "https://app.example").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(header(&h, "access-control-allow-credentials"), Some("true"));
    assert!(
        header(&h, "access-control-expose-headers")
            .unwrap()
            .contains("x-request-id")
    );
    assert!(header(&h, "vary").unwrap().contains("Origin"));
}

#[tokio::test]
async fn an_origin_not_listed_gets_no_cors_headers_and_is_otherwise_served_as_usual() {
    let app = with_origins().await;
    for origin in [
        "http://evil.example",
        "http://localhost:3001",
        "null",
        "http://localhost:3000.evil.example",
    ] {
        let (status, h) = preflight(&app, origin).await;
        assert!(!status.is_success(), "{origin}: {status}");
        assert!(!h.contains_key("access-control-allow-origin"), "{origin}");
        let (status, h) = login_from_origin(&app, origin).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{origin}");
        assert!(!h.contains_key("access-control-allow-origin"), "{origin}");
        assert!(
            !h.contains_key("access-control-allow-credentials"),
            "{origin}"
        );
    }
}

#[tokio::test]
async fn without_cors_origins_no_origin_gets_cors_headers() {
    let app = spawn_app().await;
    let (status, h) = preflight(&app, APP).await;
    assert!(!status.is_success(), "{status}");
    assert!(!h.contains_key("access-control-allow-origin"));
    let (_, h) = login_from_origin(&app, APP).await;
    assert!(!h.contains_key("access-control-allow-origin"));
}

/// A preflight from `origin` for `method` on `path`: status and the
/// methods it allows.
async fn preflight_method(
    app: &TestApp,
    origin: &str,
    method: &str,
    path: &str,
) -> (StatusCode, Vec<String>) {
    let resp = app
        .client
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    let allowed = header(resp.headers(), "access-control-allow-methods")
        .unwrap_or_default()
        .split(',')
        .map(|m| m.trim().to_owned())
        .collect();
    (resp.status(), allowed)
}

#[tokio::test]
async fn preflights_allow_every_method_the_api_serves_put_and_patch_included() {
    let app = with_origins().await;
    let passkey = format!("/api/v1/passkeys/{}/", uuid::Uuid::new_v4());
    for (method, path) in [
        ("GET", "/api/v1/auth/alerts/"),
        ("POST", "/api/v1/auth/login/"),
        ("PUT", "/api/v1/auth/alerts/"),
        ("PATCH", passkey.as_str()),
        ("DELETE", passkey.as_str()),
    ] {
        let (status, allowed) = preflight_method(&app, APP, method, path).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{method} {path}");
        assert!(
            allowed.iter().any(|m| m == method),
            "{method} {path}: {allowed:?}"
        );
    }
    // The browser's real PUT then changes the alert settings.
    let (access, _) = app.logged_in().await;
    let resp = app
        .client
        .put(app.url("/api/v1/auth/alerts/"))
        .header("origin", APP)
        .bearer_auth(&access)
        .json(&serde_json::json!({ "new_device": false, "password": crate::helpers::PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header(resp.headers(), "access-control-allow-origin"),
        Some(APP)
    );
}
