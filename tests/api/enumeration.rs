//! Login must not tell who has an account: an address with no account goes
//! through the same gate, writes and answers as one with an account.

use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, spawn_app, unique_email};

const WRONG: &str = "Wrong-Password-99";

/// Four wrong passwords at once, then one at a time up to the seventh.
async fn wrong_attempts(app: &TestApp, email: &str) -> Vec<(StatusCode, Value)> {
    let mut out = futures::future::join_all((0..4).map(|_| app.login(email, WRONG))).await;
    for _ in 4..7 {
        out.push(app.login(email, WRONG).await);
    }
    out
}

#[tokio::test]
async fn known_and_unknown_addresses_get_the_same_answers_to_the_same_attempts() {
    let app = spawn_app().await;
    let known = unique_email();
    app.verified_user(&known).await;
    let unknown = unique_email();

    let for_known = wrong_attempts(&app, &known).await;
    let for_unknown = wrong_attempts(&app, &unknown).await;
    let statuses: Vec<u16> = for_known.iter().map(|(s, _)| s.as_u16()).collect();
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 429, 429],
        "{for_known:?}"
    );
    assert_eq!(for_known, for_unknown);
}

#[tokio::test]
async fn failures_for_an_address_with_no_account_are_counted_without_the_address() {
    let app = spawn_app().await;
    let unknown = unique_email();
    for _ in 0..3 {
        assert_eq!(app.login(&unknown, WRONG).await.0, StatusCode::UNAUTHORIZED);
    }
    let rows = actors::store::address_failures::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].failed_attempts, 3);
    let local_part = unknown.split('@').next().unwrap();
    assert!(!format!("{rows:?}").contains(local_part));
    // Another spelling of the same address shares the count.
    app.login(&unknown.to_uppercase(), WRONG).await;
    let rows = actors::store::address_failures::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!((rows.len(), rows[0].failed_attempts), (1, 4));
}

#[tokio::test]
async fn a_right_password_upgrades_a_hash_made_at_an_older_cost() {
    let app = spawn_app().await;
    let (email, _, _) = app.logged_in_user().await;
    let before = app
        .user(&email)
        .await
        .unwrap()
        .password_hash
        .as_str()
        .to_owned();
    assert!(before.contains("m=1024,"), "{before}");

    let app = app.restart_with(|s| s.hash_cost.memory_kib = 2048).await;
    // A wrong password changes nothing.
    assert_eq!(app.login(&email, WRONG).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.user(&email).await.unwrap().password_hash.as_str(),
        before
    );
    let (access, _) = app.tokens_for(&email, PASSWORD).await;
    let after = app
        .user(&email)
        .await
        .unwrap()
        .password_hash
        .as_str()
        .to_owned();
    assert!(after.contains("m=2048,"), "{after}");
    let (access2, _) = app.tokens_for(&email, PASSWORD).await;
    assert_eq!(
        app.user(&email).await.unwrap().password_hash.as_str(),
        after
    );

    // A change of password right after an upgrade still works.
    let app = app.restart_with(|s| s.hash_cost.memory_kib = 4096).await;
    let (status, body) = app
        .change_password(&access, PASSWORD, "Another-Horse-77")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let _ = access2;
}

/// Sends `path` for `email` while the work behind it is held: the answer
/// must come before that work, whatever the address.
async fn answered_before_the_work(app: &TestApp, path: &str, email: &str) {
    let pause = app.hooks.before_mail_request.clone();
    pause.arm();
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        app.post(path, &serde_json::json!({ "email": email })),
    )
    .await
    .expect("answered while its lookup and writes are held");
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    pause.reached().await;
    pause.resume();
}

#[tokio::test]
async fn mail_requests_answer_before_they_look_the_address_up() {
    let app = spawn_app().await;
    let unverified = unique_email();
    let (status, _) = app.register(&unverified).await;
    assert_eq!(status, StatusCode::CREATED);
    let verified = unique_email();
    app.verified_user(&verified).await;

    answered_before_the_work(&app, "/api/v1/auth/resend-verification/", &unverified).await;
    answered_before_the_work(&app, "/api/v1/auth/password-reset/", &verified).await;
    // The work still happens once it is let go.
    let mails = app
        .smtp
        .wait_for(&unverified, 2, std::time::Duration::from_secs(10))
        .await;
    for mail in &mails {
        crate::helpers::remember_secret(&mail.token());
    }
    let token = app.reset_token(&verified, 1).await;
    assert_eq!(token.len(), 43);
}
