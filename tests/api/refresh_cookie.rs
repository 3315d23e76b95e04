//! Refresh tokens as an HttpOnly cookie for browser apps
//! (`AUTH_REFRESH_COOKIE=on`), the CSRF checks on requests that use it, and
//! logout with only a refresh token.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, builder, read, remember_secret, spawn_app, unique_email};

const APP: &str = "http://localhost:3000";
const NAME: &str = "__Host-authd_refresh";

async fn cookie_app() -> TestApp {
    builder()
        .settings(|s| {
            s.cors_origins = vec![APP.to_owned()];
            s.refresh_cookie = true;
        })
        .spawn()
        .await
}

/// Logs a new verified user in: (login body, the cookie's value).
async fn login(app: &TestApp) -> (Value, Option<String>) {
    let (body, headers) = login_answer(app).await;
    (body, cookie_value(&headers))
}

/// Logs a new verified user in: the login body and headers.
async fn login_answer(app: &TestApp) -> (Value, HeaderMap) {
    let email = unique_email();
    app.verified_user(&email).await;
    let resp = app
        .client
        .post(app.url("/api/v1/auth/login/"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let headers = resp.headers().clone();
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for key in ["token", "refresh_token"] {
        remember_secret(body["data"][key].as_str().unwrap());
    }
    (body, headers)
}

/// The value the answer sets the refresh cookie to.
fn cookie_value(h: &HeaderMap) -> Option<String> {
    let set = set_cookie(h)?;
    let pair = set.split(';').next()?;
    let (name, value) = pair.split_once('=')?;
    (name == NAME).then(|| value.to_owned())
}

fn set_cookie(h: &HeaderMap) -> Option<String> {
    h.get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(NAME))
        .map(str::to_owned)
}

/// A request that presents `cookie`, from `origin`, with or without the
/// `X-Requested-With: authd` header.
fn with_cookie(
    app: &TestApp,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
    marked: bool,
) -> reqwest::RequestBuilder {
    let mut req = app
        .client
        .post(app.url(path))
        .header("cookie", format!("theme=dark; {NAME}={cookie}"));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    if marked {
        req = req.header("x-requested-with", "authd");
    }
    req
}

async fn refresh_by_cookie(
    app: &TestApp,
    cookie: &str,
    origin: Option<&str>,
    marked: bool,
) -> (StatusCode, Value, Option<String>) {
    let resp = with_cookie(app, "/api/v1/auth/token/refresh/", cookie, origin, marked)
        .send()
        .await
        .unwrap();
    let next = cookie_value(resp.headers());
    let (status, body) = read(resp).await;
    if let Some(t) = body["data"]["token"].as_str() {
        remember_secret(t);
    }
    if let Some(t) = &next {
        remember_secret(t);
    }
    (status, body, next)
}

#[tokio::test]
async fn login_sets_the_refresh_token_as_a_host_only_http_only_strict_cookie() {
    let app = cookie_app().await;
    let (body, headers) = login_answer(&app).await;
    let set = set_cookie(&headers).expect("a Set-Cookie for the refresh token");
    let value = cookie_value(&headers).unwrap();
    assert_eq!(value, body["data"]["refresh_token"].as_str().unwrap());
    for attr in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=1209600",
    ] {
        assert!(set.contains(attr), "{attr} missing: {set}");
    }
    assert!(!set.to_ascii_lowercase().contains("domain="), "{set}");
}

#[tokio::test]
async fn a_refresh_through_the_cookie_rotates_it_and_the_old_one_is_then_reuse() {
    let app = cookie_app().await;
    let (_, cookie) = login(&app).await;
    let cookie = cookie.unwrap();
    let (status, body, next) = refresh_by_cookie(&app, &cookie, Some(APP), true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let next = next.expect("the new refresh token as a cookie");
    assert_ne!(next, cookie);
    assert_eq!(next, body["data"]["refresh_token"].as_str().unwrap());
    // The new cookie works; presenting the old one again is reuse.
    let (status, _, _) = refresh_by_cookie(&app, &next, Some(APP), true).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = refresh_by_cookie(&app, &cookie, Some(APP), true).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_cookie_request_without_an_allowed_origin_or_the_header_is_refused_and_spends_nothing() {
    let app = cookie_app().await;
    let (_, cookie) = login(&app).await;
    let cookie = cookie.unwrap();
    for (origin, marked) in [
        (None, true),
        (Some("http://evil.example"), true),
        (Some("null"), true),
        (Some(APP), false),
    ] {
        let (status, body, set) = refresh_by_cookie(&app, &cookie, origin, marked).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin:?} {marked}: {body}");
        assert_eq!(body["success"], false);
        assert!(set.is_none(), "no cookie on a refusal");
        let resp = with_cookie(&app, "/api/v1/auth/logout/", &cookie, origin, marked)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "logout {origin:?}");
    }
    // Nothing above used or revoked the token.
    let (status, body, _) = refresh_by_cookie(&app, &cookie, Some(APP), true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_cross_site_form_post_cannot_refresh() {
    let app = cookie_app().await;
    let (_, cookie) = login(&app).await;
    let cookie = cookie.unwrap();
    // What a hostile page's <form method=post> sends: a simple content type,
    // the victim's cookie (were SameSite ignored), its own Origin.
    let resp = app
        .client
        .post(app.url("/api/v1/auth/token/refresh/"))
        .header("cookie", format!("{NAME}={cookie}"))
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=1")
        .send()
        .await
        .unwrap();
    assert!(cookie_value(resp.headers()).is_none());
    let (status, body) = read(resp).await;
    assert!(status.is_client_error(), "{status} {body}");
    assert!(body["data"]["token"].is_null(), "{body}");
    let resp = app
        .client
        .post(app.url("/api/v1/auth/token/refresh/"))
        .header("cookie", format!("{NAME}={cookie}"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (status, _, _) = refresh_by_cookie(&app, &cookie, Some(APP), true).await;
    assert_eq!(status, StatusCode::OK, "the token was not spent");
}

#[tokio::test]
async fn a_token_in_the_body_needs_no_origin_even_in_cookie_mode() {
    let app = cookie_app().await;
    let (body, _) = login(&app).await;
    let (status, body) = app
        .refresh(body["data"]["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn logout_by_cookie_ends_the_session_and_clears_the_cookie() {
    let app = cookie_app().await;
    let (body, cookie) = login(&app).await;
    let cookie = cookie.unwrap();
    let access = body["data"]["token"].as_str().unwrap();
    let resp = with_cookie(&app, "/api/v1/auth/logout/", &cookie, Some(APP), true)
        .send()
        .await
        .unwrap();
    let set = set_cookie(resp.headers()).expect("the cookie is cleared");
    assert!(set.contains("Max-Age=0"), "{set}");
    assert_eq!(cookie_value(resp.headers()).as_deref(), Some(""));
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.verify_token(access).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the session's access token"
    );
    let (status, _, _) = refresh_by_cookie(&app, &cookie, Some(APP), true).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cookie_mode_off_sets_no_cookie_and_ignores_one() {
    let app = spawn_app().await;
    let (body, cookie) = login(&app).await;
    assert!(cookie.is_none());
    let refresh = body["data"]["refresh_token"].as_str().unwrap();
    let (status, body, _) = refresh_by_cookie(&app, refresh, Some(APP), true).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // The cookie was not read, so the token is still unused.
    let (status, _) = app.refresh(refresh).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn logout_with_an_expired_access_token_ends_the_session_of_the_refresh_token() {
    let app = spawn_app().await;
    let (access, refresh) = app.logged_in().await;
    // The access token expires (60 minutes and the leeway); the refresh
    // token lives 14 days.
    app.clock.advance_ms(2 * 3_600_000);
    let (status, _) = app.verify_token(&access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .logout(&access, Some(json!({ "refresh_token": refresh })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.refresh(&refresh).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the refresh token is revoked"
    );
}

#[tokio::test]
async fn logout_without_authorization_takes_a_refresh_token() {
    let app = spawn_app().await;
    let (access, refresh) = app.logged_in().await;
    let (status, body) = app
        .post("/api/v1/auth/logout/", &json!({ "token": refresh }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.verify_token(&access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "its access token too");
    let (status, _) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Once ended, the same token logs nothing out.
    let (status, _) = app
        .post("/api/v1/auth/logout/", &json!({ "token": refresh }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_without_any_token_or_with_an_unknown_one_is_401() {
    let app = spawn_app().await;
    let (_, refresh) = app.logged_in().await;
    for body in [
        json!({}),
        json!({ "refresh_token": "not-a-token" }),
        json!({ "refresh_token": "A".repeat(43) }),
    ] {
        let (status, resp) = app.post("/api/v1/auth/logout/", &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}: {resp}");
    }
    let resp = app
        .client
        .post(app.url("/api/v1/auth/logout/"))
        .bearer_auth("not.a.jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // The user's real session was not touched.
    let (status, _) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn parallel_logouts_with_one_refresh_token_end_its_session_once() {
    let app = spawn_app().await;
    let (access, refresh) = app.logged_in().await;
    let body = json!({ "token": refresh });
    let statuses =
        crate::helpers::parallel_statuses((0..8).map(|_| app.post("/api/v1/auth/logout/", &body)))
            .await;
    assert!(
        statuses.contains(&StatusCode::OK)
            && statuses
                .iter()
                .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    let (status, _) = app.verify_token(&access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
