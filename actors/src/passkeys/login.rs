//! Logging in with a passkey and no password: named (the account's
//! passkeys offered, with `AUTH_PASSKEY_LOGIN_BY_ADDRESS=on`) or
//! discoverable. The assertion is checked by the owner's AttemptGate, like
//! a password; the ceremonies anyone can start are bounded in number.

use tracing::instrument;
use webauthn_rs::prelude::{PublicKeyCredential, RequestChallengeResponse};

use super::assertion::Assertion;
use super::{Passkeys, Started, ceremony, encode_id, stored_keys};
use crate::DomainError;
use crate::attempt_gate::Presented;
use crate::attempts::{Budget, LoggedIn};
use crate::context::RequestContext;
use crate::domain::Email;
use crate::store::webauthn_challenges::{Bound, Claimant};
use crate::store::{devices, passkeys, users};

impl Passkeys {
    /// Starts a passkey login: for the account of `email` (its passkeys are
    /// offered) when login by address is on, or else for any discoverable
    /// credential. An address with no account or no passkey gets a
    /// discoverable challenge; with login by address off, every address
    /// does, so no answer tells whether an address has an account. At most
    /// `open_logins` such ceremonies are kept: the oldest are dropped.
    #[instrument(skip_all, err(level = "info", Display))]
    pub async fn start_login(
        &self,
        email: Option<&Email>,
    ) -> Result<Started<RequestChallengeResponse>, DomainError> {
        let webauthn = self.webauthn()?;
        let db = &self.deps.db;
        let now = self.now();
        let user = match email.filter(|_| self.login_by_address) {
            Some(e) => users::find_by_normalized_email(db, e.normalized()).await?,
            None => None,
        };
        let keys = match &user {
            Some(u) => stored_keys(db, u.id).await?,
            None => Vec::new(),
        };
        let fail = |e: webauthn_rs::prelude::WebauthnError| {
            DomainError::Internal(format!("webauthn: {e}"))
        };
        let (challenge_id, options) = match user.filter(|_| !keys.is_empty()) {
            Some(user) => {
                let (options, state) =
                    webauthn.start_passkey_authentication(&keys).map_err(fail)?;
                let bound = Bound {
                    user_id: Some(user.id),
                    ..Bound::default()
                };
                let id = ceremony::start(db, ceremony::Ceremony::Login, bound, &state, now).await?;
                (id, options)
            }
            None => {
                let (options, state) =
                    webauthn.start_discoverable_authentication().map_err(fail)?;
                let bound = Bound::default();
                let id =
                    ceremony::start(db, ceremony::Ceremony::Discover, bound, &state, now).await?;
                (id, options)
            }
        };
        ceremony::trim_logins(db, self.open_logins).await;
        Ok(Started {
            challenge_id,
            options,
        })
    }

    /// Finishes a passkey login: a completed login with user verification
    /// (no TOTP step), through the owner's AttemptGate.
    #[instrument(skip_all, fields(user_id), err(level = "info", Display))]
    pub async fn finish_login(
        &self,
        challenge_id: &str,
        credential: PublicKeyCredential,
        device_token: Option<&str>,
        client: &RequestContext,
    ) -> Result<LoggedIn, DomainError> {
        self.webauthn()?;
        let db = &self.deps.db;
        let now = self.now();
        let kinds = [ceremony::Ceremony::Login, ceremony::Ceremony::Discover];
        let row = match ceremony::claim(db, challenge_id, &kinds, Claimant::Anyone, now).await {
            Ok(row) => row,
            Err(DomainError::ChallengeInvalid) => return Err(DomainError::PasskeyRefused),
            Err(e) => return Err(e),
        };
        let state = ceremony::login_state(&row)?;
        let credential_id = encode_id(credential.get_credential_id());
        let owner = passkeys::by_credential_id(db, &credential_id)
            .await?
            .map(|p| p.user_id)
            .filter(|owner| row.user_id.is_none_or(|named| named == *owner))
            .ok_or(DomainError::PasskeyRefused)?;
        tracing::Span::current().record("user_id", tracing::field::display(owner));
        // A known device of the owner spends its own budget, as at `login`.
        let device = match device_token {
            Some(token) => devices::find_live(db, owner, token).await?,
            None => None,
        };
        let budget = device.map_or(Budget::Account, |d| Budget::Device(d.id));
        let assertion = Presented::Passkey(Box::new(Assertion { credential, state }));
        let attempt = self.auth.to_gate(owner, assertion, budget, client).await?;
        metrics::counter!("authd_logins_total", "outcome" => attempt.login_label()).increment(1);
        attempt.into_passkey_login()
    }
}
