//! An admin makes an account (`POST /api/v1/admin/users/`): with a
//! password (verified, or mailed a verification link as a registration
//! is), or without one (no password logs in, by the same answer and the
//! same work as a wrong one, and the address is mailed an invitation that
//! sets a password for 7 days); the rules of registration, 409 for a taken
//! address however the race goes, the key checks, the event and the
//! webhook.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::admin::{admin_get, admin_send, key};
use crate::helpers::{
    PASSWORD, TestApp, assert_error, builder, count, registration, remember_secret, spawn_app,
    unique_email,
};

pub(crate) const INVITATION_SUBJECT: &str = "An account was made for you: choose a password";
pub(crate) const VERIFY_SUBJECT: &str = "Verify your email address";
pub(crate) const WAIT: Duration = Duration::from_secs(10);
const USERS: &str = "/api/v1/admin/users/";

pub(crate) async fn create(app: &TestApp, key: &str, body: &Value) -> (StatusCode, Value) {
    admin_send(app, Method::POST, key, USERS, Some(body)).await
}

/// A new account's fields, without a password.
fn invitee(email: &str) -> Value {
    json!({ "email": email, "first_name": "Grace", "last_name": "Hopper" })
}

/// The user's events as the admin lists them: (kind, actor), newest first.
pub(crate) async fn admin_events(app: &TestApp, key: &str, id: &str) -> Vec<(String, Value)> {
    let path = format!("/api/v1/admin/users/{id}/events/?limit=100");
    let (status, body) = admin_get(app, key, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["actor"].clone()))
        .collect()
}

/// The token of the `n`th (1-based) mail to `to` with `subject`.
pub(crate) async fn token_in(app: &TestApp, to: &str, subject: &str, n: usize) -> String {
    let mails = app.smtp.wait_for_subject(to, subject, n, WAIT).await;
    let token = mails[n - 1].token();
    remember_secret(&token);
    token
}

#[tokio::test]
async fn a_user_made_with_a_password_is_mailed_a_verification_link_unless_verified() {
    let app = spawn_app().await;
    let ops = key(&app, "ops", false).await;
    let email = unique_email();
    let mut body = registration(&email);
    body["roles"] = json!(["editor"]);
    body["app_metadata"] = json!({ "plan": "pro" });
    let (status, answer) = create(&app, &ops, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["status_code"], json!(201));
    let user = &answer["data"]["user"];
    assert_eq!(user["email"], json!(email));
    assert_eq!(user["first_name"], json!("Ada"));
    assert_eq!(user["company_name"], json!("Analytical Engines"));
    assert_eq!(user["is_email_verified"], json!(false));
    assert_eq!(user["roles"], json!(["editor"]));
    assert_eq!(user["app_metadata"], json!({ "plan": "pro" }));
    assert_eq!(user["disabled"], json!(false));
    assert_eq!(user["sessions"], json!(0));
    let id = user["id"].as_str().unwrap().to_owned();
    // Hashed as registration hashes it.
    let row = app.user(&email).await.unwrap();
    assert!(row.password_hash.starts_with("$argon2id$"), "a PHC string");
    // Unverified: the right password gets 403 until the mailed link is used.
    assert_eq!(app.login(&email, PASSWORD).await.0, StatusCode::FORBIDDEN);
    let token = token_in(&app, &email, VERIFY_SUBJECT, 1).await;
    assert_eq!(app.verify_email(&token).await.0, StatusCode::OK);
    let (status, login) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(login["data"]["user"]["roles"], json!(["editor"]));
    let events = admin_events(&app, &ops, &id).await;
    let made = events.iter().find(|(k, _)| k == "registered").unwrap();
    assert_eq!(made.1, json!("admin:ops"), "{events:?}");

    // Verified from the start: it logs in at once, and nothing is mailed.
    let verified = unique_email();
    let mut body = registration(&verified);
    body["email_verified"] = json!(true);
    let (status, answer) = create(&app, &ops, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["data"]["user"]["is_email_verified"], json!(true));
    assert_eq!(app.login(&verified, PASSWORD).await.0, StatusCode::OK);
    let queued = app.outbox().await;
    assert!(
        !queued.iter().any(|m| m.recipient == verified),
        "a mail to a verified address made by an admin"
    );
}

#[tokio::test]
async fn an_invited_user_chooses_a_password_with_the_link_for_seven_days() {
    let app = spawn_app().await;
    let ops = key(&app, "ops", false).await;
    let (first, second) = (unique_email(), unique_email());
    for email in [&first, &second] {
        let (status, answer) = create(&app, &ops, &invitee(email)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["data"]["user"]["is_email_verified"], json!(false));
    }
    let mails = app
        .smtp
        .wait_for_subject(&first, INVITATION_SUBJECT, 1, WAIT)
        .await;
    let invitation = &mails[0];
    assert!(
        invitation.text.contains("Hello Grace"),
        "{}",
        invitation.text
    );
    assert!(invitation.text.contains("http://localhost:3000"));
    assert!(
        invitation
            .text
            .contains("http://localhost:3000/reset-password?token="),
        "{}",
        invitation.text
    );
    let first_token = token_in(&app, &first, INVITATION_SUBJECT, 1).await;
    let second_token = token_in(&app, &second, INVITATION_SUBJECT, 1).await;
    // No password of any kind logs in, with the wrong password's answer.
    let (status, body) = app.login(&first, PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["message"], json!("Invalid email or password"));
    assert_eq!(app.login(&first, "").await.0, StatusCode::UNAUTHORIZED);

    // A week less an hour later the link still works, and verifies.
    app.clock.advance_ms(7 * 24 * 3600 * 1000 - 3600 * 1000);
    let chosen = "Compiler-Grace-1952";
    let (status, body) = app.confirm_reset(&first_token, chosen).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.login(&first, chosen).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["is_email_verified"], json!(true));
    // Used once.
    let (status, _) = app.confirm_reset(&first_token, "Another-Choice-77").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Past seven days it does not.
    app.clock.advance_ms(2 * 3600 * 1000);
    let (status, body) = app.confirm_reset(&second_token, chosen).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// With a real Argon2 cost, a login to an account without a password
/// takes the time of a wrong password: the dummy hash is checked.
#[tokio::test]
async fn a_login_to_an_invited_account_costs_what_a_wrong_password_costs() {
    let app = builder()
        .settings(|s| {
            s.hash_cost = actors::HashCost {
                memory_kib: 65_536,
                iterations: 3,
                parallelism: 1,
            };
        })
        .spawn()
        .await;
    let ops = key(&app, "ops", false).await;
    let invited = unique_email();
    let (status, answer) = create(&app, &ops, &invitee(&invited)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let known = unique_email();
    let mut body = registration(&known);
    body["email_verified"] = json!(true);
    assert_eq!(create(&app, &ops, &body).await.0, StatusCode::CREATED);
    let fastest = |email: String| {
        let app = &app;
        async move {
            let mut best = Duration::MAX;
            let mut answers = Vec::new();
            for _ in 0..3 {
                let started = Instant::now();
                let (status, body) = app.login(&email, "Wrong-Password-1").await;
                best = best.min(started.elapsed());
                answers.push((status, body["message"].clone()));
            }
            (best, answers)
        }
    };
    let (wrong, wrong_answers) = fastest(known).await;
    let (none, none_answers) = fastest(invited).await;
    assert_eq!(none_answers, wrong_answers);
    assert_eq!(wrong_answers[0].0, StatusCode::UNAUTHORIZED);
    assert!(
        none * 2 > wrong,
        "no password: {none:?}, a wrong one: {wrong:?}"
    );
}

#[tokio::test]
async fn bad_fields_are_400_with_errors_and_a_taken_address_409() {
    let app = spawn_app().await;
    let ops = key(&app, "ops", false).await;
    let bad = json!({
        "email": "not an address",
        "password": "short",
        "first_name": "  ",
        "last_name": "Ok",
        "company_name": "x".repeat(201),
        "roles": ["Not A Role"],
        "app_metadata": [1],
    });
    let (status, body) = create(&app, &ops, &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, 400, "Invalid request");
    for field in [
        "email",
        "password",
        "first_name",
        "company_name",
        "roles",
        "app_metadata",
    ] {
        assert!(body["errors"][field].is_array(), "{field}: {body}");
    }
    // The rules of registration: a common password, the address itself.
    let email = unique_email();
    for password in ["Password123", email.as_str()] {
        let mut body = invitee(&email);
        body["password"] = json!(password);
        let (status, answer) = create(&app, &ops, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{password}: {answer}");
        assert!(answer["errors"]["password"].is_array(), "{answer}");
    }
    let mut unknown = invitee(&email);
    unknown["is_admin"] = json!(true);
    assert_eq!(
        create(&app, &ops, &unknown).await.0,
        StatusCode::BAD_REQUEST
    );
    assert!(app.user(&email).await.is_none(), "nothing was made");

    // Taken, compared normalised: by a registration, then by the admin.
    app.verified_user(&email).await;
    let (status, body) = create(&app, &ops, &invitee(&email.to_uppercase())).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, 409, "Conflict");
    assert!(body["errors"]["email"].is_array(), "{body}");
    let other = unique_email();
    assert_eq!(
        create(&app, &ops, &invitee(&other)).await.0,
        StatusCode::CREATED
    );
    let (status, _) = app.register(&other.to_uppercase()).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_breached_password_is_refused_as_at_registration() {
    use crate::breached::{BREACHED, Mode, RangeServer, app_with};
    let range = RangeServer::start(Mode::Serve).await;
    let app = app_with(&range, false).await;
    let ops = key(&app, "ops", false).await;
    let email = unique_email();
    let mut body = invitee(&email);
    body["password"] = json!(BREACHED);
    let (status, answer) = create(&app, &ops, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["errors"]["password"].is_array(), "{answer}");
    assert!(app.user(&email).await.is_none());
    body["password"] = json!(PASSWORD);
    assert_eq!(create(&app, &ops, &body).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn no_key_a_bad_key_and_a_read_only_key_make_nothing() {
    let app = spawn_app().await;
    let reader = key(&app, "reader", true).await;
    let email = unique_email();
    let (status, body) = create(&app, &reader, &invitee(&email)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error(&body, 403, "Forbidden");
    let (status, body) = create(&app, "adm_nonsense", &invitee(&email)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let resp = app
        .client
        .post(app.url(USERS))
        .json(&invitee(&email))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(app.user(&email).await.is_none());
    assert!(app.outbox().await.is_empty());
}

/// Rounds of a create racing a registration of one address, and of two
/// creates: exactly one account, one 201, the other 409, never a 500.
#[tokio::test]
async fn a_create_racing_a_registration_or_another_create_leaves_one_account() {
    let app = spawn_app().await;
    let ops = key(&app, "ops", false).await;
    for round in 0..4 {
        let email = unique_email();
        let upper = email.to_uppercase();
        let (lower_body, upper_body) = (invitee(&email), invitee(&upper));
        let (a, b) = if round % 2 == 0 {
            tokio::join!(create(&app, &ops, &lower_body), app.register(&upper))
        } else {
            tokio::join!(
                create(&app, &ops, &lower_body),
                create(&app, &ops, &upper_body)
            )
        };
        let statuses = [a.0, b.0];
        assert_eq!(
            count(&statuses, StatusCode::CONFLICT),
            1,
            "{round}: {a:?} {b:?}"
        );
        assert_eq!(
            count(&statuses, StatusCode::CREATED),
            1,
            "{round}: {a:?} {b:?}"
        );
        let rows = actors::store::users::Entity::find()
            .filter(actors::store::users::Column::EmailNormalized.eq(email.clone()))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{round}");
    }
}

#[tokio::test]
async fn a_created_user_is_sent_as_user_created() {
    use crate::webhooks::{Receiver, app_with, new_secret};
    let receiver = Receiver::start().await;
    let secret = new_secret();
    let app = app_with(&receiver, &[&secret], jobs::webhooks::Subscription::All).await;
    let ops = key(&app, "ops", false).await;
    let email = unique_email();
    let mut body = invitee(&email);
    body["roles"] = json!(["support"]);
    let (status, answer) = create(&app, &ops, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let id = answer["data"]["user"]["id"].clone();
    let started = Instant::now();
    let got = loop {
        let got = receiver.of_type("user.created");
        if !got.is_empty() || started.elapsed() > WAIT {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(got.len(), 1, "{got:#?}");
    let event = got[0].json();
    assert_eq!(event["data"]["user_id"], id, "{event}");
    assert_eq!(event["data"]["user"]["email"], json!(email));
    assert_eq!(event["data"]["user"]["roles"], json!(["support"]));
}
