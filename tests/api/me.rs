//! `GET`/`PATCH /auth/me/`: the caller's profile, and the roles and app
//! metadata every user object and every new access token carry.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, assert_error, builder, eventually, read, spawn_app, tokens_of, unique_email,
};

async fn me(app: &TestApp, access: &str) -> (StatusCode, Value) {
    app.get_bearer("/api/v1/auth/me/", access).await
}

async fn patch_me(app: &TestApp, access: &str, body: &Value) -> (StatusCode, Value) {
    let resp = app
        .client
        .patch(app.url("/api/v1/auth/me/"))
        .bearer_auth(access)
        .json(body)
        .send()
        .await
        .expect("request failed");
    read(resp).await
}

/// The claims of a JWT, unchecked (the server checked it).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

/// What the admin API will write: roles and app metadata of a user, set
/// here directly in the database.
async fn set_roles(app: &TestApp, email: &str, roles: &str, app_metadata: &str) {
    use actors::store::users::{Column, Entity};
    let changed = Entity::update_many()
        .col_expr(Column::Roles, Expr::value(roles))
        .col_expr(Column::AppMetadata, Expr::value(app_metadata))
        .filter(Column::EmailNormalized.eq(email.to_lowercase()))
        .exec(&app.db)
        .await
        .expect("update");
    assert_eq!(changed.rows_affected, 1);
}

#[tokio::test]
async fn me_shows_the_account_with_empty_roles_and_app_metadata() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    let (access, _) = app.tokens_for(&email, PASSWORD).await;
    let (status, body) = me(&app, &access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user = &body["data"]["user"];
    assert_eq!(user["email"], email.as_str());
    assert_eq!(user["first_name"], "Ada");
    assert_eq!(user["is_email_verified"], true);
    assert_eq!(user["roles"], json!([]));
    assert_eq!(user["app_metadata"], json!({}));
    // The same object as login's and verify-token's.
    let (_, login) = app.login(&email, PASSWORD).await;
    assert_eq!(login["data"]["user"], *user);
    assert_eq!(app.verify_token(&access).await.1["data"]["user"], *user);
}

#[tokio::test]
async fn me_needs_a_valid_bearer_token() {
    let app = spawn_app().await;
    for path in ["/api/v1/auth/me/", "/api/v1/auth/me"] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert!(resp.headers().contains_key("www-authenticate"));
        let (status, body) = read(resp).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_error(&body, 401, "Unauthorized");
    }
    let (status, _) = patch_me(&app, "not-a-token", &json!({"first_name": "Eve"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn patch_changes_only_the_given_names_and_null_clears_the_company() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    let (access, refresh) = app.tokens_for(&email, PASSWORD).await;
    let (status, body) = patch_me(
        &app,
        &access,
        &json!({"first_name": "  Grace ", "company_name": "Navy"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Profile updated");
    let user = &body["data"]["user"];
    assert_eq!(user["first_name"], "Grace");
    assert_eq!(user["company_name"], "Navy");
    let last_name = user["last_name"].clone();
    assert_eq!(last_name, "Lovelace");

    let (status, body) = patch_me(&app, &access, &json!({"company_name": null})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["user"]["company_name"].is_null(), "{body}");
    assert_eq!(body["data"]["user"]["first_name"], "Grace");

    // At once, and everywhere the user object is shown: the token check
    // on this node was told.
    let (_, verified) = app.verify_token(&access).await;
    assert_eq!(verified["data"]["user"]["first_name"], "Grace");
    assert!(verified["data"]["user"]["company_name"].is_null());
    assert_eq!(
        me(&app, &access).await.1["data"]["user"]["first_name"],
        "Grace"
    );
    let stored = app.user(&email.to_lowercase()).await.unwrap();
    assert_eq!(
        (stored.first_name.as_str(), stored.last_name.as_str()),
        ("Grace", "Lovelace")
    );
    assert_eq!(stored.company_name, None);

    // Not a credential change: the session goes on.
    assert_eq!(app.refresh(&refresh).await.0, StatusCode::OK);
    let kinds = crate::events::kinds(&app, &access).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "profile_updated").count(),
        2,
        "{kinds:?}"
    );

    // An empty change (or names given as null) changes nothing and
    // records nothing.
    for nothing in [json!({}), json!({"first_name": null, "last_name": null})] {
        let (status, body) = patch_me(&app, &access, &nothing).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["user"]["first_name"], "Grace");
        assert_eq!(body["data"]["user"]["last_name"], "Lovelace");
    }
    let again = crate::events::kinds(&app, &access).await;
    assert_eq!(again.len(), kinds.len(), "{again:?}");
}

#[tokio::test]
async fn patch_refuses_bad_names_and_every_field_it_does_not_change() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    let (access, _) = app.tokens_for(&email, PASSWORD).await;
    let cases = [
        (json!({"first_name": "   "}), "first_name"),
        (json!({"first_name": ""}), "first_name"),
        (json!({"last_name": "x".repeat(101)}), "last_name"),
        (json!({"last_name": "a\u{0}b"}), "last_name"),
        (json!({"company_name": "c".repeat(201)}), "company_name"),
        (json!({"first_name": 7}), "first_name"),
        (json!({"email": "other@example.org"}), "email"),
        (json!({"roles": ["admin"]}), "roles"),
        (json!({"app_metadata": {"plan": "pro"}}), "app_metadata"),
        (json!({"is_email_verified": true}), "is_email_verified"),
    ];
    for (body, field) in cases {
        let (status, answer) = patch_me(&app, &access, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_error(&answer, 400, "Invalid request");
        assert!(answer["errors"][field].is_array(), "{body}: {answer}");
    }
    let resp = app
        .client
        .patch(app.url("/api/v1/auth/me/"))
        .bearer_auth(&access)
        .header("content-type", "application/json")
        .body("{\"first_name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(read(resp).await.0, StatusCode::BAD_REQUEST);
    // Nothing was changed by any of them.
    let stored = app.user(&email.to_lowercase()).await.unwrap();
    assert_eq!(
        (stored.first_name.as_str(), stored.last_name.as_str()),
        ("Ada", "Lovelace")
    );
    assert_eq!(stored.roles, "[]");
}

#[tokio::test]
async fn patch_is_rate_limited_per_ip_and_get_is_not() {
    let app = builder()
        .settings(|s| s.rate_limit_per_minute = 3)
        .spawn()
        .await;
    let email = unique_email();
    app.verified_user(&email).await;
    let (access, _) = app.tokens_for(&email, PASSWORD).await;
    for _ in 0..3 {
        let (status, body) = patch_me(&app, &access, &json!({"first_name": "Ann"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = patch_me(&app, &access, &json!({"first_name": "Ann"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body["data"]["retry_after"].as_u64().unwrap() > 0);
    for _ in 0..5 {
        assert_eq!(me(&app, &access).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn roles_and_app_metadata_show_in_user_objects_and_in_tokens_issued_after_they_change() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    let (before, refresh) = app.tokens_for(&email, PASSWORD).await;
    let plain = claims(&before);
    assert!(plain.get("roles").is_none(), "{plain}");
    assert!(plain.get("app_metadata").is_none(), "{plain}");

    set_roles(
        &app,
        &email,
        r#"["admin","billing.read"]"#,
        r#"{"plan":"pro"}"#,
    )
    .await;

    // A refresh issues a token with them.
    let (status, body) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refreshed = claims(body["data"]["token"].as_str().unwrap());
    assert_eq!(refreshed["roles"], json!(["admin", "billing.read"]));
    assert_eq!(refreshed["app_metadata"], json!({"plan": "pro"}));
    // So does a login, and its user object shows them.
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["user"]["roles"],
        json!(["admin", "billing.read"])
    );
    assert_eq!(body["data"]["user"]["app_metadata"], json!({"plan": "pro"}));
    let (access, _) = tokens_of(&body);
    assert_eq!(claims(&access)["roles"], json!(["admin", "billing.read"]));
    // verify-token and me show them once the node's short cache of the
    // user has expired (the admin API will tell it at once).
    eventually(
        "verify-token shows the roles",
        Duration::from_secs(2),
        || {
            let (app, access) = (&app, access.clone());
            async move {
                app.verify_token(&access).await.1["data"]["user"]["roles"]
                    == json!(["admin", "billing.read"])
            }
        },
    )
    .await;
    let (_, body) = me(&app, &access).await;
    assert_eq!(body["data"]["user"]["app_metadata"], json!({"plan": "pro"}));
    // A token issued before keeps the claims it was issued with.
    assert!(claims(&before).get("roles").is_none());

    // Taken away: the next token has none again.
    set_roles(&app, &email, "[]", "{}").await;
    let (access, _) = app.tokens_for(&email, PASSWORD).await;
    assert!(claims(&access).get("roles").is_none());
    assert!(claims(&access).get("app_metadata").is_none());
}

/// A row that is not what authd writes (edited by hand) reads as no roles
/// and no metadata, and never fails a login or a refresh.
#[tokio::test]
async fn roles_stored_wrongly_read_as_none() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    let (_, refresh) = app.tokens_for(&email, PASSWORD).await;
    set_roles(&app, &email, "not json", r#"["not","an","object"]"#).await;
    let (status, body) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        claims(body["data"]["token"].as_str().unwrap())
            .get("roles")
            .is_none()
    );
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["roles"], json!([]));
    assert_eq!(body["data"]["user"]["app_metadata"], json!({}));
    // The raw column is untouched: authd only reads it.
    let raw = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            format!(
                "SELECT roles FROM users WHERE email_normalized = '{}'",
                email.to_lowercase()
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw.try_get::<String>("", "roles").unwrap(), "not json");
}

/// A second node sees changed names within a second (its cache of the
/// user is short, and told through Redis when there is one).
#[tokio::test]
async fn another_node_shows_the_new_names_within_a_second() {
    let app = spawn_app().await;
    let other = app.second_node().await;
    let email = unique_email();
    app.verified_user(&email).await;
    let (access, _) = app.tokens_for(&email, PASSWORD).await;
    assert_eq!(
        other.verify_token(&access).await.1["data"]["user"]["first_name"],
        "Ada"
    );
    let (status, _) = patch_me(&app, &access, &json!({"first_name": "Grace"})).await;
    assert_eq!(status, StatusCode::OK);
    eventually("the other node shows the new name", Duration::from_secs(1), || {
        let (other, access) = (&other, access.clone());
        async move { other.verify_token(&access).await.1["data"]["user"]["first_name"] == "Grace" }
    })
    .await;
}
