//! Sign-in with other identity providers (OpenID Connect, Authorization
//! Code with PKCE): the relying party. A flow starts in the browser
//! (`start`: a row keyed by its `state`, bound to the browser by the
//! `__Host-authd_oidc` cookie), comes back (`callback`: the flow used once,
//! the code redeemed and the ID token checked by the `openidconnect`
//! crate), and ends with a single-use code for the frontend, which
//! `exchange` turns into a login through the account's AttemptGate: an
//! identity the provider vouched for is one more factor of the one login
//! pipeline, so lockout, disabled accounts, 2FA, devices, alerts, the
//! audit trail and webhooks apply as to a password.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jobs::{Sealer, SharedClock};
use sea_orm::DatabaseConnection;
use zeroize::Zeroizing;

use crate::DomainError;
use crate::accounts::Accounts;
use crate::auth::Auth;

mod arrival;
mod exchange;
mod flow;
mod identities;
mod provider;

pub use flow::{Callback, Started};
pub use provider::{Claims, Provider, ProviderError, ProviderSettings, TokenAuth};

/// The cookie that binds a flow to the browser that started it.
pub const BINDING_COOKIE: &str = "__Host-authd_oidc";
/// How long a started flow (and its cookie) lives.
pub const FLOW_TTL: Duration = Duration::from_secs(600);
/// How long the code handed to the frontend lives.
pub(crate) const CODE_TTL_MS: i64 = 60_000;
/// How long a link URL (`identities/link`) can be opened.
pub(crate) const LINK_TTL_MS: i64 = 300_000;

/// Where flows go back to, and where the providers send browsers back.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// `AUTH_EXTERNAL_URL`: authd's own address as browsers reach it.
    pub external_url: url::Url,
    /// `AUTH_OIDC_REDIRECT_ORIGINS`: exact origins `redirect_to` may name.
    pub redirect_origins: Vec<String>,
}

/// The relying party: the configured providers and what their flows use.
#[derive(Clone)]
pub struct Oidc {
    providers: Arc<BTreeMap<String, Arc<Provider>>>,
    settings: Arc<OidcSettings>,
    http: reqwest::Client,
    db: DatabaseConnection,
    sealer: Arc<Sealer>,
    clock: SharedClock,
    accounts: Accounts,
    auth: Auth,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The HTTP client for providers: no redirects followed (a discovery or
/// token endpoint that redirects is refused), 10 s for a whole request.
pub fn http_client() -> Result<reqwest::Client, DomainError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .user_agent("authd")
        .build()
        .map_err(|e| DomainError::Internal(format!("oidc http client: {e}")))
}

impl Oidc {
    pub fn new(
        providers: Vec<Arc<Provider>>,
        settings: OidcSettings,
        http: reqwest::Client,
        accounts: Accounts,
        auth: Auth,
    ) -> Self {
        let map = providers
            .into_iter()
            .map(|p| (p.settings.id.clone(), p))
            .collect();
        Self {
            providers: Arc::new(map),
            settings: Arc::new(settings),
            http,
            db: accounts.db.clone(),
            sealer: accounts.sealer.clone(),
            clock: accounts.clock.clone(),
            accounts,
            auth,
        }
    }

    /// The provider `id`, or 404.
    fn provider(&self, id: &str) -> Result<&Arc<Provider>, DomainError> {
        self.providers.get(id).ok_or(DomainError::ProviderNotFound)
    }

    /// The configured providers, by id: `(id, name)`.
    pub fn providers(&self) -> Vec<(String, String)> {
        self.providers
            .values()
            .map(|p| (p.settings.id.clone(), p.settings.name.clone()))
            .collect()
    }

    /// The callback URL registered at provider `id`.
    fn callback_url(&self, id: &str) -> Result<openidconnect::RedirectUrl, DomainError> {
        let base = self.settings.external_url.as_str().trim_end_matches('/');
        openidconnect::RedirectUrl::new(format!("{base}/api/v1/auth/oidc/{id}/callback/"))
            .map_err(|e| DomainError::Internal(format!("callback url: {e}")))
    }

    /// `redirect_to`, parsed, when its origin is one of the allowed ones
    /// (no open redirect); otherwise 400 naming `redirect_to`.
    fn redirect_target(&self, redirect_to: &str) -> Result<url::Url, DomainError> {
        let refuse = || DomainError::field("redirect_to", "must be a URL on an allowed origin");
        let url = url::Url::parse(redirect_to).map_err(|_| refuse())?;
        if !matches!(url.scheme(), "http" | "https")
            || url.username() != ""
            || url.password().is_some()
            || url.fragment().is_some()
        {
            return Err(refuse());
        }
        let origin = url.origin().ascii_serialization();
        if self.settings.redirect_origins.contains(&origin) {
            Ok(url)
        } else {
            Err(refuse())
        }
    }
}

/// 256 random bits, base64url (43 characters).
fn random_token() -> Zeroizing<String> {
    let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(rand::random());
    Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_slice()))
}

/// `url` with `name=value` added to its query.
fn with_param(mut url: url::Url, name: &str, value: &str) -> String {
    url.query_pairs_mut().append_pair(name, value);
    url.into()
}
