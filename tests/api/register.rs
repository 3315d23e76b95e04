//! Registration: validation of every field, uniqueness, and what is stored.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_error, registration, spawn_app, unique_email};

async fn field_errors(app: &crate::helpers::TestApp, field: &str, value: Value) -> Value {
    let mut req = registration(&unique_email());
    req[field] = value;
    let (status, body) = app.post("/api/v1/auth/register/", &req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
    assert_error(&body, 400, "Invalid request");
    body["errors"][field].clone()
}

#[tokio::test]
async fn a_valid_registration_creates_an_unverified_user() {
    let app = spawn_app().await;
    let email = unique_email();
    let (status, body) = app.register(&email).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["status_code"], json!(201));
    let id = body["data"]["user_id"].as_str().unwrap();
    let user = app.user(&email).await.unwrap();
    assert_eq!(user.id.to_string(), id);
    assert_eq!(user.email_verified_at, None);
    assert_eq!(user.company_name.as_deref(), Some("Analytical Engines"));
    assert!(user.password_hash.starts_with("$argon2id$v=19$"));
    assert!(!user.password_hash.contains(PASSWORD));
}

#[tokio::test]
async fn email_rules_are_enforced() {
    let app = spawn_app().await;
    for bad in [
        "",
        "   ",
        "no-at-sign",
        "a@",
        "@b.org",
        "Ann <ann@x.org>",
        "ann\u{ff20}x.org",
        "a b@x.org",
    ] {
        let errors = field_errors(&app, "email", json!(bad)).await;
        assert!(errors.is_array(), "{bad:?}");
    }
    let long = format!("{}@{}.org", "a".repeat(60), "b".repeat(200));
    assert_eq!(
        field_errors(&app, "email", json!(long)).await,
        json!(["must be at most 254 characters"])
    );
}

#[tokio::test]
async fn password_rules_are_enforced_one_message_each() {
    let app = spawn_app().await;
    let cases = [
        ("Ab1", "must be at least 8 characters"),
        ("abcdefgh1", "must contain an uppercase letter"),
        ("ABCDEFGH1", "must contain a lowercase letter"),
        ("Abcdefghij", "must contain a digit"),
        ("Password1", "is too common"),
    ];
    for (password, message) in cases {
        let errors = field_errors(&app, "password", json!(password)).await;
        assert!(
            errors.as_array().unwrap().contains(&json!(message)),
            "{password}: {errors}"
        );
    }
    let long = format!("Ab1{}", "x".repeat(126));
    let errors = field_errors(&app, "password", json!(long)).await;
    assert!(
        errors
            .as_array()
            .unwrap()
            .contains(&json!("must be at most 128 characters"))
    );
}

#[tokio::test]
async fn the_first_failing_rule_is_the_message() {
    let app = spawn_app().await;
    let mut req = registration(&unique_email());
    req["password"] = json!("abcdefgh1");
    let (_, body) = app.post("/api/v1/auth/register/", &req).await;
    assert_eq!(
        body["message"],
        json!("Password must contain an uppercase letter")
    );
}

#[tokio::test]
async fn a_password_equal_to_the_email_is_refused() {
    let app = spawn_app().await;
    let mut req = registration("Ann.Lee1@Example.org");
    req["password"] = json!("ann.lee1@example.orG");
    let (status, body) = app.post("/api/v1/auth/register/", &req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["errors"]["password"]
            .as_array()
            .unwrap()
            .contains(&json!("must not be the same as the email address"))
    );
}

#[tokio::test]
async fn name_rules_are_enforced() {
    let app = spawn_app().await;
    for field in ["first_name", "last_name"] {
        assert_eq!(
            field_errors(&app, field, json!("  ")).await,
            json!(["is required"])
        );
        assert_eq!(
            field_errors(&app, field, json!("x".repeat(101))).await,
            json!(["must be at most 100 characters"])
        );
        assert_eq!(
            field_errors(&app, field, json!("Ada\u{0}")).await,
            json!(["must not contain control characters"])
        );
        assert_eq!(
            field_errors(&app, field, json!("Ada\u{1b}[2J")).await,
            json!(["must not contain control characters"])
        );
    }
    assert_eq!(
        field_errors(&app, "company_name", json!("x".repeat(201))).await,
        json!(["must be at most 200 characters"])
    );
    assert_eq!(
        field_errors(&app, "company_name", json!("Ac\nme")).await,
        json!(["must not contain control characters"])
    );
}

#[tokio::test]
async fn names_are_trimmed_and_company_is_optional() {
    let app = spawn_app().await;
    let email = unique_email();
    let mut req = registration(&email);
    req["first_name"] = json!("  Ada ");
    req.as_object_mut().unwrap().remove("company_name");
    let (status, _) = app.post("/api/v1/auth/register/", &req).await;
    assert_eq!(status, StatusCode::CREATED);
    let user = app.user(&email).await.unwrap();
    assert_eq!(user.first_name, "Ada");
    assert_eq!(user.company_name, None);
}

#[tokio::test]
async fn every_failing_field_is_reported_at_once() {
    let app = spawn_app().await;
    let req = json!({"email": "x", "password": "x", "first_name": "", "last_name": ""});
    let (status, body) = app.post("/api/v1/auth/register/", &req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for field in ["email", "password", "first_name", "last_name"] {
        assert!(body["errors"][field].is_array(), "{field}: {body}");
    }
}

#[tokio::test]
async fn the_same_email_in_another_case_gets_409() {
    let app = spawn_app().await;
    let (status, _) = app.register("Mike.Jones@Example.org").await;
    assert_eq!(status, StatusCode::CREATED);
    for other in [
        "mike.jones@example.org",
        "MIKE.JONES@EXAMPLE.ORG",
        "  mike.jones@example.org ",
    ] {
        let (status, body) = app.register(other).await;
        assert_eq!(status, StatusCode::CONFLICT, "{other}");
        assert_error(&body, 409, "Conflict");
    }
    let user = app.user("mike.jones@example.org").await.unwrap();
    assert_eq!(user.email, "Mike.Jones@Example.org", "stored as given");
}

#[tokio::test]
async fn a_decomposed_accent_is_the_same_address() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("jos\u{e9}@example.org").await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.register("jose\u{301}@example.org").await.0,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn parallel_registrations_of_one_address_create_one_user() {
    let app = spawn_app().await;
    let email = unique_email();
    let requests = (0..10).map(|i| {
        let address = if i % 2 == 0 {
            email.clone()
        } else {
            email.to_uppercase()
        };
        let app = &app;
        async move { app.register(&address).await.0 }
    });
    let statuses = futures::future::join_all(requests).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 9), "{statuses:?}");
    let rows = app.outbox().await;
    assert_eq!(rows.len(), 1, "one verification email queued");
}

#[tokio::test]
async fn the_outbox_row_is_written_with_the_user_and_holds_no_readable_token() {
    let app = crate::helpers::builder().without_worker().spawn().await;
    let email = unique_email();
    let (status, _) = app.register(&email).await;
    assert_eq!(status, StatusCode::CREATED);
    let rows = app.outbox().await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.recipient, email);
    assert_eq!(row.status, jobs::outbox::Status::Pending);
    let payload = row.payload.as_deref().unwrap();
    assert!(payload.starts_with("v1."), "sealed");
    assert!(!payload.contains("verify-email") && !payload.contains("token"));
}

#[tokio::test]
async fn limits_count_after_trimming_as_the_document_says() {
    // Found by schemathesis: 101 characters as sent, 99 after trimming.
    let app = spawn_app().await;
    let email = unique_email();
    let mut body = registration(&format!("\u{2002} {email}\u{2028}"));
    body["first_name"] = json!(format!("\u{2002}\u{2028}{}", "á".repeat(99)));
    body["last_name"] = json!(format!("{}\t ", "b".repeat(100)));
    body["company_name"] = json!(format!("  {}  ", "c".repeat(200)));
    let (status, answer) = app.post("/api/v1/auth/register/", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let user = app.user(&email).await.expect("stored");
    assert_eq!(user.first_name, "á".repeat(99));
    assert_eq!(user.last_name, "b".repeat(100));
    // One character more after trimming is refused, for each field.
    for (field, value) in [
        ("first_name", format!(" {} ", "a".repeat(101))),
        ("last_name", "b".repeat(101)),
        ("company_name", format!(" {}", "c".repeat(201))),
    ] {
        let errors = field_errors(&app, field, json!(value)).await;
        assert!(errors.is_array(), "{field}: {errors}");
    }
}
