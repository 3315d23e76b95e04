//! Passkeys: registration, listing, renaming, removal, passwordless login,
//! with a software authenticator (and one with webauthn-authenticator-rs's
//! soft passkey); and every way a ceremony must fail.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::events::kinds;
use crate::helpers::{
    PASSWORD, TestApp, count, parallel_statuses, remember_secret, spawn_app, tokens_of,
};
use crate::passkey_helpers::{ORIGIN, SoftKey, challenge_of};

/// A verified user with a passkey: (email, access token of the session
/// that added it, the key).
async fn passkey_user(app: &TestApp) -> (String, String, SoftKey) {
    let (email, access, _) = app.logged_in_user().await;
    let (key, _) = app.add_passkey(&access, "Laptop").await;
    (email, access, key)
}

#[tokio::test]
async fn a_passkey_is_registered_listed_renamed_and_removed() {
    let app = named_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let (other_access, _) = app.tokens_for(&email, PASSWORD).await;
    assert!(app.passkeys_of(&access).await.is_empty());

    let options = app.passkey_options(&access).await;
    let selection = &options["public_key"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "preferred", "{options}");
    assert_eq!(selection["userVerification"], "required", "{options}");
    let (_, added) = app.add_passkey(&access, "  Laptop  ").await;
    assert_eq!(added["name"], "Laptop");
    assert_eq!(added["last_used_at"], Value::Null);
    let listed = app.passkeys_of(&access).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0], added);
    let id = added["id"].as_str().unwrap().to_owned();

    // A credential change: the other session ended, this one stays, the
    // owner is mailed, the event recorded.
    assert_eq!(
        app.verify_token(&other_access).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.verify_token(&access).await.0, StatusCode::OK);
    let mail = app
        .notice(&email, "A passkey was added to your account", 1)
        .await;
    assert!(mail.text.contains("passkey"), "{}", mail.text);
    crate::alerts::assert_reports(&mail, "127.0.0.1", "an unknown browser", &[&access]);
    assert!(
        kinds(&app, &access)
            .await
            .contains(&"passkey_added".to_owned())
    );

    let path = format!("/api/v1/passkeys/{id}/");
    let rename = json!({ "name": "Work laptop" });
    let (status, body) = app
        .send(Method::PATCH, &path, Some(&access), Some(&rename))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.passkeys_of(&access).await[0]["name"], "Work laptop");
    let (status, body) = app
        .send(
            Method::PATCH,
            &path,
            Some(&access),
            Some(&json!({ "name": " \u{7} " })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["name"].is_array(), "{body}");

    // Removing needs the right password; another user sees a 404.
    let (stranger, _) = app.logged_in().await;
    let right = json!({ "password": PASSWORD });
    let (status, _) = app
        .send(Method::DELETE, &path, Some(&stranger), Some(&right))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .send(Method::PATCH, &path, Some(&stranger), Some(&rename))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let wrong = json!({ "password": "Wrong-password-1" });
    let (status, _) = app
        .send(Method::DELETE, &path, Some(&access), Some(&wrong))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.passkeys_of(&access).await.len(), 1);

    let (third_access, _) = app.tokens_for(&email, PASSWORD).await;
    let (status, body) = app
        .send(Method::DELETE, &path, Some(&access), Some(&right))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(app.passkeys_of(&access).await.is_empty());
    assert_eq!(
        app.verify_token(&third_access).await.0,
        StatusCode::UNAUTHORIZED
    );
    let mail = app
        .notice(&email, "A passkey was removed from your account", 1)
        .await;
    assert!(!mail.raw.contains(&access));
    crate::alerts::assert_reports(&mail, "127.0.0.1", "an unknown browser", &[&access]);
    assert!(
        kinds(&app, &access)
            .await
            .contains(&"passkey_removed".to_owned())
    );
    let (status, _) = app
        .send(Method::DELETE, &path, Some(&access), Some(&right))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn registration_needs_the_password_and_a_bearer_token() {
    let app = named_app().await;
    let (access, _) = app.logged_in().await;
    let (status, _) = app
        .post_bearer(
            "/api/v1/passkeys/register/start/",
            &access,
            &json!({ "password": "Wrong-password-1" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post(
            "/api/v1/passkeys/register/start/",
            &json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/api/v1/passkeys/").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_passkey_logs_in_without_a_password_named_or_discoverable() {
    let app = named_app().await;
    let (email, _, mut key) = passkey_user(&app).await;

    let options = app.passkey_login_options(Some(&email)).await;
    assert_eq!(options["mediation"], Value::Null);
    let allowed = options["public_key"]["allowCredentials"]
        .as_array()
        .unwrap();
    assert_eq!(allowed.len(), 1);
    let assertion = key.get(&options["public_key"]);
    let (status, body) = app
        .finish_passkey_login(&challenge_of(&options), &assertion)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["email"], json!(email));
    assert_eq!(body["data"]["token_type"], "Bearer");
    assert!(body["data"]["device_token"].is_string());
    remember_secret(body["data"]["device_token"].as_str().unwrap());
    let (access, refresh) = tokens_of(&body);
    assert_eq!(app.verify_token(&access).await.0, StatusCode::OK);
    assert_eq!(app.refresh(&refresh).await.0, StatusCode::OK);

    // No address: any discoverable passkey answers, found by its user handle.
    let options = app.passkey_login_options(None).await;
    assert_eq!(options["mediation"], "conditional");
    assert!(
        options["public_key"]["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty())
    );
    let (status, body) = app.passkey_login(&mut key, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["email"], json!(email));

    // last_used_at is set; the logins are events.
    let listed = app.passkeys_of(&access).await;
    assert!(listed[0]["last_used_at"].is_string(), "{listed:?}");
    let kinds = kinds(&app, &access).await;
    assert!(
        kinds.iter().filter(|k| *k == "login_succeeded").count() >= 3,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_passkey_login_skips_the_totp_step() {
    let app = named_app().await;
    let user = app.mfa_user().await;
    let (mut key, _) = app.add_mfa_passkey(&user, "Phone").await;
    let (status, body) = app.passkey_login(&mut key, Some(&user.email)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["token"].is_string(), "{body}");
    assert_eq!(body["data"]["user"]["mfa_enabled"], json!(true));
}

/// An app that lets a passkey login name its account
/// (`AUTH_PASSKEY_LOGIN_BY_ADDRESS=on`), so both kinds of login are tested.
async fn named_app() -> TestApp {
    crate::helpers::builder()
        .settings(|s| s.passkey_login_by_address = true)
        .spawn()
        .await
}

#[tokio::test]
async fn by_default_an_address_with_passkeys_gets_the_same_challenge_as_an_unknown_one() {
    let app = spawn_app().await;
    let (email, _, mut key) = passkey_user(&app).await;
    for address in [Some(email.as_str()), Some("nobody-here@example.com"), None] {
        let options = app.passkey_login_options(address).await;
        assert_eq!(options["mediation"], "conditional", "{address:?}");
        let public_key = &options["public_key"];
        assert!(
            public_key["allowCredentials"]
                .as_array()
                .is_none_or(|a| a.is_empty()),
            "{address:?}: {public_key}"
        );
    }
    // The discoverable login still finds the account by its user handle.
    let (status, body) = app.passkey_login(&mut key, Some(&email)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["email"], json!(email));
}

#[tokio::test]
async fn an_unknown_address_gets_a_discoverable_challenge_and_no_login() {
    let app = named_app().await;
    let options = app
        .passkey_login_options(Some("nobody-here@example.com"))
        .await;
    assert_eq!(options["mediation"], "conditional");
    // A passkey of this site that is registered nowhere.
    let (_, access, _) = app.logged_in_user().await;
    let start = app.passkey_options(&access).await;
    let (mut stray, _) = SoftKey::create(&start["public_key"]);
    let assertion = stray.get(&options["public_key"]);
    let (status, body) = app
        .finish_passkey_login(&challenge_of(&options), &assertion)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["message"], "Passkey not accepted");
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let app = named_app().await;
    let (email, _, mut key) = passkey_user(&app).await;
    let options = app.passkey_login_options(Some(&email)).await;
    let assertion = key.get(&options["public_key"]);
    let challenge = challenge_of(&options);
    let (status, _) = app.finish_passkey_login(&challenge, &assertion).await;
    assert_eq!(status, StatusCode::OK);
    // The same answer again, to the same challenge and to a new one.
    let (status, body) = app.finish_passkey_login(&challenge, &assertion).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let fresh = app.passkey_login_options(Some(&email)).await;
    let (status, _) = app
        .finish_passkey_login(&challenge_of(&fresh), &assertion)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_assertion_made_for_another_origin_is_refused() {
    let app = named_app().await;
    let (email, access, mut key) = passkey_user(&app).await;
    key.origin = "https://evil.example".into();
    let (status, body) = app.passkey_login(&mut key, Some(&email)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    key.origin = ORIGIN.into();
    let (status, body) = app.passkey_login(&mut key, Some(&email)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        kinds(&app, &access)
            .await
            .contains(&"login_failed".to_owned())
    );
}

#[tokio::test]
async fn a_cloned_authenticator_whose_counter_goes_back_is_refused() {
    let app = named_app().await;
    let (email, access, mut key) = passkey_user(&app).await;
    let mut clone = key.clone();
    for _ in 0..2 {
        let (status, body) = app.passkey_login(&mut key, Some(&email)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // The clone signs with counter 1, behind the 2 already seen.
    let (status, body) = app.passkey_login(&mut clone, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let kinds = kinds(&app, &access).await;
    assert!(
        kinds.contains(&"passkey_clone_suspected".to_owned()),
        "{kinds:?}"
    );
    // The original goes on.
    let (status, _) = app.passkey_login(&mut key, Some(&email)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_clone_answering_a_ceremony_started_before_the_original_signed_is_refused() {
    let app = named_app().await;
    let (email, access, mut key) = passkey_user(&app).await;
    let mut clone = key.clone();
    // Both ceremonies start while the stored counter is 0.
    let first = app.passkey_login_options(Some(&email)).await;
    let second = app.passkey_login_options(Some(&email)).await;
    let original = key.get(&first["public_key"]);
    let (status, body) = app
        .finish_passkey_login(&challenge_of(&first), &original)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The clone signs the second with the same counter (1).
    let copy = clone.get(&second["public_key"]);
    let (status, body) = app
        .finish_passkey_login(&challenge_of(&second), &copy)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let kinds = kinds(&app, &access).await;
    assert!(
        kinds.contains(&"passkey_clone_suspected".to_owned()),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn parallel_finishes_of_one_challenge_let_exactly_one_in() {
    let app = named_app().await;
    let (email, access, mut key) = passkey_user(&app).await;
    let options = app.passkey_login_options(Some(&email)).await;
    let assertion = key.get(&options["public_key"]);
    let challenge = challenge_of(&options);
    let statuses =
        parallel_statuses((0..8).map(|_| app.finish_passkey_login(&challenge, &assertion))).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED),
        7,
        "{statuses:?}"
    );

    // One registration challenge: one credential stored.
    let start = app.passkey_options(&access).await;
    let challenge = challenge_of(&start);
    let creds: Vec<Value> = (0..6)
        .map(|_| SoftKey::create(&start["public_key"]).1)
        .collect();
    let statuses = parallel_statuses(
        creds
            .iter()
            .map(|c| app.finish_registration(&access, &challenge, "Racer", c)),
    )
    .await;
    assert_eq!(count(&statuses, StatusCode::CREATED), 1, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::BAD_REQUEST), 5, "{statuses:?}");
    assert_eq!(app.passkeys_of(&access).await.len(), 2);
}

#[tokio::test]
async fn an_expired_challenge_is_refused() {
    let app = named_app().await;
    let (email, access, mut key) = passkey_user(&app).await;
    let options = app.passkey_login_options(Some(&email)).await;
    let assertion = key.get(&options["public_key"]);
    let start = app.passkey_options(&access).await;
    app.clock.advance_ms(5 * 60 * 1000 + 1000);
    let (status, _) = app
        .finish_passkey_login(&challenge_of(&options), &assertion)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, credential) = SoftKey::create(&start["public_key"]);
    let (status, body) = app
        .finish_registration(&access, &challenge_of(&start), "Late", &credential)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["challenge_id"].is_array(), "{body}");
}

#[tokio::test]
async fn another_users_or_sessions_challenge_cannot_be_used() {
    let app = named_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let (stranger, _) = app.logged_in().await;
    let start = app.passkey_options(&access).await;
    let (key, credential) = SoftKey::create(&start["public_key"]);
    let challenge = challenge_of(&start);
    let (status, _) = app
        .finish_registration(&stranger, &challenge, "Stolen", &credential)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Another session of the same user cannot either.
    let (second, _) = app.tokens_for(&email, PASSWORD).await;
    let (status, _) = app
        .finish_registration(&second, &challenge, "Other tab", &credential)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(app.passkeys_of(&stranger).await.is_empty());
    // The session that started it still can: the attempts used nothing.
    let (status, body) = app
        .finish_registration(&access, &challenge, "Mine", &credential)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The same credential again, to a new challenge: the account's own is
    // excluded by the options; another account's is refused the same way
    // (400 naming the credential, as any refused registration: no 409 that
    // would tell a credential id is registered somewhere).
    let start = app.passkey_options(&access).await;
    let again = key.attest(&start["public_key"]);
    let (status, body) = app
        .finish_registration(&access, &challenge_of(&start), "Again", &again)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let start = app.passkey_options(&stranger).await;
    let again = key.attest(&start["public_key"]);
    let (status, taken) = app
        .finish_registration(&stranger, &challenge_of(&start), "Again", &again)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{taken}");
    assert_eq!(taken["errors"], body["errors"], "{taken} vs {body}");
    assert_eq!(taken["message"], body["message"], "{taken} vs {body}");
    assert_eq!(app.passkeys_of(&access).await.len(), 1);
    assert!(app.passkeys_of(&stranger).await.is_empty());
}

#[tokio::test]
async fn a_passkey_named_for_one_account_cannot_log_in_another() {
    let app = named_app().await;
    let (_, _, mut mine) = passkey_user(&app).await;
    let (theirs, _, _) = passkey_user(&app).await;
    // A challenge for their account, answered with my passkey.
    let (status, _) = app.passkey_login(&mut mine, Some(&theirs)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refused_assertions_count_toward_the_account_lockout() {
    let app = named_app().await;
    let (email, _, mut key) = passkey_user(&app).await;
    key.origin = "https://evil.example".into();
    for _ in 0..5 {
        let (status, _) = app.passkey_login(&mut key, Some(&email)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    key.origin = ORIGIN.into();
    let (status, body) = app.passkey_login(&mut key, Some(&email)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body["data"]["retry_after"].is_u64(), "{body}");
    let (status, _) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_removed_passkey_no_longer_logs_in() {
    let app = named_app().await;
    let (email, access, mut key) = passkey_user(&app).await;
    let id = app.passkeys_of(&access).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/passkeys/{id}/"),
            Some(&access),
            Some(&json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.passkey_login(&mut key, Some(&email)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.passkey_login(&mut key, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn hostile_passkey_requests_get_a_clear_4xx() {
    let app = named_app().await;
    let (email, access, mut key) = passkey_user(&app).await;
    let options = app.passkey_login_options(Some(&email)).await;
    let challenge = challenge_of(&options);
    let good = key.get(&options["public_key"]);
    let mut bad_base64 = good.clone();
    bad_base64["response"]["signature"] = json!("%%%not base64%%%");
    let mut wrong_type = good.clone();
    wrong_type["rawId"] = json!(12);
    let login = "/api/v1/auth/passkey/finish/";
    for body in [
        json!({ "challenge_id": challenge, "credential": bad_base64 }),
        json!({ "challenge_id": challenge, "credential": wrong_type }),
        json!({ "challenge_id": challenge, "credential": "a string" }),
        json!({ "challenge_id": challenge, "credential": {} }),
        json!({ "challenge_id": 7, "credential": good }),
        json!({ "challenge_id": challenge }),
        json!({ "challenge_id": challenge, "credential": good, "user_id": "x" }),
    ] {
        let (status, resp) = app.post(login, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {resp}");
        assert_eq!(resp["success"], json!(false));
    }
    // None of that used the challenge: the real answer still works.
    let (status, body) = app.finish_passkey_login(&challenge, &good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Ids that are not ours.
    for id in ["", "short", &"x".repeat(43), &"é".repeat(50)] {
        let (status, _) = app
            .finish_passkey_login(id, &key.get(&options["public_key"]))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{id}");
    }
    // A huge body is 413.
    let huge = json!({ "challenge_id": "x", "credential": { "id": "A".repeat(70_000) } });
    let (status, resp) = app.post(login, &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{resp}");
    // Registration with garbage, and a path id that is not a UUID.
    let start = app.passkey_options(&access).await;
    let (status, resp) = app
        .finish_registration(
            &access,
            &challenge_of(&start),
            "Junk",
            &json!({ "id": "AA", "rawId": "AA", "type": "public-key",
                     "response": { "attestationObject": "AAAA", "clientDataJSON": "e30" } }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert!(resp["errors"]["credential"].is_array(), "{resp}");
    let (status, _) = app
        .send(
            Method::PATCH,
            "/api/v1/passkeys/not-a-uuid/",
            Some(&access),
            Some(&json!({ "name": "x" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .post(
            "/api/v1/auth/passkey/start/",
            &json!({ "email": "not an address" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn webauthn_authenticator_rs_soft_passkey_registers_and_logs_in() {
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_authenticator_rs::prelude::{
        CreationChallengeResponse, RequestChallengeResponse, Url,
    };
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;

    let app = named_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let origin = Url::parse(ORIGIN).unwrap();
    let mut soft = SoftPasskey::new(true);
    let start = app.passkey_options(&access).await;
    let options: CreationChallengeResponse =
        serde_json::from_value(json!({ "publicKey": start["public_key"] })).unwrap();
    let credential = soft.do_registration(origin.clone(), options).unwrap();
    let credential = serde_json::to_value(&credential).unwrap();
    let (status, body) = app
        .finish_registration(&access, &challenge_of(&start), "Soft", &credential)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let login = app.passkey_login_options(Some(&email)).await;
    let options: RequestChallengeResponse =
        serde_json::from_value(json!({ "publicKey": login["public_key"] })).unwrap();
    let assertion = soft.do_authentication(origin, options).unwrap();
    let assertion = serde_json::to_value(&assertion).unwrap();
    let (status, body) = app
        .finish_passkey_login(&challenge_of(&login), &assertion)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn mfa_passkey_start(app: &TestApp, mfa_token: &str) -> (StatusCode, Value) {
    let (status, body) = app
        .post(
            "/api/v1/auth/mfa/passkey/start/",
            &json!({ "mfa_token": mfa_token }),
        )
        .await;
    if status == StatusCode::OK {
        remember_secret(body["data"]["challenge_id"].as_str().unwrap());
        remember_secret(body["data"]["public_key"]["challenge"].as_str().unwrap());
    }
    (status, body)
}

async fn mfa_passkey_finish(
    app: &TestApp,
    mfa_token: &str,
    options: &Value,
    key: &mut SoftKey,
) -> (StatusCode, Value) {
    let body = json!({
        "mfa_token": mfa_token,
        "challenge_id": challenge_of(options),
        "credential": key.get(&options["public_key"]),
    });
    app.post("/api/v1/auth/mfa/passkey/finish/", &body).await
}

#[tokio::test]
async fn a_passkey_can_be_the_second_factor_after_a_password() {
    let app = named_app().await;
    let user = app.mfa_user().await;
    let (status, body) = app.login(&user.email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["factors"], json!(["totp"]), "{body}");
    let mfa_token = body["data"]["mfa_token"].as_str().unwrap().to_owned();
    remember_secret(&mfa_token);
    let (status, body) = mfa_passkey_start(&app, &mfa_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (mut key, _) = app.add_mfa_passkey(&user, "Phone").await;
    let (status, body) = app.login(&user.email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"]["factors"],
        json!(["totp", "passkey"]),
        "{body}"
    );
    let mfa_token = body["data"]["mfa_token"].as_str().unwrap().to_owned();
    remember_secret(&mfa_token);

    // A refused answer counts; the mfa_token stays for another try.
    let (status, options) = mfa_passkey_start(&app, &mfa_token).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let options = options["data"].clone();
    key.origin = "https://evil.example".into();
    let (status, body) = mfa_passkey_finish(&app, &mfa_token, &options, &mut key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        kinds(&app, &user.access)
            .await
            .contains(&"mfa_failed".to_owned())
    );

    key.origin = ORIGIN.into();
    let (_, options) = mfa_passkey_start(&app, &mfa_token).await;
    let options = options["data"].clone();
    // Another login's challenge does not fit this mfa_token's ceremony.
    let (status, _) = mfa_passkey_finish(&app, "x".repeat(43).as_str(), &options, &mut key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = mfa_passkey_finish(&app, &mfa_token, &options, &mut key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (access, _) = tokens_of(&body);
    assert_eq!(app.verify_token(&access).await.0, StatusCode::OK);

    // The mfa_token is used up.
    let (status, _) = mfa_passkey_start(&app, &mfa_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_second_factor_challenge_answers_only_the_login_that_started_it() {
    let app = named_app().await;
    let user = app.mfa_user().await;
    let (mut key, _) = app.add_mfa_passkey(&user, "Phone").await;
    // Two logins of the account waiting for their second step.
    let first = app.mfa_token(&user.email).await;
    let second = app.mfa_token(&user.email).await;
    let (status, options) = mfa_passkey_start(&app, &first).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let options = options["data"].clone();
    // The first login's ceremony, answered under the second's mfa_token:
    // refused, and neither the ceremony nor the mfa_token used up.
    let (status, body) = mfa_passkey_finish(&app, &second, &options, &mut key).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["challenge_id"].is_array(), "{body}");
    let (status, body) = mfa_passkey_finish(&app, &first, &options, &mut key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokens_of(&body);
    let (status, options) = mfa_passkey_start(&app, &second).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let (status, body) = mfa_passkey_finish(&app, &second, &options["data"], &mut key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokens_of(&body);
}

async fn rp_id_with(public_url: &str, rp_id: Option<&str>) -> (StatusCode, Value) {
    let url: url::Url = public_url.parse().unwrap();
    let rp_id = rp_id.map(str::to_owned);
    let app = crate::helpers::builder()
        .settings(move |s| {
            s.public_url = url;
            s.webauthn_rp_id = rp_id;
        })
        .spawn()
        .await;
    let (access, _) = app.logged_in().await;
    let (status, body) = app
        .post_bearer(
            "/api/v1/passkeys/register/start/",
            &access,
            &json!({ "password": PASSWORD }),
        )
        .await;
    if let Some(id) = body["data"]["challenge_id"].as_str() {
        remember_secret(id);
    }
    (status, body["data"]["public_key"]["rp"]["id"].clone())
}

#[tokio::test]
async fn the_relying_party_is_the_public_urls_host_or_the_setting() {
    let (status, rp) = rp_id_with("https://app.example.com/login", None).await;
    assert_eq!((status, rp), (StatusCode::OK, json!("app.example.com")));
    let (status, rp) = rp_id_with("https://app.example.com", Some("example.com")).await;
    assert_eq!((status, rp), (StatusCode::OK, json!("example.com")));
    // An IP address cannot be a relying party: passkeys are off.
    let (status, _) = rp_id_with("http://127.0.0.1:3000", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // An explicit id that does not fit the public URL stops startup.
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(dir.path(), None).await;
    settings.public_url = "https://app.example.com".parse().unwrap();
    settings.webauthn_rp_id = Some("evil.example".into());
    let built = authd::startup::Application::build(settings, authd::startup::RunWorker::No).await;
    let err = built
        .err()
        .expect("a wrong AUTH_WEBAUTHN_RP_ID stops startup");
    assert!(err.to_string().contains("AUTH_WEBAUTHN_RP_ID"), "{err}");
}

#[tokio::test]
async fn backup_flags_and_the_counter_are_stored_as_the_authenticator_reports_them() {
    let app = named_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let options = app.passkey_options(&access).await;
    let (mut key, _) = SoftKey::create(&options["public_key"]);
    key.backup = (true, false);
    let credential = key.attest(&options["public_key"]);
    let (status, body) = app
        .finish_registration(&access, &challenge_of(&options), "Synced", &credential)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let stored = || async {
        let id = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            &key.credential_id,
        );
        actors::store::passkeys::by_credential_id(&app.db, &id)
            .await
            .unwrap()
            .unwrap()
    };
    let row = stored().await;
    assert_eq!(
        (row.backup_eligible, row.backup_state, row.counter),
        (true, false, 0)
    );

    // Now backed up: the flag follows; the counter is the one signed.
    let mut signer = key.clone();
    signer.backup = (true, true);
    let (status, body) = app.passkey_login(&mut signer, Some(&email)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let row = stored().await;
    assert_eq!(
        (row.backup_eligible, row.backup_state, row.counter),
        (true, true, 1)
    );
    assert!(row.last_used_at.is_some());
    let inner: Value = serde_json::from_str(&row.passkey).unwrap();
    assert_eq!(inner["cred"]["backup_state"], json!(true), "{inner}");
    assert_eq!(inner["cred"]["counter"], json!(1), "{inner}");
}

#[tokio::test]
async fn a_known_device_logs_in_with_its_passkey_while_the_account_is_locked_from_elsewhere() {
    let app = spawn_app().await;
    let (email, _, mut key) = passkey_user(&app).await;
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let device = body["data"]["device_token"].as_str().unwrap().to_owned();
    remember_secret(&device);
    for i in 0..5 {
        let ip = format!("198.51.100.{i}");
        let (status, _) = app.login_from(&ip, &email, "Wrong-Password-99").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Without its device token the passkey meets the account's lock.
    let (status, body) = app.passkey_login(&mut key, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // With it, the device's own budget: in, and the lock stands for others.
    let options = app.passkey_login_options(None).await;
    let assertion = key.get(&options["public_key"]);
    let body = json!({
        "challenge_id": challenge_of(&options),
        "credential": assertion,
        "device_token": device,
    });
    let (status, body) = app.post("/api/v1/auth/passkey/finish/", &body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokens_of(&body);
    remember_secret(body["data"]["device_token"].as_str().unwrap());
    assert_eq!(
        app.login(&email, PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}
