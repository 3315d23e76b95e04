//! Sign-in with another provider, driven as a browser would: an app
//! configured with the tests' OpenID provider (`oidc_provider.rs`) as
//! provider `test`, and a `Browser` that keeps authd's `__Host-authd_oidc`
//! cookie and follows the redirects by hand.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, builder};
use crate::oidc_provider::{
    CLIENT_ID, CLIENT_SECRET, OidcProvider, ProviderConfig, login_at_provider,
};

/// The frontend origin `redirect_to` may name in these tests.
pub(crate) const FRONTEND: &str = "http://app.example";
/// Where the tests' sign-ins return to.
pub(crate) const RETURN_TO: &str = "http://app.example/signed-in";
/// The cookie binding a flow to its browser.
pub(crate) const BINDING: &str = "__Host-authd_oidc";

/// The provider settings for `issuer` as provider `test`.
pub(crate) fn test_provider(issuer: &str) -> actors::oidc::ProviderSettings {
    actors::oidc::ProviderSettings {
        id: "test".into(),
        name: "Test provider".into(),
        issuer: issuer.to_owned(),
        client_id: CLIENT_ID.into(),
        client_secret: zeroize::Zeroizing::new(CLIENT_SECRET.into()),
        scopes: vec!["openid".into(), "email".into(), "profile".into()],
        token_auth: actors::oidc::TokenAuth::ClientSecretBasic,
        optional: false,
    }
}

/// A running provider (None: skipped, see `OidcProvider::start`) and an
/// app that signs in with it.
pub(crate) async fn provider_and_app() -> Option<(OidcProvider, TestApp)> {
    provider_and_app_with(ProviderConfig::default(), |_| {}).await
}

/// [`provider_and_app`] with the provider's `cfg` and a settings tweak.
pub(crate) async fn provider_and_app_with(
    cfg: ProviderConfig,
    tweak: impl FnOnce(&mut authd::config::Settings) + 'static,
) -> Option<(OidcProvider, TestApp)> {
    let provider = OidcProvider::start(cfg).await?;
    let issuer = provider.issuer().to_owned();
    let app = builder()
        .settings(move |s| {
            s.oidc_providers = vec![test_provider(&issuer)];
            s.oidc_redirect_origins = vec![FRONTEND.into()];
            tweak(s);
        })
        .spawn()
        .await;
    Some((provider, app))
}

/// A unique login at the provider with a verified address and names.
pub(crate) async fn person(provider: &OidcProvider) -> (String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let login = format!("p{id}");
    let email = format!("oidc-{id}@example.com");
    provider
        .add_account(
            &login,
            json!({"email": email, "email_verified": true, "given_name": "Ada", "family_name": "Lovelace"}),
        )
        .await;
    (login, email)
}

/// One browser: authd's binding cookie, once it set one.
#[derive(Default, Clone)]
pub(crate) struct Browser {
    pub(crate) binding: Option<String>,
}

/// The `Location` of a redirect.
pub(crate) fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A query parameter of `url`.
pub(crate) fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Browser {
    fn cookie(&self) -> Option<String> {
        self.binding.as_ref().map(|b| format!("{BINDING}={b}"))
    }

    /// GETs `url` (on authd) with this browser's cookie, keeping a new
    /// binding cookie; the status and the answer.
    pub(crate) async fn get(&mut self, app: &TestApp, url: &str) -> reqwest::Response {
        let mut req = app.client.get(url);
        if let Some(c) = self.cookie() {
            req = req.header("cookie", c);
        }
        let resp = req.send().await.expect("request failed");
        for v in resp.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap_or_default();
            if let Some(rest) = v.strip_prefix(&format!("{BINDING}=")) {
                self.binding = Some(rest.split(';').next().unwrap_or_default().to_owned());
            }
        }
        resp
    }

    /// `start` with `redirect_to`: the provider's authorize URL.
    pub(crate) async fn start(&mut self, app: &TestApp, redirect_to: &str) -> String {
        let url = format!(
            "{}/api/v1/auth/oidc/test/start/?redirect_to={}",
            app.address,
            urlencode(redirect_to)
        );
        let resp = self.get(app, &url).await;
        assert_eq!(
            resp.status(),
            StatusCode::FOUND,
            "start: {:?}",
            resp.text().await
        );
        location(&resp)
    }

    /// The callback URL the provider sent the browser to, followed: where
    /// authd sends the browser next (302), or its error answer.
    pub(crate) async fn callback(&mut self, app: &TestApp, url: &str) -> (StatusCode, String) {
        // The provider's code and the flow's state must never be logged.
        for name in ["code", "state"] {
            if let Some(secret) = param(url, name) {
                crate::helpers::remember_secret(&secret);
            }
        }
        let resp = self.get(app, url).await;
        let status = resp.status();
        if status == StatusCode::FOUND {
            (status, location(&resp))
        } else {
            (status, resp.text().await.unwrap_or_default())
        }
    }

    /// A whole sign-in as `login`: start, the provider's login page, the
    /// callback; where the browser ends up (`RETURN_TO` with `code=` or
    /// `error=`).
    pub(crate) async fn sign_in(&mut self, app: &TestApp, login: &str) -> String {
        let authorize = self.start(app, RETURN_TO).await;
        let back = login_at_provider(&authorize, login).await;
        let (status, to) = self.callback(app, &back).await;
        assert_eq!(status, StatusCode::FOUND, "callback: {to}");
        to
    }

    /// POSTs `oidc/exchange` with `code`, sending this browser's cookie.
    pub(crate) async fn exchange(&self, app: &TestApp, code: &str) -> (StatusCode, Value) {
        let mut req = app
            .client
            .post(app.url("/api/v1/auth/oidc/exchange/"))
            .json(&json!({ "code": code }));
        if let Some(c) = self.cookie() {
            req = req.header("cookie", c);
        }
        crate::helpers::read(req.send().await.expect("request failed")).await
    }

    /// A sign-in exchanged for login data; panics on anything but a code.
    pub(crate) async fn log_in(&mut self, app: &TestApp, login: &str) -> (StatusCode, Value) {
        let to = self.sign_in(app, login).await;
        let code = param(&to, "code").unwrap_or_else(|| panic!("no code in {to}"));
        crate::helpers::remember_secret(&code);
        self.exchange(app, &code).await
    }
}

/// Percent-encodes a query value.
pub(crate) fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
