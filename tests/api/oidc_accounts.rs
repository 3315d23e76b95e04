//! Identities on accounts: linking from a logged-in session (never by the
//! address alone), `identity_taken`, unlinking all but the last way to log
//! in (also under parallel requests), 2FA still asked after the provider,
//! a disabled account refused after it, and the identities gone with the
//! account.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, count, parallel_statuses, remember_secret};
use crate::oidc_helpers::{Browser, RETURN_TO, param, person, provider_and_app};
use crate::oidc_provider::{OidcProvider, login_at_provider};

/// Links `login`'s identity to the account of `access` in `browser`:
/// where the browser ends up.
async fn link(app: &TestApp, browser: &mut Browser, access: &str, login: &str) -> String {
    let (status, body) = app
        .post_bearer(
            "/api/v1/auth/identities/link/",
            access,
            &json!({ "provider": "test", "redirect_to": RETURN_TO }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["data"]["url"].as_str().unwrap().to_owned();
    remember_secret(param(&url, "link").as_deref().unwrap_or_default());
    let resp = browser.get(app, &url).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let authorize = crate::oidc_helpers::location(&resp);
    let back = login_at_provider(&authorize, login).await;
    let (status, to) = browser.callback(app, &back).await;
    assert_eq!(status, StatusCode::FOUND, "{to}");
    to
}

async fn identities(app: &TestApp, access: &str) -> Vec<Value> {
    let (status, body) = app.get_bearer("/api/v1/auth/identities/", access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["identities"].as_array().unwrap().clone()
}

async fn unlink(app: &TestApp, access: &str, id: &str) -> (StatusCode, Value) {
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/auth/identities/{id}/")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    crate::helpers::read(resp).await
}

/// A password account, logged in: (email, access token).
async fn password_account(app: &TestApp) -> (String, String) {
    let email = crate::helpers::unique_email();
    app.verified_user(&email).await;
    let (access, _) = app.tokens_for(&email, PASSWORD).await;
    (email, access)
}

#[tokio::test]
async fn the_owner_links_an_identity_with_another_address_and_then_signs_in_with_it() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (email, access) = password_account(&app).await;
    let (login, other_address) = person(&provider).await;
    let mut browser = Browser::default();
    let to = link(&app, &mut browser, &access, &login).await;
    assert_eq!(param(&to, "linked").as_deref(), Some("test"), "{to}");
    let list = identities(&app, &access).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["email"], other_address.as_str());
    // The owner is told at the account's address, never the identity's.
    let notices = app
        .smtp
        .wait_for_subject(
            &email,
            "A new way to sign in was added to your account",
            1,
            std::time::Duration::from_secs(10),
        )
        .await;
    assert_eq!(notices.len(), 1);
    assert!(
        app.outbox()
            .await
            .iter()
            .all(|r| r.recipient != other_address)
    );

    let (status, body) = Browser::default().log_in(&app, &login).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["email"], email.as_str());
    assert!(app.user(&other_address).await.is_none());

    let (_, events) = app.get_bearer("/api/v1/auth/events/", &access).await;
    assert!(
        events["data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "identity_linked"),
        "{events}"
    );
}

#[tokio::test]
async fn an_identity_of_another_account_is_identity_taken_and_a_link_url_works_once() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, _) = person(&provider).await;
    // The identity made its own account first.
    let (status, _) = Browser::default().log_in(&app, &login).await;
    assert_eq!(status, StatusCode::OK);
    let (_, access) = password_account(&app).await;
    let to = link(&app, &mut Browser::default(), &access, &login).await;
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("identity_taken"),
        "{to}"
    );
    assert!(identities(&app, &access).await.is_empty());

    // A link URL opened a second time (another browser) is refused.
    let (_, body) = app
        .post_bearer(
            "/api/v1/auth/identities/link/",
            &access,
            &json!({ "provider": "test", "redirect_to": RETURN_TO }),
        )
        .await;
    let url = body["data"]["url"].as_str().unwrap().to_owned();
    let first = Browser::default().get(&app, &url).await;
    assert_eq!(first.status(), StatusCode::FOUND);
    let again = Browser::default().get(&app, &url).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn linking_needs_a_fresh_login_a_known_provider_and_an_allowed_target() {
    let Some((_provider, app)) = provider_and_app().await else {
        return;
    };
    let (_, access) = password_account(&app).await;
    let post = |body: Value| {
        let (app, access) = (&app, access.clone());
        async move {
            app.post_bearer("/api/v1/auth/identities/link/", &access, &body)
                .await
        }
    };
    let (status, _) = post(json!({"provider": "nope", "redirect_to": RETURN_TO})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) =
        post(json!({"provider": "test", "redirect_to": "https://evil.example/"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["redirect_to"].is_array());
    let (status, _) = post(json!({"provider": "test"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .post(
            "/api/v1/auth/identities/link/",
            &json!({"provider": "test", "redirect_to": RETURN_TO}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.clock.advance_ms(6 * 60 * 1000);
    let (status, body) = post(json!({"provider": "test", "redirect_to": RETURN_TO})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn the_last_way_to_log_in_cannot_be_unlinked_but_one_of_two_can() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, _) = person(&provider).await;
    let (status, body) = Browser::default().log_in(&app, &login).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["data"]["token"].as_str().unwrap().to_owned();
    let only = identities(&app, &access).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = unlink(&app, &access, &only).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(identities(&app, &access).await.len(), 1);

    // With a second identity, parallel unlinks of both: exactly one goes.
    let (second, _) = person(&provider).await;
    let to = link(&app, &mut Browser::default(), &access, &second).await;
    assert_eq!(param(&to, "linked").as_deref(), Some("test"), "{to}");
    let ids: Vec<String> = identities(&app, &access)
        .await
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    let tries = (0..8).map(|n| unlink(&app, &access, &ids[n % 2]));
    let statuses = parallel_statuses(tries).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(identities(&app, &access).await.len(), 1);
}

#[tokio::test]
async fn another_users_identity_or_an_unknown_id_is_404_and_a_password_keeps_a_way() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, _) = person(&provider).await;
    let (_, body) = Browser::default().log_in(&app, &login).await;
    let owner = body["data"]["token"].as_str().unwrap().to_owned();
    let theirs = identities(&app, &owner).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (_, access) = password_account(&app).await;
    let (status, _) = unlink(&app, &access, &theirs).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = unlink(&app, &access, &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = unlink(&app, &access, "not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(identities(&app, &owner).await.len(), 1);

    // A password account unlinks its only identity: the password remains.
    let (mine, _) = person(&provider).await;
    link(&app, &mut Browser::default(), &access, &mine).await;
    let id = identities(&app, &access).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = unlink(&app, &access, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = Browser::default().log_in(&app, &mine).await;
    // The identity is new again, and its address is free: a new account.
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_account_with_2fa_still_takes_its_second_step_after_the_provider() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let user = app.mfa_user().await;
    let (login, _) = person(&provider).await;
    let to = link(&app, &mut Browser::default(), &user.access, &login).await;
    assert_eq!(param(&to, "linked").as_deref(), Some("test"), "{to}");

    let (status, body) = Browser::default().log_in(&app, &login).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["mfa_required"], json!(true), "{body}");
    assert!(body["data"].get("token").is_none(), "{body}");
    let mfa_token = body["data"]["mfa_token"].as_str().unwrap().to_owned();
    remember_secret(&mfa_token);
    app.next_step();
    let code = app.code_now(&user.secret);
    let (status, body) = app.mfa_verify(&mfa_token, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["email"], user.email.as_str());
}

#[tokio::test]
async fn a_disabled_account_is_refused_after_the_provider_with_403() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, email) = person(&provider).await;
    let (status, _) = Browser::default().log_in(&app, &login).await;
    assert_eq!(status, StatusCode::OK);
    let key = crate::admin::key(&app, "ops", false).await;
    let id = crate::admin::user_id(&app, &email).await;
    let (status, _) = crate::admin::patch_user(&app, &key, &id, &json!({"disabled": true})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = Browser::default().log_in(&app, &login).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["message"], "Account disabled");
}

#[tokio::test]
async fn deleting_the_account_removes_its_identities_and_the_identity_can_start_afresh() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, email) = person(&provider).await;
    let (_, body) = Browser::default().log_in(&app, &login).await;
    let access = body["data"]["token"].as_str().unwrap().to_owned();
    // Without a password, a fresh login is the re-authentication.
    let resp = app
        .client
        .delete(app.url("/api/v1/auth/me/"))
        .bearer_auth(&access)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, body) = crate::helpers::read(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    use sea_orm::{EntityTrait, PaginatorTrait};
    let left = actors::store::identities::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert!(app.user(&email).await.is_none());
    let (status, body) = Browser::default().log_in(&app, &login).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let _: &OidcProvider = &provider;
}

#[tokio::test]
async fn the_janitor_prunes_used_and_expired_flows_and_codes_and_keeps_live_ones() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, _) = person(&provider).await;
    let mut browser = Browser::default();
    // A flow used, with its code never exchanged; and a flow abandoned.
    let to = browser.sign_in(&app, &login).await;
    assert!(param(&to, "code").is_some(), "{to}");
    browser.start(&app, RETURN_TO).await;
    let rows = |table: &'static str| crate::janitor::rows_where(&app, table, "1 = 1");
    assert_eq!(rows("oidc_flows").await, 2);
    assert_eq!(rows("oidc_codes").await, 1);
    // Past their lives and the janitor's grace; then one flow started now.
    app.clock.advance_ms(16 * 60 * 1000);
    browser.start(&app, RETURN_TO).await;
    let report = crate::janitor::pass(&app).await;
    assert_eq!(report.count("oidc_flows"), 2);
    assert_eq!(report.count("oidc_codes"), 1);
    assert_eq!(rows("oidc_flows").await, 1);
    assert_eq!(rows("oidc_codes").await, 0);
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_alerts_the_owner_and_a_new_account_sends_user_created() {
    let hook = jobs::webhooks::Endpoint::new(
        "http://127.0.0.1:9/hook",
        vec![
            jobs::webhooks::WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
        ],
        jobs::webhooks::Subscription::All,
    )
    .unwrap();
    let Some((provider, app)) = crate::oidc_helpers::provider_and_app_with(
        crate::oidc_provider::ProviderConfig::default(),
        move |s| s.webhooks = vec![hook],
    )
    .await
    else {
        return;
    };
    // A password account with a known device links an identity; signing
    // in with it from another browser is a new device.
    let (email, access) = password_account(&app).await;
    let (login, _) = person(&provider).await;
    link(&app, &mut Browser::default(), &access, &login).await;
    let (status, _) = Browser::default().log_in(&app, &login).await;
    assert_eq!(status, StatusCode::OK);
    let alerts = |to: String| {
        let app = &app;
        async move {
            app.outbox()
                .await
                .into_iter()
                .filter(|r| r.recipient == to && r.kind == "new_device_login")
                .count()
        }
    };
    assert_eq!(alerts(email.to_lowercase()).await, 1);

    let (new_login, new_email) = person(&provider).await;
    let (status, body) = Browser::default().log_in(&app, &new_login).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = app.user(&new_email).await.unwrap().id.0;
    let created = app
        .count_where(
            "SELECT count(*) AS n FROM webhook_deliveries WHERE user_id = $1 AND type = 'user.created'",
            id,
        )
        .await;
    assert_eq!(created, 1);
}

#[tokio::test]
async fn an_account_a_provider_made_sets_a_password_by_reset_and_then_logs_in_with_it() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, email) = person(&provider).await;
    let (status, _) = Browser::default().log_in(&app, &login).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.request_reset(&email).await.0, StatusCode::OK);
    let token = app.reset_token(&email, 1).await;
    let (status, body) = app.confirm_reset(&token, "A-new-Passw0rd-here").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.login(&email, "A-new-Passw0rd-here").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_flow_older_than_ten_minutes_ends_in_invalid_state() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, email) = person(&provider).await;
    let mut browser = Browser::default();
    let authorize = browser.start(&app, RETURN_TO).await;
    let back = login_at_provider(&authorize, &login).await;
    app.clock.advance_ms(10 * 60 * 1000 + 1);
    let (status, to) = browser.callback(&app, &back).await;
    assert_eq!(status, StatusCode::FOUND, "{to}");
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("invalid_state"),
        "{to}"
    );
    assert!(app.user(&email).await.is_none());
}

#[tokio::test]
async fn the_id_token_carrying_the_claims_needs_no_userinfo() {
    let cfg = crate::oidc_provider::ProviderConfig {
        claims_in_id_token: true,
        ..Default::default()
    };
    let Some((provider, app)) = crate::oidc_helpers::provider_and_app_with(cfg, |_| {}).await
    else {
        return;
    };
    let (login, email) = person(&provider).await;
    let (status, body) = Browser::default().log_in(&app, &login).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["email"], email.as_str());
    assert_eq!(body["data"]["user"]["first_name"], "Ada");
}
