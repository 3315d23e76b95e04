//! Limits an attacker cannot walk around: IPv6 clients counted per prefix,
//! requests counted before their body is read (once, for both spellings of
//! a path), mail per recipient address, and token/refresh per IP and per
//! session.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, RESET_SUBJECT, TestApp, assert_error, builder, redis_url, remember_secret,
    unique_email,
};

const VERIFY_SUBJECT_WORD: &str = "Verify your email";

/// POSTs `body` (raw text) from client `ip` through the trusted local proxy,
/// with an optional bearer token: status, envelope, and the Retry-After
/// header if any.
async fn post_from(
    app: &TestApp,
    path: &str,
    ip: &str,
    body: &str,
    bearer: Option<&str>,
) -> (StatusCode, Value, Option<u64>) {
    let mut req = app
        .client
        .post(app.url(path))
        .header("x-forwarded-for", ip)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("request failed");
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let text = resp.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, value, retry)
}

fn login_body() -> String {
    json!({"email": unique_email(), "password": PASSWORD}).to_string()
}

/// A 429 in the envelope, with the same whole seconds in the body and the
/// header.
fn assert_429(status: StatusCode, body: &Value, retry: Option<u64>) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_error(body, 429, "Too many requests");
    let secs = body["data"]["retry_after"].as_u64().expect("retry_after");
    assert!(secs >= 1, "{body}");
    assert_eq!(retry, Some(secs));
}

async fn with_real_limit() -> TestApp {
    builder()
        .settings(|s| s.rate_limit_per_minute = 5)
        .spawn()
        .await
}

// --- Counted before the body is read, once, as middleware ---------------

#[tokio::test]
async fn limits_of_zero_per_minute_are_off_and_the_lockout_stays() {
    let app = builder()
        .settings(|s| s.rate_limit_per_minute = 0)
        .spawn()
        .await;
    let ip = "198.51.100.9";
    for _ in 0..12 {
        let (status, body, _) = post_from(&app, "/api/v1/auth/login/", ip, "{not json", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    // The account lockout is not a per-IP limit: it still holds.
    let email = unique_email();
    app.verified_user(&email).await;
    let wrong = json!({"email": email, "password": "Wrong-Password-9"}).to_string();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            post_from(&app, "/api/v1/auth/login/", ip, &wrong, None)
                .await
                .0,
        );
    }
    assert_eq!(statuses[4], StatusCode::UNAUTHORIZED, "{statuses:?}");
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
}

#[tokio::test]
async fn limits_count_malformed_bodies_before_they_are_parsed() {
    let app = with_real_limit().await;
    let ip = "198.51.100.7";
    for _ in 0..5 {
        let (status, body, _) = post_from(&app, "/api/v1/auth/login/", ip, "{not json", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, body, retry) =
        post_from(&app, "/api/v1/auth/login/", ip, &login_body(), None).await;
    assert_429(status, &body, retry);
}

#[tokio::test]
async fn limits_count_unauthenticated_2fa_requests_before_the_token_is_checked() {
    let app = with_real_limit().await;
    let ip = "198.51.100.8";
    let body = json!({"password": PASSWORD}).to_string();
    for _ in 0..5 {
        let (status, envelope, _) = post_from(&app, "/api/v1/2fa/enable", ip, &body, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{envelope}");
    }
    let (status, envelope, retry) = post_from(&app, "/api/v1/2fa/enable", ip, &body, None).await;
    assert_429(status, &envelope, retry);
    // Each 2fa endpoint has its own budget; disable was never called.
    let (status, envelope, _) = post_from(&app, "/api/v1/2fa/disable", ip, "{}", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{envelope}");
}

#[tokio::test]
async fn limits_give_both_spellings_of_a_path_one_budget() {
    let app = with_real_limit().await;
    let ip = "198.51.100.9";
    for n in 0..5 {
        let path = if n % 2 == 0 {
            "/api/v1/auth/login"
        } else {
            "/api/v1/auth/login/"
        };
        let (status, body, _) = post_from(&app, path, ip, "{}", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    for path in ["/api/v1/auth/login", "/api/v1/auth/login/"] {
        let (status, body, retry) = post_from(&app, path, ip, &login_body(), None).await;
        assert_429(status, &body, retry);
    }
}

#[tokio::test]
async fn limits_never_apply_to_verify_token() {
    let app = with_real_limit().await;
    let (access, _) = app.logged_in().await;
    for _ in 0..20 {
        let resp = app
            .client
            .get(app.url("/api/v1/auth/verify-token/"))
            .header("x-forwarded-for", "198.51.100.10")
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
}

// --- IPv6 by prefix -------------------------------------------------------

#[tokio::test]
async fn limits_count_ipv6_clients_per_64_and_ipv4_clients_per_address() {
    let app = with_real_limit().await;
    let path = "/api/v1/auth/login/";
    for n in 1..=5 {
        let ip = format!("2001:db8:1:2::{n}");
        let (status, body, _) = post_from(&app, path, &ip, "{}", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{ip}: {body}");
    }
    let (status, body, retry) = post_from(&app, path, "2001:db8:1:2::6", "{}", None).await;
    assert_429(status, &body, retry);
    let (status, body, retry) =
        post_from(&app, path, "[2001:db8:1:2:ffff::1]:443", "{}", None).await;
    assert_429(status, &body, retry);
    // Another /64 has a budget of its own.
    let (status, body, _) = post_from(&app, path, "2001:db8:1:3::1", "{}", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // IPv4 stays per address: neighbours of a spent address are not refused.
    for _ in 0..5 {
        post_from(&app, path, "192.0.2.1", "{}", None).await;
    }
    let (status, body, retry) = post_from(&app, path, "192.0.2.1", "{}", None).await;
    assert_429(status, &body, retry);
    for n in 2..=7 {
        let ip = format!("192.0.2.{n}");
        let (status, body, _) = post_from(&app, path, &ip, "{}", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{ip}: {body}");
    }
}

#[tokio::test]
async fn limits_ipv6_prefix_is_configurable() {
    let app = builder()
        .settings(|s| {
            s.rate_limit_per_minute = 5;
            s.rate_limit_ipv6_prefix = 128;
        })
        .spawn()
        .await;
    for n in 1..=6 {
        let ip = format!("2001:db8:1:2::{n}");
        let (status, body, _) = post_from(&app, "/api/v1/auth/login/", &ip, "{}", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{ip}: {body}");
    }
}

// --- Mail per recipient ---------------------------------------------------

async fn with_mail_limit() -> TestApp {
    builder()
        .settings(|s| s.mail_per_recipient_per_hour = 3)
        .spawn()
        .await
}

/// The mails to `email` whose subject contains `word`, once the count has
/// stopped moving (the requests' background work is done).
async fn settled_mails(app: &TestApp, email: &str, word: &str, expected: usize) -> usize {
    let count = || {
        app.smtp
            .mails_to(email)
            .iter()
            .filter(|m| m.subject.contains(word))
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count() < expected && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Whatever was going to be queued has been by now; give a mail too
    // many the time to show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    count()
}

async fn request_reset_from(app: &TestApp, ip: &str, email: &str) -> StatusCode {
    let body = json!({"email": email}).to_string();
    post_from(app, "/api/v1/auth/password-reset/", ip, &body, None)
        .await
        .0
}

#[tokio::test]
async fn limits_send_at_most_three_reset_mails_per_address_per_hour() {
    let app = with_mail_limit().await;
    let email = unique_email();
    app.verified_user(&email).await;
    for n in 1..=5 {
        let status = request_reset_from(&app, &format!("203.0.113.{n}"), &email).await;
        assert_eq!(status, StatusCode::OK);
    }
    // The address may be typed in another case: it is one recipient.
    let status = request_reset_from(&app, "203.0.113.9", &email.to_uppercase()).await;
    assert_eq!(status, StatusCode::OK);
    let other = unique_email();
    app.verified_user(&other).await;
    assert_eq!(
        request_reset_from(&app, "203.0.113.1", &other).await,
        StatusCode::OK
    );
    assert_eq!(settled_mails(&app, &email, RESET_SUBJECT, 3).await, 3);
    assert_eq!(settled_mails(&app, &other, RESET_SUBJECT, 1).await, 1);
}

#[tokio::test]
async fn limits_send_at_most_three_resent_verification_mails_per_address_per_hour() {
    let app = with_mail_limit().await;
    let email = unique_email();
    let (status, _) = app.register(&email).await;
    assert_eq!(status, StatusCode::CREATED);
    app.smtp.wait_for(&email, 1, Duration::from_secs(10)).await;
    let body = json!({"email": email}).to_string();
    for n in 1..=5 {
        let ip = format!("203.0.113.{n}");
        let (status, envelope, _) =
            post_from(&app, "/api/v1/auth/resend-verification/", &ip, &body, None).await;
        assert_eq!(status, StatusCode::OK, "{envelope}");
    }
    let other = unique_email();
    app.register(&other).await;
    let (status, _, _) = post_from(
        &app,
        "/api/v1/auth/resend-verification/",
        "203.0.113.1",
        &json!({"email": other}).to_string(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The registration's own mail plus three resent ones.
    assert_eq!(settled_mails(&app, &email, VERIFY_SUBJECT_WORD, 4).await, 4);
    assert_eq!(settled_mails(&app, &other, VERIFY_SUBJECT_WORD, 2).await, 2);
    // Of the links sent, the newest one works (mails may arrive in any
    // order).
    let mut verified = 0;
    for mail in app.smtp.mails_to(&email) {
        let token = mail.token();
        remember_secret(&token);
        verified += usize::from(app.verify_email(&token).await.0 == StatusCode::OK);
    }
    assert_eq!(verified, 1);
}

#[tokio::test]
async fn limits_mail_budget_of_zero_is_off() {
    let app = builder()
        .settings(|s| s.mail_per_recipient_per_hour = 0)
        .spawn()
        .await;
    let email = unique_email();
    app.verified_user(&email).await;
    for n in 1..=5 {
        request_reset_from(&app, &format!("203.0.113.{n}"), &email).await;
    }
    assert_eq!(settled_mails(&app, &email, RESET_SUBJECT, 5).await, 5);
}

#[tokio::test]
async fn limits_mail_budget_is_shared_by_two_nodes() {
    if redis_url().is_none() {
        eprintln!("skipped: AUTH_TEST_REDIS_URL is not set (each node has its own budget)");
        return;
    }
    let a = with_mail_limit().await;
    let b = a.second_node().await;
    let email = unique_email();
    a.verified_user(&email).await;
    for n in 1..=6 {
        let node = if n % 2 == 0 { &a } else { &b };
        let status = request_reset_from(node, &format!("203.0.113.{n}"), &email).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(settled_mails(&a, &email, RESET_SUBJECT, 3).await, 3);
}

// --- token/refresh per IP and per session ---------------------------------

async fn with_refresh_limit(per_minute: u32) -> TestApp {
    builder()
        .settings(move |s| s.refresh_rate_per_minute = per_minute)
        .spawn()
        .await
}

async fn refresh_from(app: &TestApp, ip: &str, token: &str) -> (StatusCode, Value, Option<u64>) {
    let body = json!({"refresh_token": token}).to_string();
    let reply = post_from(app, "/api/v1/auth/token/refresh/", ip, &body, None).await;
    for key in ["token", "refresh_token"] {
        if let Some(secret) = reply.1["data"][key].as_str() {
            remember_secret(secret);
        }
    }
    reply
}

fn new_refresh_token(body: &Value) -> String {
    body["data"]["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh token: {body}"))
        .to_owned()
}

#[tokio::test]
async fn limits_refresh_per_session_without_using_up_the_token() {
    let app = with_refresh_limit(3).await;
    let (access, mut refresh) = app.logged_in().await;
    // From a new address each time: only the session's budget is spent.
    for n in 1..=3 {
        let (status, body, _) = refresh_from(&app, &format!("192.0.2.{n}"), &refresh).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        refresh = new_refresh_token(&body);
    }
    let (status, body, retry) = refresh_from(&app, "192.0.2.4", &refresh).await;
    assert_429(status, &body, retry);
    // The token was not used: presenting it again is not a reuse (which
    // would be 401 and end the session), and the session lives on.
    let (status, body, retry) = refresh_from(&app, "192.0.2.5", &refresh).await;
    assert_429(status, &body, retry);
    assert_eq!(app.verify_token(&access).await.0, StatusCode::OK);
    // With the limit raised, the same token refreshes.
    let app = app.restart_with(|s| s.refresh_rate_per_minute = 1000).await;
    let (status, body, _) = refresh_from(&app, "192.0.2.6", &refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn limits_refresh_per_ip_across_sessions() {
    let app = with_refresh_limit(3).await;
    let (email, _, first) = app.logged_in_user().await;
    let (_, second) = app.tokens_for(&email, PASSWORD).await;
    let ip = "192.0.2.50";
    let (status, body, _) = refresh_from(&app, ip, &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = new_refresh_token(&body);
    let (status, body, _) = refresh_from(&app, ip, &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = refresh_from(&app, ip, &second).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = new_refresh_token(&body);
    // The second session has refreshed once, but the address three times.
    let (status, body, retry) = refresh_from(&app, ip, &second).await;
    assert_429(status, &body, retry);
    let (status, body, _) = refresh_from(&app, "192.0.2.51", &second).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn limits_refresh_of_zero_is_off() {
    let app = with_refresh_limit(0).await;
    let (_, mut refresh) = app.logged_in().await;
    for _ in 0..10 {
        let (status, body, _) = refresh_from(&app, "192.0.2.60", &refresh).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        refresh = new_refresh_token(&body);
    }
}
