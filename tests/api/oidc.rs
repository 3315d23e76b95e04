//! Sign-in with another identity provider against a real OpenID provider
//! (panva's oidc-provider, `oidc_provider.rs`): new accounts, returning
//! identities, `account_exists`, the state bound to its browser, the code
//! used once, the provider down.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, count, parallel_statuses};
use crate::oidc_helpers::{Browser, RETURN_TO, param, person, provider_and_app, urlencode};
use crate::oidc_provider::login_at_provider;

#[tokio::test]
async fn a_new_identity_creates_a_verified_account_without_a_password_and_logs_in() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, email) = person(&provider).await;
    let mut browser = Browser::default();
    let (status, body) = browser.log_in(&app, &login).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(body["data"]["user"]["email"], email.as_str());
    assert_eq!(body["data"]["user"]["first_name"], "Ada");
    assert_eq!(body["data"]["user"]["last_name"], "Lovelace");
    let (status, _) = app.verify_token(&token).await;
    assert_eq!(status, StatusCode::OK);

    let user = app.user(&email).await.expect("the account");
    assert!(user.email_verified_at.is_some());
    assert!(!actors::store::users::has_password(&user));
    // No password logs in to it.
    let (status, _) = app.login(&email, "").await;
    assert_ne!(status, StatusCode::OK);

    let (status, body) = app.get_bearer("/api/v1/auth/identities/", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let identities = body["data"]["identities"].as_array().unwrap();
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0]["provider"], "test");
    assert_eq!(identities[0]["email"], email.as_str());

    let (_, events) = app.get_bearer("/api/v1/auth/events/", &token).await;
    let kinds: Vec<&str> = events["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["registered", "identity_linked", "login_succeeded"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    // The events of the sign-in name the provider it came through.
    for e in events["data"]["events"].as_array().unwrap() {
        if ["identity_linked", "login_succeeded"].contains(&e["kind"].as_str().unwrap()) {
            assert_eq!(e["provider"], "test", "{e}");
        }
    }
}

#[tokio::test]
async fn a_returning_identity_logs_in_to_the_same_account() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, email) = person(&provider).await;
    let (status, first) = Browser::default().log_in(&app, &login).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, second) = Browser::default().log_in(&app, &login).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(first["data"]["user"]["id"], second["data"]["user"]["id"]);
    let n = actors::store::users::Entity::find()
        .filter(actors::store::users::Column::EmailNormalized.eq(email.as_str()))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

#[tokio::test]
async fn an_address_with_an_account_is_never_joined_and_nothing_is_created() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, email) = person(&provider).await;
    app.verified_user(&email).await;
    let before = app.user(&email).await.unwrap();
    let to = Browser::default().sign_in(&app, &login).await;
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("account_exists"),
        "{to}"
    );
    assert!(param(&to, "code").is_none());
    assert!(to.starts_with(RETURN_TO), "{to}");
    let identities = actors::store::identities::Entity::find()
        .filter(actors::store::identities::Column::UserId.eq(before.id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(identities, 0);
}

#[tokio::test]
async fn a_callback_from_another_browser_or_none_is_400_and_the_flow_still_works_in_its_own() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, _) = person(&provider).await;
    let mut victim = Browser::default();
    let authorize = victim.start(&app, RETURN_TO).await;
    let back = login_at_provider(&authorize, &login).await;

    // An attacker's browser (its own cookie) and one with no cookie.
    let mut attacker = Browser::default();
    attacker.start(&app, RETURN_TO).await;
    for mut other in [attacker, Browser::default()] {
        let (status, body) = other.callback(&app, &back).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_error(&body, 400, "Invalid request");
    }
    let (status, to) = victim.callback(&app, &back).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(param(&to, "code").is_some(), "{to}");
}

#[tokio::test]
async fn a_replayed_callback_gets_invalid_state_and_no_second_code() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, _) = person(&provider).await;
    let mut browser = Browser::default();
    let authorize = browser.start(&app, RETURN_TO).await;
    let back = login_at_provider(&authorize, &login).await;
    let (_, first) = browser.callback(&app, &back).await;
    assert!(param(&first, "code").is_some(), "{first}");
    let (status, second) = browser.callback(&app, &back).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(
        param(&second, "error").as_deref(),
        Some("invalid_state"),
        "{second}"
    );
    assert!(param(&second, "code").is_none());
}

#[tokio::test]
async fn a_code_is_exchanged_once_of_eight_parallel_tries_and_not_after_a_minute() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, _) = person(&provider).await;
    let mut browser = Browser::default();
    let to = browser.sign_in(&app, &login).await;
    let code = param(&to, "code").unwrap();
    crate::helpers::remember_secret(&code);
    let statuses = parallel_statuses((0..8).map(|_| browser.exchange(&app, &code))).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::BAD_REQUEST), 7, "{statuses:?}");

    let to = browser.sign_in(&app, &login).await;
    let late = param(&to, "code").unwrap();
    app.clock.advance_ms(61_000);
    let (status, body) = browser.exchange(&app, &late).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for bad in ["", "nope", &"x".repeat(43)] {
        let (status, _) = browser.exchange(&app, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn a_code_exchanged_with_another_browsers_cookie_is_refused() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, _) = person(&provider).await;
    let mut browser = Browser::default();
    let to = browser.sign_in(&app, &login).await;
    let code = param(&to, "code").unwrap();
    let mut other = Browser::default();
    other.start(&app, RETURN_TO).await;
    let (status, _) = other.exchange(&app, &code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Refused before it was used: the right browser still can.
    let (status, body) = browser.exchange(&app, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn start_refuses_other_origins_a_missing_target_and_unknown_providers() {
    let Some((_provider, app)) = provider_and_app().await else {
        return;
    };
    for target in [
        "https://evil.example/x",
        "http://app.example.evil.example/",
        "http://app.example:8080/",
        "javascript:alert(1)",
        "//evil.example/",
        "http://user@app.example/",
    ] {
        let url = format!(
            "{}/api/v1/auth/oidc/test/start/?redirect_to={}",
            app.address,
            urlencode(target)
        );
        let resp = Browser::default().get(&app, &url).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{target}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(body["errors"]["redirect_to"].is_array(), "{body}");
    }
    let (status, _) = app.get("/api/v1/auth/oidc/test/start/").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = app
        .get("/api/v1/auth/oidc/nope/start/?redirect_to=http%3A%2F%2Fapp.example%2F")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn the_user_cancelling_at_the_provider_returns_access_denied() {
    let Some((_provider, app)) = provider_and_app().await else {
        return;
    };
    let mut browser = Browser::default();
    let authorize = browser.start(&app, RETURN_TO).await;
    let back = crate::oidc_provider::cancel_at_provider(&authorize).await;
    let (status, to) = browser.callback(&app, &back).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("access_denied"),
        "{to}"
    );
}

#[tokio::test]
async fn no_address_or_an_unverified_one_creates_nothing() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let unverified = format!("u{id}");
    let email = format!("unverified-{id}@example.com");
    provider
        .add_account(
            &unverified,
            json!({"email": email, "email_verified": false}),
        )
        .await;
    let to = Browser::default().sign_in(&app, &unverified).await;
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("email_not_verified"),
        "{to}"
    );
    assert!(app.user(&email).await.is_none());
    // A login the provider has no account for: only a `sub`.
    let to = Browser::default().sign_in(&app, &format!("n{id}")).await;
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("email_required"),
        "{to}"
    );
    let n = actors::store::identities::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn the_provider_down_at_the_callback_redirects_with_provider_unavailable_and_writes_nothing()
{
    let Some((mut provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, email) = person(&provider).await;
    let mut browser = Browser::default();
    let authorize = browser.start(&app, RETURN_TO).await;
    let back = login_at_provider(&authorize, &login).await;
    provider.stop().await;
    let (status, to) = browser.callback(&app, &back).await;
    assert_eq!(status, StatusCode::FOUND, "{to}");
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("provider_unavailable"),
        "{to}"
    );
    assert!(app.user(&email).await.is_none());
}

#[tokio::test]
async fn four_parallel_first_sign_ins_of_one_identity_make_one_account() {
    let Some((provider, app)) = provider_and_app().await else {
        return;
    };
    let (login, email) = person(&provider).await;
    let mut browsers = vec![Browser::default(); 4];
    let mut backs = Vec::new();
    for browser in &mut browsers {
        let authorize = browser.start(&app, RETURN_TO).await;
        backs.push(login_at_provider(&authorize, &login).await);
    }
    let ends = futures::future::join_all(
        browsers
            .iter_mut()
            .zip(&backs)
            .map(|(browser, back)| browser.callback(&app, back)),
    )
    .await;
    let mut ids = std::collections::BTreeSet::new();
    for ((status, to), browser) in ends.into_iter().zip(&browsers) {
        assert_eq!(status, StatusCode::FOUND, "{to}");
        let code = param(&to, "code").unwrap_or_else(|| panic!("no code: {to}"));
        let (status, body) = browser.exchange(&app, &code).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.insert(body["data"]["user"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let accounts = actors::store::users::Entity::find()
        .filter(actors::store::users::Column::EmailNormalized.eq(email.as_str()))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(accounts, 1);
    let identities = actors::store::identities::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(identities, 1);
}
