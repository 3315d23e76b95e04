//! Password reset: request, emailed single-use token, confirm.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    CHANGED_SUBJECT, PASSWORD, RESET_SUBJECT, assert_error, builder, count, parallel_statuses,
    spawn_app, unique_email,
};

const NEW_PASSWORD: &str = "Brand-New-Secret-77";

#[tokio::test]
async fn known_and_unknown_addresses_get_byte_identical_answers_and_only_the_known_one_gets_mail() {
    let app = spawn_app().await;
    let known = unique_email();
    app.verified_user(&known).await;
    let unverified = unique_email();
    app.register_and_get_token(&unverified).await;
    let unknown = unique_email();

    let (s_unknown, b_unknown) = app.request_reset(&unknown).await;
    let (s_known, b_known) = app.request_reset(&known).await;
    let (s_unverified, b_unverified) = app.request_reset(&unverified).await;
    assert_eq!(s_known, StatusCode::OK, "{b_known}");
    assert_eq!((s_unknown, s_unverified), (StatusCode::OK, StatusCode::OK));
    assert_eq!(b_known, b_unknown);
    assert_eq!(b_known, b_unverified);

    let token = app.reset_token(&known, 1).await;
    let mail = &app.smtp.mails_to(&known)[1];
    assert_eq!(mail.subject, RESET_SUBJECT);
    assert!(mail.text.contains(&format!(
        "http://localhost:3000/reset-password?token={token}"
    )));
    assert!(mail.html.contains(&token));
    app.reset_token(&unverified, 1).await;
    assert!(app.smtp.mails_to(&unknown).is_empty());
}

#[tokio::test]
async fn a_reset_signs_the_account_out_everywhere_and_only_the_new_password_works() {
    let app = spawn_app().await;
    let (email, access, refresh) = app.logged_in_user().await;
    assert_eq!(app.request_reset(&email).await.0, StatusCode::OK);
    let token = app.reset_token(&email, 1).await;

    let (status, body) = app.confirm_reset(&token, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));

    assert_eq!(app.verify_token(&access).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&refresh).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login(&email, PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A login in the same second as the reset gets a token that works.
    let (new_access, new_refresh) = app.tokens_for(&email, NEW_PASSWORD).await;
    assert_eq!(app.verify_token(&new_access).await.0, StatusCode::OK);
    assert_eq!(app.refresh(&new_refresh).await.0, StatusCode::OK);

    let (status, body) = app.confirm_reset(&token, "Another-Secret-88").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the token works once");
    assert_eq!(body["errors"]["token"], json!(["is invalid or expired"]));
}

#[tokio::test]
async fn the_password_changed_notice_arrives_over_smtp_without_a_token() {
    let app = spawn_app().await;
    let (email, _, _) = app.logged_in_user().await;
    app.request_reset(&email).await;
    let token = app.reset_token(&email, 1).await;
    assert_eq!(
        app.confirm_reset(&token, NEW_PASSWORD).await.0,
        StatusCode::OK
    );
    let mails = app
        .smtp
        .wait_for_subject(&email, CHANGED_SUBJECT, 1, Duration::from_secs(10))
        .await;
    let notice = &mails[0];
    assert!(
        notice
            .text
            .contains("password of your account was just changed")
    );
    for body in [&notice.text, &notice.html, &notice.raw] {
        assert!(!body.contains(&token));
        assert!(!body.contains("token="));
        assert!(!body.contains(NEW_PASSWORD));
    }
}

#[tokio::test]
async fn a_second_request_voids_the_first_token() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    app.request_reset(&email).await;
    let first = app.reset_token(&email, 1).await;
    app.request_reset(&email).await;
    let second = app.reset_token(&email, 2).await;
    assert_ne!(first, second);

    let (status, body) = app.confirm_reset(&first, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, 400, "Invalid request");
    assert_eq!(
        app.confirm_reset(&second, NEW_PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_reset_token_expires_after_24_hours() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    app.request_reset(&email).await;
    let token = app.reset_token(&email, 1).await;
    app.clock.advance_ms(23 * 3600 * 1000);
    assert_eq!(
        app.confirm_reset(&token, NEW_PASSWORD).await.0,
        StatusCode::OK,
        "still valid at 23 hours"
    );

    app.request_reset(&email).await;
    let token = app.reset_token(&email, 2).await;
    app.clock.advance_ms(24 * 3600 * 1000 + 1000);
    let (status, body) = app.confirm_reset(&token, "Another-Secret-88").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"]["token"], json!(["is invalid or expired"]));
}

#[tokio::test]
async fn a_token_of_one_purpose_is_refused_for_the_other() {
    let app = spawn_app().await;
    let email = unique_email();
    let verification = app.register_and_get_token(&email).await;
    let (status, _) = app.confirm_reset(&verification, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    app.request_reset(&email).await;
    let reset = app.reset_token(&email, 1).await;
    assert_eq!(app.verify_email(&reset).await.0, StatusCode::BAD_REQUEST);
    // Neither refusal used anything up.
    assert_eq!(app.verify_email(&verification).await.0, StatusCode::OK);
    assert_eq!(
        app.confirm_reset(&reset, NEW_PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn ten_parallel_confirms_with_one_token_succeed_once() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    app.request_reset(&email).await;
    let token = app.reset_token(&email, 1).await;
    let passwords: Vec<String> = (0..10).map(|i| format!("Parallel-Secret-{i}x")).collect();
    let attempts = passwords.iter().map(|p| app.confirm_reset(&token, p));
    let statuses = parallel_statuses(attempts).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::BAD_REQUEST), 9, "{statuses:?}");
    let winner = statuses.iter().position(|s| *s == StatusCode::OK).unwrap();
    assert_eq!(
        app.login(&email, &passwords[winner]).await.0,
        StatusCode::OK
    );
    for (i, p) in passwords.iter().enumerate().filter(|(i, _)| *i != winner) {
        // 401, or 429 once five of them have locked the account.
        assert_ne!(app.login(&email, p).await.0, StatusCode::OK, "loser {i}");
    }
}

#[tokio::test]
async fn the_new_password_follows_the_rules_and_a_refusal_keeps_the_token() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    app.request_reset(&email).await;
    let token = app.reset_token(&email, 1).await;

    let (status, body) = app.confirm_reset(&token, "short").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"]["new_password"].is_array(), "{body}");
    let (status, body) = app.confirm_reset(&token, &email).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"]["new_password"].is_array(), "{body}");
    for bad in ["", "x", &"a".repeat(5000), "not-a-token-at-all!!"] {
        let (status, body) = app.confirm_reset(bad, NEW_PASSWORD).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(
        app.confirm_reset(&token, NEW_PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_locked_or_unverified_account_can_reset_and_then_log_in() {
    let app = spawn_app().await;
    let locked = unique_email();
    app.verified_user(&locked).await;
    for _ in 0..5 {
        app.login(&locked, "Wrong-Password-9").await;
    }
    assert_eq!(
        app.login(&locked, PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let unverified = unique_email();
    app.register_and_get_token(&unverified).await;

    for email in [&locked, &unverified] {
        app.request_reset(email).await;
        let token = app.reset_token(email, 1).await;
        assert_eq!(
            app.confirm_reset(&token, NEW_PASSWORD).await.0,
            StatusCode::OK
        );
        let (status, body) = app.login(email, NEW_PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{email}: {body}");
        assert_eq!(body["data"]["user"]["is_email_verified"], json!(true));
    }
}

#[tokio::test]
async fn mail_goes_only_to_the_stored_address_never_to_a_look_alike() {
    let app = spawn_app().await;
    let stored = format!("Mike.{}@Example.org", uuid::Uuid::new_v4().simple());
    app.verified_user(&stored).await;
    let upper = stored.to_uppercase();
    let dotless = stored.replacen('i', "\u{131}", 1);
    let full_width = stored.replace('@', "\u{FF20}");

    let (status, _) = app.request_reset(&full_width).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a full-width @ is no address"
    );
    assert_eq!(app.request_reset(&dotless).await.0, StatusCode::OK);
    assert_eq!(app.request_reset(&upper).await.0, StatusCode::OK);
    app.reset_token(&stored, 1).await;
    // Give a wrongly queued second mail time to arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let resets: Vec<_> = app
        .smtp
        .mails()
        .into_iter()
        .filter(|m| m.subject == RESET_SUBJECT)
        .collect();
    assert_eq!(
        resets.len(),
        1,
        "only the typed-in-upper-case request matches"
    );
    assert_eq!(resets[0].to, vec![stored.clone()], "the stored spelling");
}

#[tokio::test]
async fn reset_endpoints_are_rate_limited_per_ip() {
    let app = builder()
        .settings(|s| s.rate_limit_per_minute = 5)
        .spawn()
        .await;
    for (path, body) in [
        (
            "/api/v1/auth/password-reset/",
            json!({ "email": unique_email() }),
        ),
        (
            "/api/v1/auth/password-reset-confirm/",
            json!({ "token": "x", "new_password": NEW_PASSWORD }),
        ),
    ] {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let resp = app
                .client
                .post(app.url(path))
                .header("x-forwarded-for", "198.51.100.9")
                .body(body.to_string())
                .header("content-type", "application/json")
                .send()
                .await
                .unwrap();
            statuses.push(resp.status());
        }
        assert!(
            statuses[..5]
                .iter()
                .all(|s| *s != StatusCode::TOO_MANY_REQUESTS),
            "{path}: {statuses:?}"
        );
        assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
}
