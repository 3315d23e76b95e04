//! Sign-in with another identity provider when the provider misbehaves:
//! ID tokens the fake provider (`oidc_fake.rs`) makes wrong on purpose
//! (another key, an unknown `kid`, `alg: none`, a MAC with the client
//! secret, another nonce, audience or issuer, expired, issued in the future
//! or long ago, none at all) each end at `redirect_to?error=invalid_token`
//! with no account or identity made and the token in no log line; a
//! well-formed one signs in (also with half a minute of clock skew either
//! way), so the checks are what refuse the others.
//! Startup with a provider whose discovery names another issuer or that is
//! down (one line, or 503 until it is discovered when `optional`), and a
//! key rotation at the real provider (`oidc_provider.rs`), taken up once the
//! JWKS may be fetched again.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jobs::Clock;
use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, builder, remember_secret};
use crate::oidc_fake::{FakeProvider, RsaKey, signing_input};
use crate::oidc_helpers::{
    Browser, FRONTEND, RETURN_TO, location, param, person, provider_and_app, test_provider,
    urlencode,
};
use crate::oidc_provider::{CLIENT_ID, CLIENT_SECRET};

/// Where a refused ID token sends the browser.
const REFUSED: &str = "http://app.example/signed-in?error=invalid_token";

/// An app whose provider `test` has `issuer`, `optional` or not; the
/// error of one that does not start.
async fn app_at(issuer: &str, optional: bool) -> anyhow::Result<TestApp> {
    let issuer = issuer.to_owned();
    builder()
        .settings(move |s| {
            let mut provider = test_provider(&issuer);
            provider.optional = optional;
            s.oidc_providers = vec![provider];
            s.oidc_redirect_origins = vec![FRONTEND.into()];
        })
        .try_spawn()
        .await
}

/// A fake provider and an app that signs in with it.
async fn fake_and_app() -> (FakeProvider, TestApp) {
    let fake = FakeProvider::start().await;
    let app = app_at(&fake.issuer, false).await.unwrap();
    (fake, app)
}

/// A sign-in started in a new browser: the `state` and `nonce` authd sent
/// to the provider.
struct Flow {
    browser: Browser,
    state: String,
    nonce: String,
}

async fn start(app: &TestApp) -> Flow {
    let mut browser = Browser::default();
    let authorize = browser.start(app, RETURN_TO).await;
    Flow {
        browser,
        state: param(&authorize, "state").unwrap(),
        nonce: param(&authorize, "nonce").unwrap(),
    }
}

impl Flow {
    /// The provider sends the browser back with a code, which the fake
    /// answers with `id_token`: where authd sends the browser.
    async fn back_with(&mut self, app: &TestApp, fake: &FakeProvider, id_token: &str) -> String {
        fake.answer_with(id_token);
        let url = format!(
            "{}/api/v1/auth/oidc/test/callback/?code=anything&state={}",
            app.address,
            urlencode(&self.state)
        );
        let (status, to) = self.browser.callback(app, &url).await;
        assert_eq!(status, StatusCode::FOUND, "callback: {to}");
        to
    }
}

/// Claims that pass every check: the fake's issuer, authd's client, `nonce`,
/// issued now on the app's clock for 5 minutes, a new `sub` with a verified
/// address.
fn good_claims(fake: &FakeProvider, app: &TestApp, nonce: &str) -> Value {
    let now = app.clock.now_ms() / 1000;
    let id = uuid::Uuid::new_v4().simple().to_string();
    json!({
        "iss": fake.issuer,
        "sub": format!("fake-{id}"),
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
        "email": format!("fake-{id}@example.com"),
        "email_verified": true,
    })
}

/// A sign-in whose ID token is the fake's key over the good claims as
/// `change` leaves them: the token and where the browser ends.
async fn sign_in_with_claims(
    fake: &FakeProvider,
    app: &TestApp,
    change: impl FnOnce(&mut Value),
) -> (String, String) {
    let mut flow = start(app).await;
    let mut claims = good_claims(fake, app, &flow.nonce);
    change(&mut claims);
    let id_token = fake.key.id_token(&claims);
    let to = flow.back_with(app, fake, &id_token).await;
    (id_token, to)
}

/// `to` is the refusal, no account or identity exists, and no log line
/// holds `id_token`.
async fn assert_refused(app: &TestApp, to: &str, id_token: &str) {
    assert_eq!(to, REFUSED);
    let users = actors::store::users::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    let identities = actors::store::identities::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!((users, identities), (0, 0), "something was created");
    assert_not_logged(id_token);
}

/// `id_token` is a secret: noted for the suite's log check (`.ci/run`),
/// and looked for now in this process's log when it logs to a file
/// (`AUTH_TEST_LOG_DIR`). Its claims part is enough to find it.
fn assert_not_logged(id_token: &str) {
    remember_secret(id_token);
    let Some(dir) = std::env::var_os("AUTH_TEST_LOG_DIR") else {
        return;
    };
    let file = std::path::Path::new(&dir).join(format!("log-{}.txt", std::process::id()));
    let log = std::fs::read_to_string(file).unwrap();
    let claims = id_token.split('.').nth(1).unwrap();
    assert!(!log.contains(claims), "a log line holds the ID token");
}

/// `start` in a new browser, whatever it answers.
async fn start_answer(app: &TestApp) -> reqwest::Response {
    let url = format!(
        "{}/api/v1/auth/oidc/test/start/?redirect_to={}",
        app.address,
        urlencode(RETURN_TO)
    );
    Browser::default().get(app, &url).await
}

/// `start` answered 503 with the envelope and `Retry-After`.
async fn assert_unavailable(resp: reqwest::Response) {
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let body: Value = resp.json().await.unwrap();
    assert_error(&body, 503, "Service unavailable");
    assert_eq!(body["data"]["retry_after"], 5, "{body}");
}

/// A port nothing listens on (bound, then let go).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The error of a startup that must fail: one line naming the provider
/// and its discovery.
fn assert_one_line_naming_the_discovery(built: anyhow::Result<TestApp>, issuer: &str) {
    let Err(e) = built else {
        panic!("the application started");
    };
    let line = format!("{e:#}");
    assert!(!line.contains('\n'), "{line}");
    assert!(line.contains("[[oidc_providers]] test"), "{line}");
    assert!(line.contains(&format!("discovery of {issuer}")), "{line}");
    assert!(!line.contains(CLIENT_SECRET), "{line}");
}

#[tokio::test]
async fn a_well_formed_id_token_from_the_fake_provider_signs_in() {
    let (fake, app) = fake_and_app().await;
    let mut flow = start(&app).await;
    let claims = good_claims(&fake, &app, &flow.nonce);
    let id_token = fake.key.id_token(&claims);
    let to = flow.back_with(&app, &fake, &id_token).await;
    let code = param(&to, "code").unwrap_or_else(|| panic!("no code in {to}"));
    remember_secret(&code);
    let (status, body) = flow.browser.exchange(&app, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["email"], claims["email"]);
    assert_not_logged(&id_token);
}

#[tokio::test]
async fn an_id_token_signed_with_another_key_under_the_published_kid_is_refused_and_creates_nothing()
 {
    let (fake, app) = fake_and_app().await;
    let mut flow = start(&app).await;
    let claims = good_claims(&fake, &app, &flow.nonce);
    let id_token = RsaKey::generate("fake-1").id_token(&claims);
    let to = flow.back_with(&app, &fake, &id_token).await;
    assert_refused(&app, &to, &id_token).await;
}

#[tokio::test]
async fn an_id_token_under_an_unknown_kid_is_refused_after_at_most_one_jwks_fetch_per_ten_seconds()
{
    let (fake, app) = fake_and_app().await;
    assert_eq!(fake.jwks_fetches(), 1, "discovery fetches the keys");
    let stranger = RsaKey::generate("fake-2");
    // Long enough after discovery: the unknown kid fetches the keys again.
    app.clock.advance_ms(11_000);
    let mut flow = start(&app).await;
    let id_token = stranger.id_token(&good_claims(&fake, &app, &flow.nonce));
    let to = flow.back_with(&app, &fake, &id_token).await;
    assert_refused(&app, &to, &id_token).await;
    assert_eq!(fake.jwks_fetches(), 2);
    // Right after: refused without asking the provider again.
    let mut flow = start(&app).await;
    let id_token = stranger.id_token(&good_claims(&fake, &app, &flow.nonce));
    let to = flow.back_with(&app, &fake, &id_token).await;
    assert_refused(&app, &to, &id_token).await;
    assert_eq!(fake.jwks_fetches(), 2);
}

#[tokio::test]
async fn an_unsigned_id_token_alg_none_is_refused_even_from_a_provider_advertising_none() {
    let fake = FakeProvider::start().await;
    fake.set_document(
        "id_token_signing_alg_values_supported",
        json!(["RS256", "none"]),
    );
    let app = app_at(&fake.issuer, false).await.unwrap();
    let mut flow = start(&app).await;
    let claims = good_claims(&fake, &app, &flow.nonce);
    let id_token = format!("{}.", signing_input(&json!({"alg": "none"}), &claims));
    let to = flow.back_with(&app, &fake, &id_token).await;
    assert_refused(&app, &to, &id_token).await;
}

#[tokio::test]
async fn an_id_token_maced_with_the_client_secret_is_refused_when_the_provider_advertises_rs256_only()
 {
    let (fake, app) = fake_and_app().await;
    let mut flow = start(&app).await;
    let claims = good_claims(&fake, &app, &flow.nonce);
    let input = signing_input(&json!({"alg": "HS256", "typ": "JWT"}), &claims);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(CLIENT_SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let signature = mac.finalize().into_bytes();
    let signature = URL_SAFE_NO_PAD.encode(signature);
    let id_token = format!("{input}.{signature}");
    let to = flow.back_with(&app, &fake, &id_token).await;
    assert_refused(&app, &to, &id_token).await;
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused_and_creates_nothing() {
    let (fake, app) = fake_and_app().await;
    let (id_token, to) = sign_in_with_claims(&fake, &app, |c| {
        c["nonce"] = json!("another-nonce-another-nonce-another-nonce-0");
    })
    .await;
    assert_refused(&app, &to, &id_token).await;
    // And one with no nonce at all.
    let (id_token, to) = sign_in_with_claims(&fake, &app, |c| {
        c.as_object_mut().unwrap().remove("nonce");
    })
    .await;
    assert_refused(&app, &to, &id_token).await;
}

#[tokio::test]
async fn an_id_token_for_another_client_is_refused_and_creates_nothing() {
    let (fake, app) = fake_and_app().await;
    let (id_token, to) =
        sign_in_with_claims(&fake, &app, |c| c["aud"] = json!("another-client")).await;
    assert_refused(&app, &to, &id_token).await;
    // Authorized for another party, though we are the audience.
    let (id_token, to) =
        sign_in_with_claims(&fake, &app, |c| c["azp"] = json!("another-client")).await;
    assert_refused(&app, &to, &id_token).await;
}

#[tokio::test]
async fn an_id_token_for_several_audiences_is_refused_with_or_without_azp_and_creates_nothing() {
    let (fake, app) = fake_and_app().await;
    let (id_token, to) = sign_in_with_claims(&fake, &app, |c| {
        c["aud"] = json!([CLIENT_ID, "another-client"]);
    })
    .await;
    assert_refused(&app, &to, &id_token).await;
    // `azp` naming us does not make the other audience trusted.
    let (id_token, to) = sign_in_with_claims(&fake, &app, |c| {
        c["aud"] = json!([CLIENT_ID, "another-client"]);
        c["azp"] = json!(CLIENT_ID);
    })
    .await;
    assert_refused(&app, &to, &id_token).await;
}

#[tokio::test]
async fn an_expired_id_token_is_refused_and_creates_nothing() {
    let (fake, app) = fake_and_app().await;
    let now = app.clock.now_ms() / 1000;
    // Expired two minutes ago (beyond the minute of leeway), issued within
    // the ten minutes allowed.
    let (id_token, to) = sign_in_with_claims(&fake, &app, |c| {
        c["iat"] = json!(now - 300);
        c["exp"] = json!(now - 120);
    })
    .await;
    assert_refused(&app, &to, &id_token).await;
}

#[tokio::test]
async fn an_id_token_issued_in_the_future_or_long_ago_is_refused_and_creates_nothing() {
    let (fake, app) = fake_and_app().await;
    let now = app.clock.now_ms() / 1000;
    let (id_token, to) = sign_in_with_claims(&fake, &app, |c| {
        c["iat"] = json!(now + 3600);
        c["exp"] = json!(now + 3900);
    })
    .await;
    assert_refused(&app, &to, &id_token).await;
    // Still valid, but issued an hour ago: not for a code redeemed now.
    let (id_token, to) = sign_in_with_claims(&fake, &app, |c| {
        c["iat"] = json!(now - 3600);
        c["exp"] = json!(now + 3600);
    })
    .await;
    assert_refused(&app, &to, &id_token).await;
}

#[tokio::test]
async fn an_id_token_within_the_minute_of_clock_skew_is_accepted() {
    let (fake, app) = fake_and_app().await;
    let now = app.clock.now_ms() / 1000;
    // The provider's clock behind: expired half a minute ago.
    let (_, to) = sign_in_with_claims(&fake, &app, |c| {
        c["iat"] = json!(now - 330);
        c["exp"] = json!(now - 30);
    })
    .await;
    assert!(param(&to, "code").is_some(), "{to}");
    // Ahead: issued half a minute from now.
    let (_, to) = sign_in_with_claims(&fake, &app, |c| {
        c["iat"] = json!(now + 30);
        c["exp"] = json!(now + 330);
    })
    .await;
    assert!(param(&to, "code").is_some(), "{to}");
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused_and_creates_nothing() {
    let (fake, app) = fake_and_app().await;
    let (id_token, to) =
        sign_in_with_claims(&fake, &app, |c| c["iss"] = json!("https://other.example")).await;
    assert_refused(&app, &to, &id_token).await;
}

#[tokio::test]
async fn a_token_response_without_an_id_token_is_refused_and_creates_nothing() {
    let (_fake, app) = fake_and_app().await;
    let mut flow = start(&app).await;
    // The fake answers `"id_token": null` until told a token.
    let url = format!(
        "{}/api/v1/auth/oidc/test/callback/?code=anything&state={}",
        app.address,
        urlencode(&flow.state)
    );
    let (status, to) = flow.browser.callback(&app, &url).await;
    assert_eq!(status, StatusCode::FOUND, "{to}");
    assert_eq!(to, REFUSED);
    let users = actors::store::users::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 0);
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_stops_startup_with_one_line() {
    let fake = FakeProvider::claiming("https://other.example").await;
    let built = app_at(&fake.issuer, false).await;
    assert_one_line_naming_the_discovery(built, &fake.issuer);
}

#[tokio::test]
async fn an_optional_provider_whose_discovery_names_another_issuer_starts_and_answers_503() {
    let fake = FakeProvider::claiming("https://other.example").await;
    let app = app_at(&fake.issuer, true).await.unwrap();
    assert_unavailable(start_answer(&app).await).await;
    // Discovery tried again after the back-off: the same answer.
    app.clock.advance_ms(6_000);
    assert_unavailable(start_answer(&app).await).await;
    let (status, body) = app.get("/api/v1/auth/oidc/nope/start/").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn a_provider_down_at_startup_stops_it_with_one_line() {
    let issuer = format!("http://127.0.0.1:{}", closed_port());
    let built = app_at(&issuer, false).await;
    assert_one_line_naming_the_discovery(built, &issuer);
}

#[tokio::test]
async fn an_optional_provider_down_at_startup_answers_503_until_discovered_after_the_back_off() {
    let port = closed_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let app = app_at(&issuer, true).await.unwrap();
    assert_unavailable(start_answer(&app).await).await;
    // After the back-off discovery is tried again, and fails again now.
    app.clock.advance_ms(6_000);
    assert_unavailable(start_answer(&app).await).await;

    let fake = FakeProvider::start_on(port, None).await;
    assert_eq!(fake.issuer, issuer);
    // Up, but the failure was moments ago: not asked yet.
    assert_unavailable(start_answer(&app).await).await;
    app.clock.advance_ms(6_000);
    let resp = start_answer(&app).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(
        location(&resp).starts_with(&format!("{issuer}/authorize?")),
        "{}",
        location(&resp)
    );
    // And it signs in.
    let mut flow = start(&app).await;
    let id_token = fake.key.id_token(&good_claims(&fake, &app, &flow.nonce));
    let to = flow.back_with(&app, &fake, &id_token).await;
    assert!(param(&to, "code").is_some(), "{to}");
}

#[tokio::test]
async fn a_key_rotation_at_the_provider_is_taken_up_once_the_jwks_may_be_fetched_again() {
    let Some((mut provider, app)) = provider_and_app().await else {
        return;
    };
    // Discovery fetched the provider's keys before this instant.
    let discovered_by = app.clock.now_ms();
    let (login, _) = person(&provider).await;
    let (status, first) = Browser::default().log_in(&app, &login).await;
    assert_eq!(status, StatusCode::OK, "{first}");

    provider.restart().await;
    // The app's clock held at that instant, however slow this machine is:
    // its keys are under 10 s old, so the new key's unknown kid does not
    // fetch them again.
    app.clock.advance_ms(discovered_by - app.clock.now_ms());
    let to = Browser::default().sign_in(&app, &login).await;
    assert_eq!(to, REFUSED);

    app.clock.advance_ms(11_000);
    let (status, second) = Browser::default().log_in(&app, &login).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(first["data"]["user"]["id"], second["data"]["user"]["id"]);
}
