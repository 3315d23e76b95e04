//! Alerts the owner can act on: a sign-in from a new device, a reused
//! refresh token, a lock by failures from elsewhere. Each arrives once,
//! says when and from where, and carries no token.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, count, remember_secret, spawn_app, tokens_of, unique_email,
};
use crate::smtp::Mail;

/// (outbox kind, mail subject) of each alert.
const NEW_DEVICE: (&str, &str) = ("new_device_login", "New sign-in to your account");
const REUSED: (&str, &str) = (
    "refresh_token_reused",
    "A session of yours was ended: its token was used twice",
);
const LOCKED: (&str, &str) = (
    "account_locked",
    "Your account was locked after failed sign-ins",
);
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const WRONG: &str = "Wrong-Password-99";

impl TestApp {
    /// A login from `ip` with user agent `ua`; remembers every token it got.
    async fn login_as(&self, ip: &str, ua: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(self.url("/api/v1/auth/login/"))
            .header("x-forwarded-for", ip)
            .header("user-agent", ua)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, body) = crate::helpers::read(resp).await;
        for key in ["token", "refresh_token", "device_token"] {
            if let Some(s) = body["data"][key].as_str() {
                remember_secret(s);
            }
        }
        (status, body)
    }

    async fn put_alerts(&self, access: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut request = self
            .client
            .put(self.url("/api/v1/auth/alerts/"))
            .json(&body);
        if let Some(access) = access {
            request = request.bearer_auth(access);
        }
        crate::helpers::read(request.send().await.unwrap()).await
    }

    async fn refresh_from(&self, ip: &str, refresh_token: &str) -> StatusCode {
        self.client
            .post(self.url("/api/v1/auth/token/refresh/"))
            .header("x-forwarded-for", ip)
            .json(&json!({ "refresh_token": refresh_token }))
            .send()
            .await
            .unwrap()
            .status()
    }

    /// The alerts of `kind` queued for `email`, once each has arrived as a
    /// mail. The outbox row is written before the request that caused it
    /// is answered, so the count is final; delivery order is not (a reset
    /// mail is no fence on a queue with parallel workers).
    async fn alerts_to(&self, email: &str, alert: (&str, &str)) -> Vec<Mail> {
        let (kind, subject) = alert;
        let queued = self
            .outbox()
            .await
            .into_iter()
            .filter(|r| r.recipient == email && r.kind == kind)
            .count();
        if queued == 0 {
            return Vec::new();
        }
        let mails = self
            .smtp
            .wait_for_subject(email, subject, queued, Duration::from_secs(10))
            .await;
        assert_eq!(mails.len(), queued, "each queued alert arrives once");
        mails
    }
}

fn credentials(email: &str) -> Value {
    json!({ "email": email, "password": PASSWORD })
}

/// The mail says when and from where, and carries none of `tokens`.
pub fn assert_reports(mail: &Mail, ip: &str, browser: &str, tokens: &[&str]) {
    for body in [&mail.text, &mail.html] {
        assert!(body.contains(ip), "{body}");
        assert!(body.contains(browser), "{body}");
        assert!(body.contains(" UTC"), "{body}");
        assert!(body.contains("reset-password"), "{body}");
        assert!(!body.contains("token="), "{body}");
    }
    for token in tokens {
        assert!(!mail.raw.contains(token), "a token in the mail");
    }
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_mails_the_owner_once_and_a_known_device_does_not() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    // The first login of an account is no news.
    let (status, first) = app
        .login_as("192.0.2.1", FIREFOX, credentials(&email))
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let device = first["data"]["device_token"].as_str().unwrap().to_owned();

    let (status, second) = app
        .login_as("2001:db8::5", FIREFOX, credentials(&email))
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let mut known = credentials(&email);
    known["device_token"] = json!(device);
    let (status, third) = app.login_as("192.0.2.1", FIREFOX, known).await;
    assert_eq!(status, StatusCode::OK, "{third}");

    let mails = app.alerts_to(&email, NEW_DEVICE).await;
    assert_eq!(mails.len(), 1, "one alert: the second login's");
    let (access, refresh) = tokens_of(&second);
    let device = second["data"]["device_token"].as_str().unwrap();
    assert_reports(
        &mails[0],
        "2001:db8::5",
        "Firefox on Linux",
        &[&access, &refresh, device],
    );
}

#[tokio::test]
async fn new_device_alerts_stop_at_five_an_hour_per_account() {
    let app = spawn_app().await;
    let (email, _, _) = app.logged_in_user().await;
    let logins = futures::future::join_all((0..8).map(|i| {
        let (app, email) = (&app, &email);
        async move {
            let ip = format!("203.0.113.{i}");
            app.login_as(&ip, FIREFOX, credentials(email)).await
        }
    }))
    .await;
    assert!(logins.iter().all(|(status, _)| *status == StatusCode::OK));
    let mails = app.alerts_to(&email, NEW_DEVICE).await;
    assert_eq!(mails.len(), 5, "capped at five");
    // Another account's budget is its own.
    let (other, _, _) = app.logged_in_user().await;
    let (status, _) = app
        .login_as("203.0.113.99", FIREFOX, credentials(&other))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.alerts_to(&other, NEW_DEVICE).await.len(), 1);
}

#[tokio::test]
async fn the_owner_can_turn_the_new_device_alert_off_but_not_the_others() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let (status, body) = app.get_bearer("/api/v1/auth/alerts/", &access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["new_device"], json!(true));
    assert!(
        body["data"]["always_on"]
            .as_array()
            .unwrap()
            .contains(&json!("refresh_token_reused"))
    );

    let (status, body) = app
        .put_alerts(
            Some(&access),
            json!({ "new_device": false, "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app.get_bearer("/api/v1/auth/alerts/", &access).await;
    assert_eq!(body["data"]["new_device"], json!(false), "{body}");
    for bad in [
        json!({ "new_device": "no" }),
        json!({}),
        json!({ "new_device": false, "x": 1 }),
    ] {
        let (status, body) = app.put_alerts(Some(&access), bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, body) = app.get_bearer("/api/v1/auth/events/", &access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"]["events"][0]["kind"],
        json!("alerts_changed"),
        "{body}"
    );

    let (status, _) = app
        .login_as("203.0.113.9", FIREFOX, credentials(&email))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(app.alerts_to(&email, NEW_DEVICE).await.is_empty());
    // Without a token nothing can be changed.
    let (status, _) = app.put_alerts(None, json!({ "new_device": true })).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_reused_refresh_token_mails_the_owner_once_however_many_replays_race() {
    let app = spawn_app().await;
    let (email, _, refresh) = app.logged_in_user().await;
    let (status, body) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (access2, refresh2) = tokens_of(&body);

    let statuses: Vec<StatusCode> =
        futures::future::join_all((0..10).map(|_| app.refresh_from("198.51.100.77", &refresh)))
            .await;
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED),
        10,
        "{statuses:?}"
    );
    // Replayed again later: the session is already ended, no new alert.
    assert_eq!(
        app.refresh_from("198.51.100.77", &refresh).await,
        StatusCode::UNAUTHORIZED
    );

    let mails = app.alerts_to(&email, REUSED).await;
    assert_eq!(mails.len(), 1, "one alert for one ended session");
    assert_reports(
        &mails[0],
        "198.51.100.77",
        "an unknown browser",
        &[&refresh, &access2, &refresh2],
    );
}

#[tokio::test]
async fn a_lock_from_elsewhere_mails_the_owner_once_and_a_device_lock_does_not() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let device = body["data"]["device_token"].as_str().unwrap().to_owned();
    remember_secret(&device);

    // The owner's own device fails five times: that locks the device only.
    for _ in 0..5 {
        let body = json!({ "email": email, "password": WRONG, "device_token": device });
        let (status, _) = app.login_as("192.0.2.1", FIREFOX, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let wrong = json!({ "email": email, "password": WRONG });
    let statuses: Vec<StatusCode> = futures::future::join_all((0..30).map(|i| {
        let ip = format!("198.51.100.{i}");
        let wrong = wrong.clone();
        let app = &app;
        async move { app.login_as(&ip, FIREFOX, wrong).await.0 }
    }))
    .await;
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED),
        5,
        "{statuses:?}"
    );

    let mails = app.alerts_to(&email, LOCKED).await;
    assert_eq!(mails.len(), 1, "one alert for the account's lock");
    assert_reports(&mails[0], "198.51.100.", "Firefox on Linux", &[&device]);

    // The lock runs out; the next failure locks again (for longer), in the
    // same run of failures: no second mail.
    app.clock.advance_ms(61_000);
    let (status, _) = app.login_as("198.51.100.200", FIREFOX, wrong.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.login_as("198.51.100.201", FIREFOX, wrong).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "locked again");
    assert_eq!(app.alerts_to(&email, LOCKED).await.len(), 1);
}

#[tokio::test]
async fn two_factor_on_and_off_say_when_and_where_and_carry_no_secret() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let body = json!({ "password": PASSWORD, "totp_code": app.code_now(&user.secret) });
    let (status, body) = app
        .post_bearer("/api/v1/2fa/disable", &user.access, &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut secrets = vec![user.secret.as_str(), user.access.as_str()];
    secrets.extend(user.backup_codes.iter().map(String::as_str));
    for subject in [
        "Two-factor authentication is on",
        "Two-factor authentication is off",
    ] {
        let mail = app.notice(&user.email, subject, 1).await;
        // The test client sends no user agent and no forwarded address.
        assert_reports(&mail, "127.0.0.1", "an unknown browser", &secrets);
    }
}
