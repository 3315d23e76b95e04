//! The admin API: keys made by the command line's code, the key check (401,
//! 403, 429 per IP), `AUTH_ADMIN_BIND`, listing, viewing and changing
//! users, ending their sessions, unlocking them, and the events an admin's
//! change leaves (with its `actor`).

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    PASSWORD, TestApp, assert_error, builder, read, remember_secret, spawn_app, tokens_of,
    unique_email,
};

/// A key made as `authd admin create-key` makes it.
pub(crate) async fn key(app: &TestApp, name: &str, read_only: bool) -> String {
    let key = authd::admin_keys::create_key(&app.settings, name, read_only)
        .await
        .expect("create-key");
    remember_secret(&key);
    key
}

pub(crate) fn base(app: &TestApp) -> String {
    app.admin_address
        .clone()
        .unwrap_or_else(|| app.address.clone())
}

pub(crate) async fn admin_get(app: &TestApp, key: &str, path: &str) -> (StatusCode, Value) {
    let resp = app
        .client
        .get(format!("{}{path}", base(app)))
        .bearer_auth(key)
        .send()
        .await
        .expect("request failed");
    read(resp).await
}

pub(crate) async fn admin_send(
    app: &TestApp,
    method: reqwest::Method,
    key: &str,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, format!("{}{path}", base(app)))
        .bearer_auth(key);
    if let Some(body) = body {
        req = req.json(body);
    }
    read(req.send().await.expect("request failed")).await
}

pub(crate) async fn patch_user(
    app: &TestApp,
    key: &str,
    id: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let path = format!("/api/v1/admin/users/{id}/");
    admin_send(app, reqwest::Method::PATCH, key, &path, Some(body)).await
}

pub(crate) async fn user_id(app: &TestApp, email: &str) -> String {
    app.user(&email.to_lowercase())
        .await
        .expect("user")
        .id
        .to_string()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

#[tokio::test]
async fn a_key_is_printed_once_and_only_its_hash_is_stored() {
    let app = spawn_app().await;
    let made = key(&app, "backend", false).await;
    let secret = made.strip_prefix("adm_").expect("adm_ prefix");
    assert_eq!(URL_SAFE_NO_PAD.decode(secret).expect("base64url").len(), 32);
    let rows = actors::store::admin_keys::Entity::find()
        .all(&app.db)
        .await
        .expect("keys");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.name, "backend");
    assert_eq!(row.key_hash, hex::encode(Sha256::digest(made.as_bytes())));
    assert!(!format!("{row:?}").contains(secret));
    // Listed without the key; a name is used once.
    let listing = authd::admin_keys::list_keys(&app.settings).await.unwrap();
    assert!(listing.contains("backend\tread-write"), "{listing}");
    assert!(!listing.contains(secret), "{listing}");
    let again = authd::admin_keys::create_key(&app.settings, "backend", true).await;
    let error = again.expect_err("a second key of one name").to_string();
    assert!(error.contains("already used"), "{error}");
    // The key works; revoked, it does not.
    let (status, body) = admin_get(&app, &made, "/api/v1/admin/users/").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    authd::admin_keys::revoke_key(&app.settings, "backend")
        .await
        .unwrap();
    let (status, body) = admin_get(&app, &made, "/api/v1/admin/users/").await;
    assert_error(&body, 401, "Unauthorized");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let listing = authd::admin_keys::list_keys(&app.settings).await.unwrap();
    let line = listing.lines().find(|l| l.starts_with("backend")).unwrap();
    assert!(!line.ends_with("\t-"), "revoked is shown: {line}");
    assert!(
        authd::admin_keys::revoke_key(&app.settings, "backend")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn user_tokens_unknown_and_revoked_keys_get_401_and_a_read_only_key_403_on_writes() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let id = user_id(&app, &email).await;
    let path = format!("/api/v1/admin/users/{id}/");
    let unknown = format!("adm_{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
    for bad in [access.as_str(), unknown.as_str(), "adm_short", "nonsense"] {
        let (status, body) = admin_get(&app, bad, &path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}: {body}");
        assert_error(&body, 401, "Unauthorized");
    }
    let reader = key(&app, "reader", true).await;
    let (status, body) = admin_get(&app, &reader, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["email"], json!(email));
    let (status, body) = patch_user(&app, &reader, &id, &json!({ "disabled": true })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let logout = format!("/api/v1/admin/users/{id}/logout/");
    let (status, _) = admin_send(&app, reqwest::Method::POST, &reader, &logout, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.verify_token(&access).await.0, StatusCode::OK);
}

#[tokio::test]
async fn failed_keys_from_one_ip_are_limited_and_then_a_right_key_from_it_gets_429() {
    let app = builder()
        .settings(|s| s.rate_limit_per_minute = 3)
        .spawn()
        .await;
    let right = key(&app, "ops", false).await;
    let wrong = format!("adm_{}", URL_SAFE_NO_PAD.encode([9u8; 32]));
    let from = |ip: &'static str, key: String| {
        let req = app
            .client
            .get(app.url("/api/v1/admin/users/"))
            .header("x-forwarded-for", ip)
            .bearer_auth(key);
        async move { read(req.send().await.expect("request")).await }
    };
    // Right keys spend nothing.
    for _ in 0..5 {
        assert_eq!(from("203.0.113.7", right.clone()).await.0, StatusCode::OK);
    }
    for _ in 0..3 {
        assert_eq!(
            from("203.0.113.7", wrong.clone()).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, body) = from("203.0.113.7", wrong.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body["data"]["retry_after"].as_u64().unwrap() >= 1, "{body}");
    let (status, _) = from("203.0.113.7", right.clone()).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "a right key from the IP"
    );
    // Another client is not refused.
    assert_eq!(from("198.51.100.9", right.clone()).await.0, StatusCode::OK);
}

#[tokio::test]
async fn admin_bind_serves_the_admin_api_and_the_main_bind_answers_404_for_it() {
    let app = builder()
        .settings(|s| s.admin_bind = Some("127.0.0.1:0".parse().unwrap()))
        .spawn()
        .await;
    let admin = app.admin_address.clone().expect("admin listener");
    let right = key(&app, "ops", false).await;
    let on = |url: String| {
        let req = app.client.get(url).bearer_auth(&right);
        async move { read(req.send().await.expect("request")).await }
    };
    let (status, body) = on(format!("{admin}/api/v1/admin/users/")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = on(app.url("/api/v1/admin/users/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error(&body, 404, "Not found");
    // The admin listener serves nothing else; the main one the rest.
    let (status, _) = on(format!("{admin}/api/v1/auth/verify-token/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/healthz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn admin_answers_carry_no_cors_headers() {
    let origin = "https://app.example.com";
    let app = builder()
        .settings(move |s| s.cors_origins = vec![origin.to_owned()])
        .spawn()
        .await;
    let right = key(&app, "ops", false).await;
    let resp = app
        .client
        .get(app.url("/api/v1/admin/users/"))
        .header("origin", origin)
        .bearer_auth(&right)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    // The same origin gets them elsewhere (the test can fail).
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_some());
}

#[tokio::test]
async fn the_list_filters_by_address_id_and_status_and_pages_newest_first() {
    let app = spawn_app().await;
    let right = key(&app, "ops", false).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut emails = Vec::new();
    for n in 0..3 {
        let email = format!("List-{tag}-{n}@Example.org");
        app.verified_user(&email).await;
        emails.push(email);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let unverified = format!("list-{tag}-u@example.org");
    app.register(&unverified).await;
    let ids: Vec<String> = futures::future::join_all(emails.iter().map(|e| user_id(&app, e))).await;
    let list = |query: String| {
        let app = &app;
        let right = right.clone();
        async move {
            let (status, body) =
                admin_get(app, &right, &format!("/api/v1/admin/users/?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            let emails: Vec<String> = body["data"]["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_owned())
                .collect();
            (emails, body["data"]["next_cursor"].clone())
        }
    };
    // An address prefix, compared normalised; newest first.
    let (all, _) = list(format!("q=LIST-{tag}")).await;
    assert_eq!(
        all,
        [&unverified, &emails[2], &emails[1], &emails[0]].map(String::to_owned)
    );
    // Pages of two.
    let (first, next) = list(format!("q=list-{tag}&limit=2")).await;
    assert_eq!(first, all[..2]);
    let cursor = next.as_str().expect("a next page").to_owned();
    let (second, next) = list(format!("q=list-{tag}&limit=2&cursor={cursor}")).await;
    assert_eq!(second, all[2..]);
    assert!(next.is_null());
    // A user id.
    let (one, _) = list(format!("q={}", ids[1])).await;
    assert_eq!(one, [emails[1].clone()]);
    // Statuses.
    let (unv, _) = list(format!("q=list-{tag}&status=unverified")).await;
    assert_eq!(unv, std::slice::from_ref(&unverified));
    let (status, _) = patch_user(&app, &right, &ids[0], &json!({ "disabled": true })).await;
    assert_eq!(status, StatusCode::OK);
    let (disabled, _) = list(format!("q=list-{tag}&status=disabled")).await;
    assert_eq!(disabled, [emails[0].clone()]);
    let (active, _) = list(format!("q=list-{tag}&status=active")).await;
    assert_eq!(active, [emails[2].clone(), emails[1].clone()]);
    for _ in 0..5 {
        assert_eq!(
            app.login(&emails[2], "Wrong-Password-1").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (locked, _) = list(format!("q=list-{tag}&status=locked")).await;
    assert_eq!(locked, [emails[2].clone()]);
    // Bad input.
    for query in ["status=gone", "limit=0", "limit=101", "cursor=junk"] {
        let (status, body) =
            admin_get(&app, &right, &format!("/api/v1/admin/users/?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    }
}

#[tokio::test]
async fn the_admin_view_and_a_change_of_roles_and_metadata_show_in_the_next_refreshed_token() {
    let app = spawn_app().await;
    let right = key(&app, "ops", false).await;
    let (email, _, refresh) = app.logged_in_user().await;
    let id = user_id(&app, &email).await;
    let (status, body) = admin_get(&app, &right, &format!("/api/v1/admin/users/{id}/")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user = &body["data"]["user"];
    assert_eq!(user["id"], json!(id));
    assert_eq!(user["disabled"], json!(false));
    assert_eq!(user["sessions"], json!(1));
    assert_eq!(user["passkeys"], json!(0));
    assert_eq!(user["roles"], json!([]));
    assert!(user["last_login_at"].is_string(), "{user}");
    assert!(user["locked_until"].is_null(), "{user}");

    let change = json!({
        "roles": ["editor", "billing.admin"],
        "app_metadata": { "plan": "pro" },
        "first_name": "Grace",
    });
    let (status, body) = patch_user(&app, &right, &id, &change).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["user"]["roles"],
        json!(["editor", "billing.admin"])
    );
    assert_eq!(body["data"]["user"]["first_name"], json!("Grace"));
    let (status, body) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (access, _) = tokens_of(&body);
    let claims = claims(&access);
    assert_eq!(
        claims["roles"],
        json!(["editor", "billing.admin"]),
        "{claims}"
    );
    assert_eq!(claims["app_metadata"], json!({ "plan": "pro" }), "{claims}");

    // Bad input is 400 with `errors`; an unknown id 404.
    let bad = json!({ "roles": ["Not A Role"], "app_metadata": [1], "email_verified": true });
    let (status, body) = patch_user(&app, &right, &id, &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["roles"].is_array(), "{body}");
    assert!(body["errors"]["app_metadata"].is_array(), "{body}");
    let (status, body) = patch_user(&app, &right, &id, &json!({ "password": "x" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let nobody = uuid::Uuid::new_v4();
    let (status, body) = patch_user(&app, &right, &nobody.to_string(), &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    for path in [
        format!("/api/v1/admin/users/{nobody}/"),
        "/api/v1/admin/users/not-an-id/".to_owned(),
        format!("/api/v1/admin/users/{nobody}/events/"),
    ] {
        let (status, body) = admin_get(&app, &right, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_error(&body, 404, "Not found");
    }
}

#[tokio::test]
async fn disabling_ends_sessions_on_a_second_node_and_login_then_gets_403_after_a_right_password() {
    let app = spawn_app().await;
    let other = app.second_node().await;
    let right = key(&app, "ops", false).await;
    let (email, access, refresh) = app.logged_in_user().await;
    let id = user_id(&app, &email).await;
    assert_eq!(other.verify_token(&access).await.0, StatusCode::OK);
    let (status, body) = patch_user(&app, &right, &id, &json!({ "disabled": true })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["disabled"], json!(true));
    assert_eq!(body["data"]["user"]["sessions"], json!(0));
    let started = Instant::now();
    while other.verify_token(&access).await.0 != StatusCode::UNAUTHORIZED {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the second node still accepts the token after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(app.refresh(&refresh).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error(&body, 403, "Forbidden");
    assert_eq!(body["message"], json!("Account disabled"));
    let (status, body) = app.login(&email, "Wrong-Password-1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // An unknown address still gets the wrong password's answer.
    let (status, body) = app.login(&unique_email(), PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Enabled again, it logs in.
    let (status, body) = patch_user(&app, &right, &id, &json!({ "disabled": false })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.login(&email, PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn logout_ends_every_session_and_unlock_lets_a_locked_account_log_in() {
    let app = spawn_app().await;
    let right = key(&app, "ops", false).await;
    let (email, access, _) = app.logged_in_user().await;
    let id = user_id(&app, &email).await;
    let logout = format!("/api/v1/admin/users/{id}/logout/");
    let (status, body) = admin_send(&app, reqwest::Method::POST, &right, &logout, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.verify_token(&access).await.0, StatusCode::UNAUTHORIZED);

    for _ in 0..5 {
        app.login(&email, "Wrong-Password-1").await;
    }
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked first: {body}"
    );
    let (_, body) = admin_get(&app, &right, &format!("/api/v1/admin/users/{id}/")).await;
    assert!(body["data"]["user"]["locked_until"].is_string(), "{body}");
    let unlock = format!("/api/v1/admin/users/{id}/unlock/");
    let (status, body) = admin_send(&app, reqwest::Method::POST, &right, &unlock, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["user"]["locked_until"].is_null(), "{body}");
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_admin_change_is_an_event_of_the_user_with_the_key_as_actor() {
    let app = spawn_app().await;
    let right = key(&app, "support-desk", false).await;
    let (email, access, _) = app.logged_in_user().await;
    let id = user_id(&app, &email).await;
    let (status, _) = patch_user(&app, &right, &id, &json!({ "roles": ["editor"] })).await;
    assert_eq!(status, StatusCode::OK);
    // The user sees it, with its actor; their own events have none.
    let (status, body) = app.get_bearer("/api/v1/auth/events/", &access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = body["data"]["events"].as_array().unwrap();
    assert_eq!(events[0]["kind"], json!("roles_changed"), "{body}");
    assert_eq!(events[0]["actor"], json!("admin:support-desk"));
    let own = events
        .iter()
        .find(|e| e["kind"] == json!("login_succeeded"));
    assert!(own.is_some_and(|e| e["actor"].is_null()), "{body}");
    // The admin's lists.
    let (status, body) = admin_get(
        &app,
        &right,
        &format!("/api/v1/admin/users/{id}/events/?limit=1"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["events"][0]["kind"], json!("roles_changed"));
    assert!(body["data"]["next_before"].is_string(), "{body}");
    let (status, body) = admin_get(
        &app,
        &right,
        "/api/v1/admin/events/?kind=roles_changed&limit=100",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = body["data"]["events"].as_array().unwrap();
    assert!(
        events.iter().all(|e| e["kind"] == json!("roles_changed")),
        "{body}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["user_id"] == json!(id) && e["actor"] == json!("admin:support-desk")),
        "{body}"
    );
    let (status, _) = admin_get(&app, &right, "/api/v1/admin/events/?kind=DROP%20TABLE").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn two_parallel_changes_of_one_user_leave_a_consistent_row() {
    let app = spawn_app().await;
    let right = key(&app, "ops", false).await;
    let (email, _, _) = app.logged_in_user().await;
    let id = user_id(&app, &email).await;
    let a = json!({ "first_name": "Alan", "roles": ["a"], "disabled": true });
    let b = json!({ "first_name": "Barbara", "roles": ["b"], "disabled": false });
    let (ra, rb) = tokio::join!(
        patch_user(&app, &right, &id, &a),
        patch_user(&app, &right, &id, &b)
    );
    assert_eq!(ra.0, StatusCode::OK, "{}", ra.1);
    assert_eq!(rb.0, StatusCode::OK, "{}", rb.1);
    let (_, body) = admin_get(&app, &right, &format!("/api/v1/admin/users/{id}/")).await;
    let user = &body["data"]["user"];
    let consistent = (user["first_name"] == json!("Alan")
        && user["roles"] == json!(["a"])
        && user["disabled"] == json!(true))
        || (user["first_name"] == json!("Barbara")
            && user["roles"] == json!(["b"])
            && user["disabled"] == json!(false));
    assert!(consistent, "{user}");
}

#[tokio::test]
async fn the_binary_prints_a_key_once_refuses_a_second_of_one_name_and_revokes() {
    let app = spawn_app().await;
    let run = |args: &[&str]| {
        let out = crate::binary::authd(app.dir.path())
            .env("AUTH_DATABASE_URL", &app.settings.database_url)
            .args(args)
            .output()
            .expect("authd runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run(&["admin", "create-key", "--name", "cli-key", "--read-only"]);
    assert!(ok, "{stderr}");
    let made = stdout.trim().to_owned();
    remember_secret(&made);
    assert!(made.starts_with("adm_") && made.len() == 47, "{stdout}");
    assert!(!stderr.contains(&made[4..]), "{stderr}");
    let (ok, stdout, stderr) = run(&["admin", "create-key", "--name", "cli-key"]);
    assert!(!ok, "a second key of one name: {stdout}");
    assert!(stderr.contains("already used"), "{stderr}");
    assert!(!stdout.contains("adm_"), "no key printed: {stdout}");
    let (ok, stdout, _) = run(&["admin", "list-keys"]);
    assert!(ok);
    assert!(stdout.contains("cli-key\tread-only"), "{stdout}");
    assert!(!stdout.contains(&made[4..]), "{stdout}");
    let (status, body) = admin_get(&app, &made, "/api/v1/admin/users/").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (ok, _, stderr) = run(&["admin", "revoke-key", "cli-key"]);
    assert!(ok, "{stderr}");
    let (status, _) = admin_get(&app, &made, "/api/v1/admin/users/").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (ok, _, _) = run(&["admin", "revoke-key", "cli-key"]);
    assert!(!ok, "no live key of that name");
}
