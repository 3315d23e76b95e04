//! One identity provider: its settings, its discovery document and JWKS
//! (fetched at startup, or on first use for an optional provider that was
//! down), and the ID token checks done with the `openidconnect` crate.
//! The JWKS is fetched again when a token names a key it does not hold
//! (the provider rotated its keys), at most once per [`JWKS_REFETCH_AFTER`].

use std::sync::Arc;
use std::time::Duration;

use jobs::SharedClock;
use openidconnect::core::{
    CoreClient, CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AuthType, ClaimsVerificationError, ClientId, ClientSecret, IssuerUrl, Nonce,
    RedirectUrl, SignatureVerificationError, SubjectIdentifier,
};
use tokio::sync::RwLock;
use zeroize::Zeroizing;

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuth {
    ClientSecretBasic,
    ClientSecretPost,
}

/// One `[[oidc_providers]]` table, checked.
#[derive(Clone)]
pub struct ProviderSettings {
    /// Used in paths and stored with identities: `[a-z0-9_-]`, 1..=32.
    pub id: String,
    /// Shown to people ("Continue with …").
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Zeroizing<String>,
    pub scopes: Vec<String>,
    pub token_auth: TokenAuth,
    /// A failed discovery at startup does not stop it; the provider's
    /// `start` answers 503 until discovery succeeds.
    pub optional: bool,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("token_auth", &self.token_auth)
            .field("optional", &self.optional)
            .finish()
    }
}

/// A provider's JWKS is fetched again for an unknown key at most this often.
pub(crate) const JWKS_REFETCH_AFTER: Duration = Duration::from_secs(10);
/// An ID token's `exp` and `iat` are allowed this much clock skew.
const LEEWAY_SECS: i64 = 60;
/// An ID token issued longer ago than this is refused (its code was
/// exchanged just now).
const MAX_AGE_SECS: i64 = 600;

/// What went wrong talking to a provider.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Discovery, the token endpoint or userinfo could not be reached or
    /// answered with an error.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider's answer failed a check (signature, issuer, audience,
    /// expiry, nonce, subject).
    #[error("token refused: {0}")]
    Refused(String),
}

/// What a provider says about the person, once checked.
#[derive(Debug, Clone)]
pub struct Claims {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub name: Option<String>,
}

struct Discovered {
    metadata: CoreProviderMetadata,
    /// `clock` milliseconds when the JWKS was last fetched.
    jwks_fetched_ms: i64,
}

/// A configured provider and what discovery found.
pub struct Provider {
    pub settings: ProviderSettings,
    discovered: RwLock<Option<Discovered>>,
    /// When the last failed discovery was tried (an optional provider is
    /// not asked again on every request).
    failed_at_ms: std::sync::atomic::AtomicI64,
}

/// How long an optional provider whose discovery failed is left alone.
const REDISCOVER_AFTER_MS: i64 = 5_000;

impl Provider {
    /// Discovers `settings`' provider; a failure is an error unless the
    /// provider is optional (then it is tried again on use).
    pub async fn discover(
        settings: ProviderSettings,
        http: &reqwest::Client,
        clock: &SharedClock,
    ) -> Result<Arc<Self>, ProviderError> {
        let provider = Arc::new(Self {
            settings,
            discovered: RwLock::new(None),
            failed_at_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
        });
        match provider.ensure(http, clock).await {
            Ok(()) => Ok(provider),
            Err(e) if provider.settings.optional => {
                tracing::warn!(provider = %provider.settings.id, error = %e, "optional identity provider unavailable at startup; tried again on use");
                Ok(provider)
            }
            Err(e) => Err(e),
        }
    }

    /// Discovery done, or done now (an optional provider that was down).
    async fn ensure(
        &self,
        http: &reqwest::Client,
        clock: &SharedClock,
    ) -> Result<(), ProviderError> {
        if self.discovered.read().await.is_some() {
            return Ok(());
        }
        let now = clock.now_ms();
        let failed = self.failed_at_ms.load(std::sync::atomic::Ordering::Relaxed);
        if failed != i64::MIN && now.saturating_sub(failed) < REDISCOVER_AFTER_MS {
            return Err(ProviderError::Unavailable(
                "discovery failed moments ago".into(),
            ));
        }
        let mut slot = self.discovered.write().await;
        if slot.is_some() {
            return Ok(());
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|e| ProviderError::Unavailable(format!("issuer: {e}")))?;
        match CoreProviderMetadata::discover_async(issuer, http).await {
            Ok(metadata) => {
                *slot = Some(Discovered {
                    metadata,
                    jwks_fetched_ms: now,
                });
                tracing::info!(provider = %self.settings.id, "identity provider discovered");
                Ok(())
            }
            Err(e) => {
                self.failed_at_ms
                    .store(now, std::sync::atomic::Ordering::Relaxed);
                Err(ProviderError::Unavailable(format!(
                    "discovery of {}: {}",
                    self.settings.issuer,
                    error_chain(&e)
                )))
            }
        }
    }

    fn client(
        &self,
        metadata: &CoreProviderMetadata,
        redirect: &RedirectUrl,
    ) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.to_string())),
        )
        .set_redirect_uri(redirect.clone())
        .set_auth_type(match self.settings.token_auth {
            TokenAuth::ClientSecretBasic => AuthType::BasicAuth,
            TokenAuth::ClientSecretPost => AuthType::RequestBody,
        })
    }

    /// The URL to send the browser to: Authorization Code with PKCE
    /// (S256), `state` and `nonce`.
    pub(crate) async fn authorize_url(
        &self,
        http: &reqwest::Client,
        clock: &SharedClock,
        redirect: &RedirectUrl,
        state: &str,
        nonce: &str,
        pkce_challenge: openidconnect::PkceCodeChallenge,
    ) -> Result<url::Url, ProviderError> {
        self.ensure(http, clock).await?;
        let slot = self.discovered.read().await;
        let Some(d) = slot.as_ref() else {
            return Err(ProviderError::Unavailable("not discovered".into()));
        };
        let client = self.client(&d.metadata, redirect);
        let state = state.to_owned();
        let nonce = nonce.to_owned();
        let mut request = client
            .authorize_url(
                openidconnect::AuthenticationFlow::<openidconnect::core::CoreResponseType>::AuthorizationCode,
                move || openidconnect::CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .set_pkce_challenge(pkce_challenge);
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(openidconnect::Scope::new(scope.clone()));
        }
        Ok(request.url().0)
    }

    /// Exchanges `code` (with its PKCE verifier) and checks the ID token
    /// against `nonce`; asks the userinfo endpoint when the ID token has no
    /// `email`.
    pub(crate) async fn redeem(
        &self,
        http: &reqwest::Client,
        clock: &SharedClock,
        redirect: &RedirectUrl,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Claims, ProviderError> {
        self.ensure(http, clock).await?;
        let (token, access) = {
            let slot = self.discovered.read().await;
            let Some(d) = slot.as_ref() else {
                return Err(ProviderError::Unavailable("not discovered".into()));
            };
            let client = self.client(&d.metadata, redirect);
            let response = client
                .exchange_code(openidconnect::AuthorizationCode::new(code.to_owned()))
                .map_err(|e| ProviderError::Unavailable(format!("token endpoint: {e}")))?
                .set_pkce_verifier(openidconnect::PkceCodeVerifier::new(
                    pkce_verifier.to_owned(),
                ))
                .request_async(http)
                .await
                .map_err(|e| {
                    ProviderError::Unavailable(format!("token endpoint: {}", error_chain(&e)))
                })?;
            use openidconnect::{OAuth2TokenResponse, TokenResponse};
            let token = response.id_token().cloned().ok_or_else(|| {
                ProviderError::Refused("no id_token in the token response".into())
            })?;
            (token, response.access_token().clone())
        };
        let claims = self.verify(http, clock, &token, nonce).await?;
        let mut found = Claims {
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            given_name: localized(claims.given_name()),
            family_name: localized(claims.family_name()),
            name: localized(claims.name()),
        };
        if found.email.is_none() {
            self.add_userinfo(http, redirect, access, &mut found)
                .await?;
        }
        Ok(found)
    }

    /// Checks `token`; an unknown `kid` fetches the JWKS again (at most
    /// once per [`JWKS_REFETCH_AFTER`]) and checks once more.
    async fn verify(
        &self,
        http: &reqwest::Client,
        clock: &SharedClock,
        token: &CoreIdToken,
        nonce: &str,
    ) -> Result<CoreIdTokenClaims, ProviderError> {
        let nonce = Nonce::new(nonce.to_owned());
        let first = self.check(clock, token, &nonce).await;
        match first {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) if self.refetch_jwks(http, clock).await? => self
                .check(clock, token, &nonce)
                .await
                .map_err(|e| ProviderError::Refused(error_chain(&e))),
            other => other.map_err(|e| ProviderError::Refused(error_chain(&e))),
        }
    }

    async fn check(
        &self,
        clock: &SharedClock,
        token: &CoreIdToken,
        nonce: &Nonce,
    ) -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
        let slot = self.discovered.read().await;
        let Some(d) = slot.as_ref() else {
            return Err(ClaimsVerificationError::Other("not discovered".into()));
        };
        let redirect = RedirectUrl::new("http://localhost/".into())
            .map_err(|e| ClaimsVerificationError::Other(e.to_string()))?;
        let client = self.client(&d.metadata, &redirect);
        let now_ms = clock.now_ms();
        let now = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
        let verifier = client
            .id_token_verifier()
            // `exp` with leeway: "now" is a minute earlier.
            .set_time_fn(move || now - chrono::Duration::seconds(LEEWAY_SECS))
            .set_issue_time_verifier_fn(move |iat| {
                let skew = (iat - now).num_seconds();
                if skew > LEEWAY_SECS {
                    Err(format!("issued {skew} s in the future"))
                } else if -skew > MAX_AGE_SECS {
                    Err(format!("issued {} s ago", -skew))
                } else {
                    Ok(())
                }
            });
        let claims = token.claims(&verifier, nonce)?;
        // An authorized party must be us (openidconnect 4 leaves `azp`
        // unchecked); several audiences need one.
        match claims.authorized_party() {
            Some(azp) if azp.as_str() != self.settings.client_id => {
                return Err(ClaimsVerificationError::InvalidAudience(
                    "the authorized party (azp) is another client".into(),
                ));
            }
            None if claims.audiences().len() > 1 => {
                return Err(ClaimsVerificationError::InvalidAudience(
                    "several audiences and no azp".into(),
                ));
            }
            _ => {}
        }
        Ok(claims.clone())
    }

    /// Fetches the JWKS again unless it was fetched moments ago; returns
    /// whether it did.
    async fn refetch_jwks(
        &self,
        http: &reqwest::Client,
        clock: &SharedClock,
    ) -> Result<bool, ProviderError> {
        let now = clock.now_ms();
        let uri = {
            let slot = self.discovered.read().await;
            let Some(d) = slot.as_ref() else {
                return Ok(false);
            };
            if now.saturating_sub(d.jwks_fetched_ms) < JWKS_REFETCH_AFTER.as_millis() as i64 {
                return Ok(false);
            }
            d.metadata.jwks_uri().clone()
        };
        let jwks = CoreJsonWebKeySet::fetch_async(&uri, http)
            .await
            .map_err(|e| ProviderError::Unavailable(format!("jwks: {}", error_chain(&e))))?;
        let mut slot = self.discovered.write().await;
        if let Some(d) = slot.as_mut() {
            d.metadata = d.metadata.clone().set_jwks(jwks);
            d.jwks_fetched_ms = now;
            tracing::info!(provider = %self.settings.id, "identity provider keys fetched again (unknown key id)");
        }
        Ok(true)
    }

    async fn add_userinfo(
        &self,
        http: &reqwest::Client,
        redirect: &RedirectUrl,
        access: AccessToken,
        found: &mut Claims,
    ) -> Result<(), ProviderError> {
        let slot = self.discovered.read().await;
        let Some(d) = slot.as_ref() else {
            return Err(ProviderError::Unavailable("not discovered".into()));
        };
        let client = self.client(&d.metadata, redirect);
        let Ok(request) =
            client.user_info(access, Some(SubjectIdentifier::new(found.subject.clone())))
        else {
            // No userinfo endpoint: what the ID token said is all there is.
            return Ok(());
        };
        let info: CoreUserInfoClaims = request.request_async(http).await.map_err(|e| match e {
            openidconnect::UserInfoError::ClaimsVerification(v) => {
                ProviderError::Refused(format!("userinfo: {v}"))
            }
            other => ProviderError::Unavailable(format!("userinfo: {}", error_chain(&other))),
        })?;
        found.email = info.email().map(|e| e.to_string());
        found.email_verified = info.email_verified().unwrap_or(false);
        found.given_name = found
            .given_name
            .take()
            .or_else(|| localized(info.given_name()));
        found.family_name = found
            .family_name
            .take()
            .or_else(|| localized(info.family_name()));
        found.name = found.name.take().or_else(|| localized(info.name()));
        Ok(())
    }
}

fn localized<T: std::ops::Deref<Target = String>>(
    claim: Option<&openidconnect::LocalizedClaim<T>>,
) -> Option<String> {
    claim
        .and_then(|c| c.get(None))
        .map(|v| v.as_str().to_owned())
}

/// An error with its sources, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
