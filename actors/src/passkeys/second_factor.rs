//! A passkey as the second factor of a password login with 2FA on: the
//! `mfa_token` is answered with a passkey's assertion instead of a code,
//! through the same check as codes (the user's AttemptGate, the
//! `mfa_token` consumed in the transaction that records the use).

use sea_orm::DatabaseConnection;
use tracing::instrument;
use webauthn_rs::prelude::{PublicKeyCredential, RequestChallengeResponse};

use super::assertion::Assertion;
use super::{Passkeys, Started, ceremony, stored_keys};
use crate::DomainError;
use crate::attempts::LoggedIn;
use crate::context::RequestContext;
use crate::mfa::challenges;
use crate::mfa::codes::{CodeCheck, Factor};
use crate::store::mfa_challenges;
use crate::store::webauthn_challenges::{Bound, Claimant};

/// The open login of `mfa_token` (its user recorded on the span).
async fn usable_login(
    db: &DatabaseConnection,
    mfa_token: &str,
    now_ms: i64,
) -> Result<mfa_challenges::Model, DomainError> {
    let login = challenges::find_usable(db, mfa_token, now_ms)
        .await?
        .ok_or(DomainError::MfaTokenInvalid)?;
    tracing::Span::current().record("user_id", tracing::field::display(login.user_id));
    Ok(login)
}

impl Passkeys {
    /// Starts the second step of a password login with a passkey: the
    /// options for the account of `mfa_token`'s passkeys, in a ceremony
    /// that only this `mfa_token` can finish.
    #[instrument(skip_all, fields(user_id), err(level = "info", Display))]
    pub async fn start_second_factor(
        &self,
        mfa_token: &str,
    ) -> Result<Started<RequestChallengeResponse>, DomainError> {
        let webauthn = self.webauthn()?;
        let db = &self.deps.db;
        let now = self.now();
        let login = usable_login(db, mfa_token, now).await?;
        let keys = stored_keys(db, login.user_id).await?;
        if keys.is_empty() {
            return Err(DomainError::field(
                "mfa_token",
                "is for an account without a passkey: use a code",
            ));
        }
        let (options, state) = webauthn
            .start_passkey_authentication(&keys)
            .map_err(|e| DomainError::Internal(format!("webauthn: {e}")))?;
        // Bound to this login: another login's mfa_token cannot finish it.
        let bound = Bound {
            user_id: Some(login.user_id),
            session_id: None,
            mfa_challenge_id: Some(login.id),
        };
        let challenge_id =
            ceremony::start(db, ceremony::Ceremony::SecondFactor, bound, &state, now).await?;
        Ok(Started {
            challenge_id,
            options,
        })
    }

    /// Completes a password login with a passkey as its second factor,
    /// like a code would (the `mfa_token` used once, failures counted).
    #[instrument(skip_all, fields(user_id), err(level = "info", Display))]
    pub async fn finish_second_factor(
        &self,
        mfa_token: &str,
        challenge_id: &str,
        credential: PublicKeyCredential,
        client: &RequestContext,
    ) -> Result<LoggedIn, DomainError> {
        self.webauthn()?;
        let db = &self.deps.db;
        let now = self.now();
        let login = usable_login(db, mfa_token, now).await?;
        let who = Claimant::MfaLogin {
            user_id: login.user_id,
            mfa_challenge_id: login.id,
        };
        let row = ceremony::claim(
            db,
            challenge_id,
            &[ceremony::Ceremony::SecondFactor],
            who,
            now,
        )
        .await?;
        let state = ceremony::login_state(&row)?;
        let check = CodeCheck::Login {
            challenge_id: login.id,
            factor: Factor::Passkey(Box::new(Assertion { credential, state })),
        };
        match self
            .auth
            .check_code(
                login.user_id,
                check,
                crate::attempts::Budget::Account,
                client,
            )
            .await?
            .into_second_step()
        {
            Err(DomainError::InvalidCode) => Err(DomainError::PasskeyRefused),
            other => other,
        }
    }
}
