//! Sign-in with another identity provider: the browser's two ends (start,
//! callback: redirects) and the frontend's exchange of the code it was
//! handed for the usual login data.

use std::sync::Arc;

use cookie::{Cookie, SameSite};
use poem::Request;
use poem::http::HeaderValue;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use tracing::instrument;
use zeroize::Zeroizing;

use actors::oidc::{BINDING_COOKIE, Callback, FLOW_TTL};

use crate::ApiState;
use crate::body::JsonBody;
use crate::client::Client;
use crate::error::ApiError;
use crate::outcomes;
use crate::redirect::Redirect;
use crate::refresh_cookie::cookie_value;
use crate::reply::Reply;
use crate::tags::ApiTag;
use crate::tokens::{LoginResult, login_reply};

/// The code a finished sign-in with a provider handed the frontend.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct OidcExchangeRequest {
    /// The `code` added to `redirect_to`'s query: single use, valid 60
    /// seconds.
    #[oai(write_only)]
    pub code: String,
    /// The `device_token` of an earlier completed login of this account,
    /// if the client has one (as for `login`: the device's own failure
    /// budget).
    #[oai(write_only, nullable)]
    #[serde(default)]
    pub device_token: Option<String>,
}

outcomes!(StartOutcomes: 302, [400, 404, 429, 500, 503]);
outcomes!(CallbackOutcomes: 302, [400, 404, 429, 500, 503]);
outcomes!(ExchangeOutcomes: 200, [400, 403, 413, 429, 500, 503]);

pub struct OidcApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTag::Providers")]
impl OidcApi {
    /// Sign in with another provider: start
    ///
    /// Open in the browser (a link or `location.assign`, not `fetch`):
    /// redirects to the provider's login page (Authorization Code with
    /// PKCE, `state` and `nonce`) and sets the `__Host-authd_oidc` cookie
    /// that binds the sign-in to this browser for 10 minutes. The provider
    /// sends the browser back to `callback`, which redirects to
    /// `redirect_to` with `code=` (for `oidc/exchange`), `linked=` or
    /// `error=` added. `redirect_to` must be on one of
    /// `AUTH_OIDC_REDIRECT_ORIGINS` (400 otherwise); an unknown provider is
    /// 404; a provider that cannot be reached is 503.
    #[oai(
        path = "/auth/oidc/:provider/start/",
        method = "get",
        operation_id = "oidcStart"
    )]
    #[instrument(skip_all)]
    async fn start(
        &self,
        state: Data<&Arc<ApiState>>,
        req: &Request,
        /// The provider's `id` from the configuration.
        provider: Path<String>,
        /// Where the browser goes back to: a URL on one of
        /// `AUTH_OIDC_REDIRECT_ORIGINS`.
        redirect_to: Query<Option<String>>,
        /// A link ticket, in the URL `identities/link` answered with.
        link: Query<Option<String>>,
    ) -> Result<Redirect<StartOutcomes>, ApiError> {
        let binding = read_binding(req);
        let started = state
            .oidc
            .start(
                &provider.0,
                redirect_to.0.as_deref(),
                link.0.as_deref(),
                binding.as_deref().map(|b| b.as_str()),
            )
            .await?;
        let cookie = started.new_binding.as_deref().and_then(|b| set_binding(b));
        Ok(Redirect::to(started.location, cookie))
    }

    /// Sign in with another provider: callback
    ///
    /// Where the provider sends the browser back (register
    /// `{AUTH_EXTERNAL_URL}/api/v1/auth/oidc/{provider}/callback/` at the
    /// provider). Checks `state` against this browser's cookie (single
    /// use), exchanges the code and verifies the ID token, then redirects
    /// to the flow's `redirect_to` with `code=…`, `linked=<provider>` or
    /// `error=…` (`account_exists`, `identity_taken`, `email_required`,
    /// `email_not_verified`, `access_denied`, `provider_unavailable`,
    /// `invalid_state`, `invalid_token`). A state that is unknown or not
    /// this browser's is 400: there is no trusted place to send it.
    #[oai(
        path = "/auth/oidc/:provider/callback/",
        method = "get",
        operation_id = "oidcCallback"
    )]
    #[instrument(skip_all)]
    #[allow(clippy::too_many_arguments)]
    async fn callback(
        &self,
        state: Data<&Arc<ApiState>>,
        req: &Request,
        client: Client,
        /// The provider's `id` from the configuration.
        provider: Path<String>,
        /// The `state` the flow was started with.
        #[oai(name = "state")]
        flow_state: Query<Option<String>>,
        /// The provider's authorization code.
        code: Query<Option<String>>,
        /// The provider's error (`access_denied` when the user cancelled).
        error: Query<Option<String>>,
    ) -> Result<Redirect<CallbackOutcomes>, ApiError> {
        let binding = read_binding(req);
        let back = Callback {
            state: flow_state.0,
            code: code.0,
            error: error.0,
        };
        let location = state
            .oidc
            .callback(
                &provider.0,
                back,
                binding.as_deref().map(|b| b.as_str()),
                &client.0,
            )
            .await?;
        Ok(Redirect::to(location, None))
    }

    /// Sign in with another provider: exchange the code
    ///
    /// Exchanges the `code` the sign-in handed the frontend for the same
    /// data as `login`: tokens, or `mfa_required` when the account has 2FA
    /// (completed by `auth/mfa/verify`, `2fa/recover` or a passkey as after
    /// a password). A bad, used or expired code is 400; so is one started
    /// in another browser when this request carries that cookie. A
    /// disabled account is 403.
    #[oai(
        path = "/auth/oidc/exchange/",
        method = "post",
        operation_id = "oidcExchange"
    )]
    #[instrument(skip_all)]
    async fn exchange(
        &self,
        state: Data<&Arc<ApiState>>,
        req: &Request,
        client: Client,
        body: JsonBody<OidcExchangeRequest>,
    ) -> Result<Reply<LoginResult, ExchangeOutcomes>, ApiError> {
        let b = body.0;
        let binding = read_binding(req);
        let outcome = state
            .oidc
            .exchange(
                &b.code,
                binding.as_deref().map(|b| b.as_str()),
                b.device_token.as_deref(),
                &client.0,
            )
            .await?;
        Ok(login_reply(&state, outcome))
    }
}

/// The binding cookie's value.
fn read_binding(req: &Request) -> Option<Zeroizing<String>> {
    cookie_value(req, BINDING_COOKIE)
}

/// `Set-Cookie` for a new binding: HttpOnly, Secure, `SameSite=Lax` (it
/// must come back on the provider's top-level redirect), 10 minutes.
fn set_binding(value: &str) -> Option<HeaderValue> {
    let cookie = Cookie::build((BINDING_COOKIE, value))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::seconds(FLOW_TTL.as_secs() as i64))
        .build();
    HeaderValue::from_str(&cookie.encoded().to_string()).ok()
}
