//! Deleting an account (`DELETE /api/v1/auth/me/`) and exporting its data
//! (`POST /api/v1/auth/me/export/`).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement};
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, assert_error, builder, count, remember_secret, spawn_app, tokens_of,
    unique_email,
};
use crate::mfa_helpers::MfaUser;

const ME: &str = "/api/v1/auth/me/";
const EXPORT: &str = "/api/v1/auth/me/export/";
const WRONG: &str = "Wrong-Password-9";

impl TestApp {
    async fn delete_account(&self, access: &str, body: &Value) -> (StatusCode, Value) {
        self.send(Method::DELETE, ME, Some(access), Some(body))
            .await
    }

    async fn user_id(&self, email: &str) -> uuid::Uuid {
        self.user(email).await.expect("the user exists").id.0
    }

    /// Tables with a `user_id` column and how many of their rows are `id`'s.
    pub(crate) async fn rows_of(&self, id: uuid::Uuid) -> Vec<(String, i64)> {
        let backend = self.db.get_database_backend();
        let tables = match backend {
            DbBackend::Postgres => {
                "SELECT table_name AS name FROM information_schema.columns \
                 WHERE column_name = 'user_id' AND table_schema = current_schema()"
            }
            _ => {
                "SELECT m.name AS name FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND p.name = 'user_id'"
            }
        };
        let rows = self
            .db
            .query_all_raw(Statement::from_string(backend, tables))
            .await
            .unwrap();
        let mut out = Vec::new();
        for row in rows {
            let table: String = row.try_get("", "name").unwrap();
            let n = self
                .count_where(
                    &format!("SELECT count(*) AS n FROM {table} WHERE user_id = $1"),
                    id,
                )
                .await;
            out.push((table, n));
        }
        out.sort();
        out
    }

    pub(crate) async fn count_where(&self, sql: &str, id: uuid::Uuid) -> i64 {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(backend, sql, [id.into()]))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").unwrap()
    }

    pub(crate) async fn count_all(&self, table: &str) -> i64 {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT count(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").unwrap()
    }

    /// A linked identity, a link flow in flight and an unused sign-in code
    /// of user `id` (as the provider's flows leave them; sign-in itself is
    /// tested in oidc.rs).
    async fn oidc_rows(&self, id: uuid::Uuid) {
        use actors::store::{identities, oidc_codes, oidc_flows};
        use sea_orm::{EntityTrait, Set};
        let user_id = actors::UserId(id);
        let now = jobs::Clock::now_ms(self.clock.as_ref());
        identities::Entity::insert(identities::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            user_id: Set(user_id),
            provider: Set("test".into()),
            subject: Set(format!("sub-{id}")),
            email: Set(None),
            created_at: Set(now),
        })
        .exec_without_returning(&self.db)
        .await
        .unwrap();
        oidc_flows::Entity::insert(oidc_flows::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            state_hash: Set(format!("state-{id}")),
            binding_hash: Set("binding".into()),
            provider: Set("test".into()),
            redirect_to: Set("http://app.example/".into()),
            user_id: Set(Some(user_id)),
            nonce: Set("nonce".into()),
            pkce_verifier: Set("sealed".into()),
            created_at: Set(now),
            expires_at: Set(now + 600_000),
            used_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await
        .unwrap();
        oidc_codes::Entity::insert(oidc_codes::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            code_hash: Set(format!("code-{id}")),
            user_id: Set(user_id),
            provider: Set("test".into()),
            binding_hash: Set("binding".into()),
            created_at: Set(now),
            expires_at: Set(now + 60_000),
            used_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await
        .unwrap();
    }

    /// The password and the code due now (the clock then moves on a step).
    fn password_and_code(&self, user: &MfaUser) -> Value {
        let code = self.code_now(&user.secret);
        self.next_step();
        json!({ "password": PASSWORD, "totp_code": code })
    }
}

/// The tables every deletion must empty of the user's rows: all that have
/// a `user_id` column but the audit trail (one bare event stays) and the
/// outbox (the deletion mail must still go out).
const EMPTIED: [&str; 13] = [
    "backup_codes",
    "devices",
    "identities",
    "mfa_challenges",
    "mfa_secrets",
    "oidc_codes",
    "oidc_flows",
    "one_time_tokens",
    "passkeys",
    "refresh_tokens",
    "sessions",
    "users",
    "webauthn_challenges",
];

#[tokio::test]
async fn deleting_an_account_removes_every_row_keyed_to_it_and_mails_the_owner() {
    // A webhook endpoint (down: the rows stay pending), so its deliveries
    // have rows of the user too.
    let hook = jobs::webhooks::Endpoint::new(
        "http://127.0.0.1:9/hook",
        vec![
            jobs::webhooks::WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
        ],
        jobs::webhooks::Subscription::All,
    )
    .unwrap();
    let app = builder()
        .settings(move |s| s.webhooks = vec![hook])
        .spawn()
        .await;
    let email = unique_email();
    // Failures for the address before it had an account.
    assert_eq!(app.login(&email, WRONG).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.count_all("address_failures").await, 1);
    app.verified_user(&email).await;
    let (access, _) = app.tokens_for(&email, PASSWORD).await;
    let (status, body) = app.enable_mfa(&access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = body["data"]["secret_key"].as_str().unwrap().to_owned();
    let (status, _) = app.confirm_mfa(&access, &app.code_now(&secret)).await;
    assert_eq!(status, StatusCode::OK);
    app.next_step();
    let user = MfaUser {
        email: email.clone(),
        access: access.clone(),
        secret,
        backup_codes: Vec::new(),
    };
    app.add_mfa_passkey(&user, "Laptop").await;
    // Something in every table: a second session (a 2FA login), an open
    // mfa_token, a reset link, a passkey registration left unfinished.
    let mfa_token = app.mfa_token(&email).await;
    let (status, _) = app
        .mfa_verify(&mfa_token, &app.code_now(&user.secret))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.next_step();
    app.mfa_token(&email).await;
    assert_eq!(app.request_reset(&email).await.0, StatusCode::OK);
    app.mfa_passkey_options(&user).await;
    let id = app.user_id(&email).await;
    app.oidc_rows(id).await;
    let before = app.rows_of(id).await;
    let reset_link = || async {
        app.count_where(
            "SELECT count(*) AS n FROM one_time_tokens WHERE user_id = $1 AND purpose = 'password_reset'",
            id,
        )
        .await
    };
    crate::helpers::eventually("the reset link", Duration::from_secs(10), || async {
        reset_link().await == 1
    })
    .await;
    let before_named: Vec<&str> = before.iter().map(|(t, _)| t.as_str()).collect();
    for table in EMPTIED.iter().filter(|t| **t != "users") {
        assert!(before_named.contains(table), "{table}: no user_id column?");
    }
    let mut expected: Vec<&str> = EMPTIED.to_vec();
    expected.extend(["audit_events", "email_outbox", "webhook_deliveries"]);
    expected.retain(|t| *t != "users");
    expected.sort_unstable();
    assert_eq!(
        before_named, expected,
        "a table keyed to users that deletion does not know about"
    );
    for (table, n) in &before {
        assert!(
            *n > 0,
            "{table} has no row of the user before: the test proves nothing"
        );
    }

    let (status, body) = app
        .delete_account(&access, &app.password_and_code(&user))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    assert!(app.user(&email.to_lowercase()).await.is_none());
    for (table, n) in app.rows_of(id).await {
        match table.as_str() {
            "audit_events" => assert_eq!(n, 1, "one event stays"),
            "email_outbox" => assert!(n > 0),
            // `user.deleted` (and any event still pending) is still to go.
            "webhook_deliveries" => assert!(n > 0),
            other => assert_eq!(n, 0, "{other} keeps rows of the deleted user"),
        }
    }
    assert_eq!(app.count_all("address_failures").await, 0);
    let event = actors::store::audit_events::Entity::find()
        .filter(actors::store::audit_events::Column::UserId.eq(actors::UserId(id)))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.kind, "account_deleted");
    assert_eq!(
        (event.ip, event.user_agent, event.request_id),
        (None, None, None)
    );

    let mail = app.notice(&email, "Your account was deleted", 1).await;
    assert!(!mail.text.contains("http"), "{}", mail.text);
    assert!(!mail.html.contains("href"), "{}", mail.html);
    assert!(
        app.outbox()
            .await
            .iter()
            .any(|r| r.kind == "account_deleted" && r.user_id == Some(id)),
        "the outbox row outlives the user"
    );
}

#[tokio::test]
async fn every_token_of_a_deleted_account_is_refused_on_both_nodes_within_a_second() {
    let a = builder().spawn().await;
    let b = a.second_node().await;
    let email = unique_email();
    a.verified_user(&email).await;
    let (access, refresh) = a.tokens_for(&email, PASSWORD).await;
    let (other_access, _) = b.tokens_for(&email, PASSWORD).await;
    for token in [&access, &other_access] {
        assert_eq!(
            b.verify_token(token).await.0,
            StatusCode::OK,
            "B has seen it valid"
        );
        assert_eq!(a.verify_token(token).await.0, StatusCode::OK);
    }
    let (status, body) = a
        .delete_account(&access, &json!({ "password": PASSWORD }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    refused_here_at_once_and_there_within_a_second(&a, &b, &[&access, &other_access]).await;
    assert_eq!(b.refresh(&refresh).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = b.get_bearer("/api/v1/auth/sessions/", &other_access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Every one of `tokens` is refused by node `a` (where the change was
/// made) at once and by node `b` within a second.
pub(crate) async fn refused_here_at_once_and_there_within_a_second(
    a: &TestApp,
    b: &TestApp,
    tokens: &[&str],
) {
    for token in tokens {
        assert_eq!(a.verify_token(token).await.0, StatusCode::UNAUTHORIZED);
    }
    let started = Instant::now();
    for token in tokens {
        loop {
            if b.verify_token(token).await.0 == StatusCode::UNAUTHORIZED {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "node B still accepts a token of the account after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

#[tokio::test]
async fn a_deleted_address_is_unknown_everywhere_and_registers_again() {
    let app = spawn_app().await;
    let email = unique_email();
    let never = unique_email();
    app.verified_user(&email).await;
    let (access, _) = app.tokens_for(&email, PASSWORD).await;
    let old_id = app.user_id(&email).await;
    // Failures from elsewhere lock the account; the owner's session (its
    // own device budget) still deletes it.
    for _ in 0..5 {
        app.login_from("203.0.113.9", &email, WRONG).await;
    }
    assert_eq!(
        app.login(&email, PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "the account is locked"
    );
    let (status, body) = app
        .delete_account(&access, &json!({ "password": PASSWORD }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Login: the same answer as an address never registered, not 429.
    let (status, gone) = app.login(&email, PASSWORD).await;
    let (never_status, never_body) = app.login(&never, PASSWORD).await;
    assert_eq!(
        (status, never_status),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(gone, never_body);
    // Reset and resend: the same answer, and no mail.
    let mails_before = app.outbox().await.len();
    for path in [
        "/api/v1/auth/password-reset/",
        "/api/v1/auth/resend-verification/",
    ] {
        let (s1, b1) = app.post(path, &json!({ "email": email })).await;
        let (s2, b2) = app.post(path, &json!({ "email": never })).await;
        assert_eq!((s1, &b1), (s2, &b2), "{path}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.outbox().await.len(),
        mails_before,
        "a mail went to a deleted address"
    );

    // It registers again, as a new account that logs in.
    let (status, body) = app.register(&email).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mails = app
        .smtp
        .wait_for_subject(
            &email,
            "Verify your email address",
            2,
            Duration::from_secs(10),
        )
        .await;
    let token = mails[1].token();
    remember_secret(&token);
    assert_eq!(app.verify_email(&token).await.0, StatusCode::OK);
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokens_of(&body);
    assert_ne!(app.user_id(&email).await, old_id);
}

#[tokio::test]
async fn a_wrong_password_is_401_counts_a_failure_and_deletes_nothing() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let id = app.user_id(&email).await;
    let (status, body) = app
        .delete_account(&access, &json!({ "password": WRONG }))
        .await;
    assert_error(&body, 401, "Unauthorized");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app.delete_account(&access, &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["password"].is_array(), "{body}");
    assert!(app.user(&email).await.is_some());
    // Counted on the device this session logged in with.
    let failures: i64 = app
        .count_where(
            "SELECT COALESCE(SUM(failed_attempts), 0) AS n FROM devices WHERE user_id = $1",
            id,
        )
        .await;
    assert_eq!(failures, 1);
    assert_eq!(
        app.count_where(
            "SELECT count(*) AS n FROM audit_events WHERE user_id = $1 AND kind = 'login_failed'",
            id,
        )
        .await,
        1
    );
    for _ in 0..4 {
        app.delete_account(&access, &json!({ "password": WRONG }))
            .await;
    }
    let (status, _) = app
        .delete_account(&access, &json!({ "password": PASSWORD }))
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the device is locked"
    );
    assert!(app.user(&email).await.is_some());
}

#[tokio::test]
async fn with_2fa_deleting_needs_a_right_code() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let (status, body) = app
        .delete_account(&user.access, &json!({ "password": PASSWORD }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["errors"]["totp_code"].is_array(), "{body}");
    let (status, body) = app
        .delete_account(
            &user.access,
            &json!({ "password": PASSWORD, "totp_code": "000000" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(app.user(&user.email).await.is_some());
    let (status, body) = app
        .delete_account(&user.access, &app.password_and_code(&user))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(app.user(&user.email).await.is_none());
}

#[tokio::test]
async fn parallel_deletions_give_exactly_one_200_and_no_500() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let body = json!({ "password": PASSWORD });
    let statuses =
        crate::helpers::parallel_statuses((0..8).map(|_| app.delete_account(&access, &body))).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert!(app.user(&email).await.is_none());
    let kinds = app.outbox().await;
    assert_eq!(
        kinds.iter().filter(|r| r.kind == "account_deleted").count(),
        1,
        "one mail"
    );
}

#[tokio::test]
async fn a_deletion_racing_logins_and_refreshes_leaves_no_session() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    let (access, _) = app.tokens_for(&email, PASSWORD).await;
    let body = json!({ "password": PASSWORD });
    race_logins_and_refreshes(&app, &email, app.delete_account(&access, &body)).await;
}

/// Runs `delete` (a deletion of `email`'s account, which must answer 200)
/// while four logins of the account and the refreshes of four of its
/// sessions run; then no answer was a 500, no token issued in the race is
/// accepted, and no row of the account is left but its event and mails.
pub(crate) async fn race_logins_and_refreshes(
    app: &TestApp,
    email: &str,
    delete: impl std::future::Future<Output = (StatusCode, Value)>,
) {
    let mut refreshes = Vec::new();
    for _ in 0..4 {
        refreshes.push(app.tokens_for(email, PASSWORD).await.1);
    }
    let id = app.user_id(email).await;
    let logins = futures::future::join_all((0..4).map(|_| app.login(email, PASSWORD)));
    let refreshed = futures::future::join_all(refreshes.iter().map(|r| app.refresh(r)));
    let ((deleted, body), logged, rotated) = tokio::join!(delete, logins, refreshed);
    assert_eq!(deleted, StatusCode::OK, "{body}");
    for (status, answer) in logged.iter().chain(&rotated) {
        assert_ne!(*status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
        if let Some(token) = answer["data"]["token"].as_str() {
            remember_secret(token);
            assert_eq!(
                app.verify_token(token).await.0,
                StatusCode::UNAUTHORIZED,
                "a token issued in the race outlives the account"
            );
        }
        if let Some(token) = answer["data"]["refresh_token"].as_str() {
            remember_secret(token);
            assert_eq!(app.refresh(token).await.0, StatusCode::UNAUTHORIZED);
        }
    }
    for (table, n) in app.rows_of(id).await {
        if !matches!(table.as_str(), "audit_events" | "email_outbox") {
            assert_eq!(n, 0, "{table} keeps rows of the deleted user");
        }
    }
}

#[tokio::test]
async fn a_passwordless_account_deletes_with_a_fresh_login_only() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let (mut key, _) = app.add_passkey(&access, "Laptop").await;
    // No way to make one over the API yet: as another provider would.
    actors::store::users::Entity::update_many()
        .col_expr(actors::store::users::Column::PasswordHash, Expr::value(""))
        .exec(&app.db)
        .await
        .unwrap();
    let (_, refresh) = {
        let (status, body) = app.passkey_login(&mut key, Some(&email)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tokens_of(&body)
    };
    app.clock.advance_ms(5 * 60 * 1000 + 1000);
    let (status, body) = app.delete_account(&access, &json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("Log in again"),
        "{body}"
    );
    // A refresh issues a new token, but the login is as old as it was.
    let (status, body) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (refreshed, _) = tokens_of(&body);
    let (status, body) = app.delete_account(&refreshed, &json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(app.user(&email).await.is_some());
    // A fresh login (a passkey: there is no password) deletes it.
    let (status, body) = app.passkey_login(&mut key, Some(&email)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (fresh, _) = tokens_of(&body);
    let (status, body) = app.delete_account(&fresh, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(app.user(&email).await.is_none());
}

#[tokio::test]
async fn an_export_has_every_part_and_no_secret() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let mfa_token = app.mfa_token(&user.email).await;
    let (status, login) = app
        .mfa_verify(&mfa_token, &app.code_now(&user.secret))
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    app.next_step();
    let (access, refresh) = tokens_of(&login);
    let device_token = login["data"]["device_token"].as_str().unwrap().to_owned();
    remember_secret(&device_token);
    let (status, body) = app
        .post_bearer(EXPORT, &access, &json!({ "password": PASSWORD }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["errors"]["totp_code"].is_array(), "{body}");
    let (status, body) = app
        .post_bearer(EXPORT, &access, &app.password_and_code(&user))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    let (_, verified) = app.verify_token(&access).await;
    assert_eq!(
        data["user"], verified["data"]["user"],
        "the same user object"
    );
    for part in ["sessions", "events", "passkeys", "devices", "identities"] {
        assert!(data[part].is_array(), "{part}: {data}");
    }
    assert!(data["alerts"]["new_device"].is_boolean(), "{data}");
    assert_eq!(data["identities"], json!([]));
    assert!(data["sessions"].as_array().unwrap().len() >= 2, "{data}");
    let devices = data["devices"].as_array().unwrap();
    assert!(!devices.is_empty());
    for d in devices {
        let mut keys: Vec<&String> = d.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["created_at", "last_used_at"]);
    }
    let kinds: Vec<&str> = data["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"data_exported"), "{kinds:?}");
    assert!(kinds.contains(&"mfa_enabled"), "{kinds:?}");

    let text = body.to_string();
    let hash = app.user(&user.email).await.unwrap().password_hash.0;
    for secret in [
        hash.as_str(),
        refresh.as_str(),
        access.as_str(),
        device_token.as_str(),
        user.secret.as_str(),
        &user.backup_codes[0],
        PASSWORD,
        "argon2",
    ] {
        assert!(!text.contains(secret), "a secret in the export");
    }
}

#[tokio::test]
async fn deletion_and_export_are_limited_per_ip() {
    let app = builder()
        .settings(|s| s.rate_limit_per_minute = 2)
        .spawn()
        .await;
    for path in [ME, EXPORT] {
        let method = if path == ME {
            Method::DELETE
        } else {
            Method::POST
        };
        let mut last = StatusCode::OK;
        for _ in 0..3 {
            last = app
                .send(method.clone(), path, Some("junk"), Some(&json!({})))
                .await
                .0;
        }
        assert_eq!(last, StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
}
