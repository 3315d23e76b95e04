//! A flow's two ends in the browser: `start` (state, nonce and PKCE made,
//! the flow stored and bound to the browser, the browser sent to the
//! provider) and `callback` (the flow found by its state and this
//! browser's cookie, used once, the provider's answer redeemed and checked,
//! then handed to `arrival`).

use openidconnect::PkceCodeChallenge;
use serde::{Deserialize, Serialize};
use tracing::instrument;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::provider::ProviderError;
use super::{FLOW_TTL, Oidc, random_token, with_param};
use crate::DomainError;
use crate::context::RequestContext;
use crate::domain::UserId;
use crate::one_time;
use crate::store::{self, oidc_flows};

/// Sealing context of a link ticket.
const LINK_TICKET: &[u8] = b"authd oidc link ticket v1";
/// Sealing context of a flow's PKCE verifier.
const PKCE_VERIFIER: &[u8] = b"authd oidc pkce verifier v1";

/// A started flow: where to send the browser, and the binding cookie's
/// value when the browser did not hold a usable one.
pub struct Started {
    pub location: String,
    pub new_binding: Option<Zeroizing<String>>,
}

/// What the provider sent back to the callback.
#[derive(Debug, Default)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
}

/// A link ticket: a logged-in user's permission, for a few minutes, to
/// start one link flow (its id becomes the flow's, so it starts one only).
#[derive(Serialize, Deserialize)]
pub(super) struct LinkTicket {
    pub(super) id: Uuid,
    pub(super) user_id: UserId,
    pub(super) provider: String,
    pub(super) redirect_to: String,
    pub(super) expires_at: i64,
}

impl Oidc {
    /// Starts a sign-in with `provider_id` (or, with a `link` ticket, a
    /// link to the ticket's account) that returns to `redirect_to`.
    #[instrument(skip_all, fields(provider = provider_id), err(level = "info", Display))]
    pub async fn start(
        &self,
        provider_id: &str,
        redirect_to: Option<&str>,
        link: Option<&str>,
        binding: Option<&str>,
    ) -> Result<Started, DomainError> {
        let provider = self.provider(provider_id)?;
        let redirect_to =
            redirect_to.ok_or_else(|| DomainError::field("redirect_to", "is required"))?;
        let target = self.redirect_target(redirect_to)?;
        let now = self.clock.now_ms();
        let (id, user_id) = match link {
            Some(sealed) => {
                let ticket = self.open_ticket(sealed, now)?;
                if ticket.provider != provider_id || ticket.redirect_to != redirect_to {
                    return Err(DomainError::InvalidToken);
                }
                (ticket.id, Some(ticket.user_id))
            }
            None => (Uuid::now_v7(), None),
        };
        let (binding, new_binding) = match binding.filter(|b| one_time::well_formed(b)) {
            Some(b) => (Zeroizing::new(b.to_owned()), None),
            None => {
                let b = random_token();
                (b.clone(), Some(b))
            }
        };
        let state = random_token();
        let nonce = random_token();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let callback = self.callback_url(provider_id)?;
        let location = provider
            .authorize_url(
                &self.http,
                &self.clock,
                &callback,
                &state,
                &nonce,
                challenge,
            )
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "identity provider unavailable at start");
                DomainError::ProviderUnavailable
            })?;
        let sealed = self
            .sealer
            .seal(verifier.secret().as_bytes(), PKCE_VERIFIER)?;
        let flow = oidc_flows::Model {
            id,
            state_hash: one_time::hash_token(&state),
            binding_hash: one_time::hash_token(&binding),
            provider: provider_id.to_owned(),
            redirect_to: target.to_string(),
            user_id,
            nonce: nonce.to_string(),
            pkce_verifier: sealed,
            created_at: now,
            expires_at: now.saturating_add(FLOW_TTL.as_millis() as i64),
            used_at: None,
        };
        match oidc_flows::start(&self.db, flow).await {
            Ok(()) => {}
            // A link ticket opened a second time.
            Err(e) if store::is_unique_violation(&e) => return Err(DomainError::InvalidToken),
            Err(e) => return Err(e.into()),
        }
        Ok(Started {
            location: location.to_string(),
            new_binding,
        })
    }

    /// The provider's answer for a flow. `Ok` is where the browser goes
    /// next: the flow's `redirect_to` with `code=`, `linked=` or `error=`.
    /// A state that is unknown, of another provider or not this browser's
    /// is an error (400): there is no trusted place to send it.
    #[instrument(skip_all, fields(provider = provider_id, user_id), err(level = "info", Display))]
    pub async fn callback(
        &self,
        provider_id: &str,
        back: Callback,
        binding: Option<&str>,
        client: &RequestContext,
    ) -> Result<String, DomainError> {
        let provider = self.provider(provider_id)?.clone();
        let state = back.state.as_deref().filter(|s| one_time::well_formed(s));
        let (Some(state), Some(binding)) = (state, binding) else {
            return Err(DomainError::InvalidState);
        };
        let Some(flow) = oidc_flows::find(&self.db, &one_time::hash_token(state)).await? else {
            return Err(DomainError::InvalidState);
        };
        if flow.provider != provider_id
            || !one_time::same_hash(&flow.binding_hash, &one_time::hash_token(binding))
        {
            return Err(DomainError::InvalidState);
        }
        let target = url::Url::parse(&flow.redirect_to)
            .map_err(|e| DomainError::Internal(format!("stored redirect_to: {e}")))?;
        let fail = |error: &str| Ok(with_param(target.clone(), "error", error));
        let now = self.clock.now_ms();
        if !oidc_flows::use_once(&self.db, flow.id, now).await? || flow.expires_at <= now {
            tracing::info!("flow used already or expired");
            return fail("invalid_state");
        }
        if let Some(error) = back.error.as_deref() {
            tracing::info!(error = %error.chars().take(64).collect::<String>(), "the provider answered with an error");
            return fail(if error == "access_denied" {
                "access_denied"
            } else {
                "provider_unavailable"
            });
        }
        let Some(code) = back.code.as_deref() else {
            return fail("invalid_state");
        };
        let verifier = Zeroizing::new(
            String::from_utf8(self.sealer.open(&flow.pkce_verifier, PKCE_VERIFIER)?)
                .map_err(|_| DomainError::Internal("sealed pkce verifier".into()))?,
        );
        let callback = self.callback_url(provider_id)?;
        let claims = match provider
            .redeem(
                &self.http,
                &self.clock,
                &callback,
                code,
                &verifier,
                &flow.nonce,
            )
            .await
        {
            Ok(claims) => claims,
            Err(ProviderError::Unavailable(why)) => {
                tracing::warn!(why, "identity provider unavailable at callback");
                return fail("provider_unavailable");
            }
            Err(ProviderError::Refused(why)) => {
                tracing::warn!(why, "identity provider's answer refused");
                return fail("invalid_token");
            }
        };
        let outcome = match flow.user_id {
            Some(user_id) => self.link(provider_id, user_id, &claims, client).await?,
            None => {
                let binding_hash = &flow.binding_hash;
                self.arrive(provider_id, &claims, binding_hash, client)
                    .await?
            }
        };
        Ok(with_param(target, outcome.0, &outcome.1))
    }

    /// A link URL for `user_id`: `start` with a sealed ticket.
    pub(super) fn link_ticket(
        &self,
        user_id: UserId,
        provider_id: &str,
        redirect_to: &str,
    ) -> Result<String, DomainError> {
        self.provider(provider_id)?;
        self.redirect_target(redirect_to)?;
        let ticket = LinkTicket {
            id: Uuid::now_v7(),
            user_id,
            provider: provider_id.to_owned(),
            redirect_to: redirect_to.to_owned(),
            expires_at: self.clock.now_ms().saturating_add(super::LINK_TTL_MS),
        };
        let json = Zeroizing::new(
            serde_json::to_vec(&ticket).map_err(|e| DomainError::Internal(e.to_string()))?,
        );
        Ok(self.sealer.seal(&json, LINK_TICKET)?)
    }

    fn open_ticket(&self, sealed: &str, now: i64) -> Result<LinkTicket, DomainError> {
        let json = self
            .sealer
            .open(sealed, LINK_TICKET)
            .map_err(|_| DomainError::InvalidToken)?;
        let ticket: LinkTicket =
            serde_json::from_slice(&json).map_err(|_| DomainError::InvalidToken)?;
        if ticket.expires_at <= now {
            return Err(DomainError::InvalidToken);
        }
        Ok(ticket)
    }
}
