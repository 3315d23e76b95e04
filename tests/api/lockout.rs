//! Per-account lockout and per-IP rate limits.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, assert_error, builder, spawn_app, unique_email};

#[tokio::test]
async fn thirty_parallel_wrong_passwords_from_thirty_ips_check_at_most_five() {
    let app = builder()
        .settings(|s| s.rate_limit_per_minute = 5)
        .spawn()
        .await;
    let email = unique_email();
    app.verified_user(&email).await;
    let attempts = (0..30).map(|i| {
        let ip = format!("203.0.113.{}", i + 1);
        let (app, email) = (&app, email.clone());
        async move { app.login_from(&ip, &email, "Wrong-Password-9").await }
    });
    let results = futures::future::join_all(attempts).await;
    let checked = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    let locked = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        (checked, locked),
        (5, 25),
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    for (status, body) in &results {
        if *status == StatusCode::TOO_MANY_REQUESTS {
            assert_error(body, 429, "Too many requests");
            let retry = body["data"]["retry_after"].as_u64().unwrap();
            assert!((1..=60).contains(&retry), "{body}");
        }
    }

    // The right password is refused while the lock lasts...
    let (status, _) = app.login_from("198.51.100.7", &email, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance_ms(59_000);
    assert_eq!(
        app.login_from("198.51.100.8", &email, PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...and accepted once it ends, which resets the count.
    app.clock.advance_ms(2_000);
    let (status, body) = app.login_from("198.51.100.9", &email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for i in 0..4 {
        let ip = format!("198.51.100.{}", 20 + i);
        assert_eq!(
            app.login_from(&ip, &email, "Wrong-Password-9").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn each_failure_after_the_lock_doubles_it() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    for _ in 0..5 {
        app.login(&email, "Wrong-Password-9").await;
    }
    app.clock.advance_ms(61_000);
    assert_eq!(
        app.login(&email, "Wrong-Password-9").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry = body["data"]["retry_after"].as_u64().unwrap();
    assert!((100..=120).contains(&retry), "two minutes, got {retry}");
}

#[tokio::test]
async fn a_lock_survives_a_restart() {
    let first = spawn_app().await;
    let email = unique_email();
    first.verified_user(&email).await;
    for _ in 0..5 {
        first.login(&email, "Wrong-Password-9").await;
    }
    let second = first.restart().await;
    assert_eq!(
        second.login(&email, PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn the_sixth_request_in_a_minute_from_one_ip_gets_429_with_retry_after() {
    let app = builder()
        .settings(|s| s.rate_limit_per_minute = 5)
        .spawn()
        .await;
    for _ in 0..5 {
        let (status, _) = app.login_from("192.0.2.1", &unique_email(), PASSWORD).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let resp = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "192.0.2.1")
        .json(&json!({"email": unique_email(), "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let header: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_error(&body, 429, "Too many requests");
    assert_eq!(body["data"]["retry_after"].as_u64(), Some(header));
    assert!(header >= 1);
    // Another client is not affected.
    assert_eq!(
        app.login_from("192.0.2.2", &unique_email(), PASSWORD)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn registration_endpoints_are_rate_limited_too() {
    let app = builder()
        .settings(|s| s.rate_limit_per_minute = 5)
        .spawn()
        .await;
    for path in [
        "/api/v1/auth/resend-verification/",
        "/api/v1/auth/verify-email/",
    ] {
        let body = if path.contains("resend") {
            json!({"email": unique_email()})
        } else {
            json!({"token": "x"})
        };
        let mut last = StatusCode::OK;
        for _ in 0..6 {
            last = app.post(path, &body).await.0;
        }
        assert_eq!(last, StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_from_an_untrusted_peer() {
    let app = builder()
        .settings(|s| {
            s.rate_limit_per_minute = 5;
            s.trusted_proxies = vec![];
        })
        .spawn()
        .await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(
            app.login_from(&format!("203.0.113.{i}"), &unique_email(), PASSWORD)
                .await
                .0,
        );
    }
    assert_eq!(
        statuses[5],
        StatusCode::TOO_MANY_REQUESTS,
        "spoofed addresses share the peer's budget"
    );
}
