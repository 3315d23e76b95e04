//! TOTP two-factor authentication: setup with a QR code, backup codes,
//! the second login step, and turning it off. Code attempts go through the
//! user's session actor (one at a time, counted toward the lockout); what
//! must hold across nodes is decided by conditional updates.

pub mod backup;
pub mod challenges;
pub mod codes;
pub(crate) mod deps;
pub mod totp;

pub use deps::MfaDeps;

use crate::audit::{Event, EventKind};
use crate::context::RequestContext;
use std::sync::Arc;

use jobs::EmailKind;
use sea_orm::{ConnectionTrait, TransactionTrait};
use tracing::{info, instrument};
use zeroize::Zeroizing;

use crate::DomainError;
use crate::attempts::{Budget, LoggedIn, SteppedUp};
use crate::auth::{Auth, Authenticated};
use crate::domain::UserId;
use crate::store::{backup_codes, mfa_secrets, users};
use crate::work::{AfterCommit, Announce, Work};
use codes::{CodeCheck, Factor};

pub(crate) use totp::ISSUER;
/// The request field of a TOTP code confirming a change.
pub(crate) const CODE_FIELD: &str = "totp_code";

/// A setup in progress: shown once, in the response of `2fa/enable`. Its
/// `Debug` hides everything in it: the secret, the URL and the QR code that
/// both carry it, and the backup codes.
pub struct Enrollment {
    pub secret_key: Zeroizing<String>,
    pub otpauth_url: Zeroizing<String>,
    pub qr_code_url: String,
    pub backup_codes: Vec<Zeroizing<String>>,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrollment")
            .field("secret_key", &"<redacted>")
            .field("otpauth_url", &"<redacted>")
            .field("qr_code_url", &"<redacted>")
            .field(
                "backup_codes",
                &format_args!("<{} redacted>", self.backup_codes.len()),
            )
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Mfa {
    pub deps: Arc<MfaDeps>,
    pub auth: Auth,
}

impl Mfa {
    /// Starts (or restarts) a setup after checking the password.
    #[instrument(skip_all, fields(user_id = %who.user.id), err(level = "info", Display))]
    pub async fn enable(
        &self,
        who: &Authenticated,
        password: &str,
    ) -> Result<Enrollment, DomainError> {
        if codes::secret(&self.deps.db, who.user.id, true)
            .await?
            .is_some()
        {
            return Err(DomainError::MfaAlreadyEnabled);
        }
        let user = self.auth.reauthenticate(who, password).await?;
        let secret = totp::new_secret();
        let totp = totp::totp(&secret, ISSUER, &user.email)?;
        let qr = totp
            .get_qr_base64()
            .map_err(|e| DomainError::Internal(format!("qr: {e}")))?;
        let sealed = self.deps.seal_secret(user.id, &secret)?;
        let now = self.deps.clock.now_ms();

        let txn = self.deps.db.begin().await?;
        // A confirmed secret (set meanwhile) keeps its row: the insert fails.
        let key_id = self.deps.sealer.key_id().to_owned();
        match mfa_secrets::replace_pending(&txn, user.id, sealed, key_id, now).await {
            Ok(_) => {}
            Err(e) if crate::store::is_unique_violation(&e) => {
                return Err(DomainError::MfaAlreadyEnabled);
            }
            Err(e) => return Err(e.into()),
        }
        let backup_codes = self.deps.replace_backup_codes(&txn, user.id, now).await?;
        txn.commit().await?;
        info!("2FA setup started");
        Ok(Enrollment {
            secret_key: Zeroizing::new(totp.get_secret_base32()),
            otpauth_url: Zeroizing::new(totp.get_url()),
            qr_code_url: format!("data:image/png;base64,{qr}"),
            backup_codes,
        })
    }

    /// Confirms the pending setup with a first code: 2FA is on.
    #[instrument(skip_all, fields(user_id = %who.user.id), err(level = "info", Display))]
    pub async fn confirm(&self, who: &Authenticated, code: &str) -> Result<(), DomainError> {
        let check = CodeCheck::Setup {
            code: Zeroizing::new(code.to_owned()),
            keep: who.session_id,
        };
        // The confirming transaction is a credential change: no login
        // checked before it can finish, and every other session ended.
        let (_, revoked) = self.code(who, check).await?;
        self.auth
            .actors
            .announce(revoked, Some(who.user.id))
            .await?;
        info!("2FA enabled");
        Ok(())
    }

    /// Turns 2FA off after checking the password and a current code.
    #[instrument(skip_all, fields(user_id = %who.user.id), err(level = "info", Display))]
    pub async fn disable(
        &self,
        who: &Authenticated,
        password: &str,
        code: &str,
    ) -> Result<(), DomainError> {
        let user = self.reauth_both(who, password, code).await?;
        let now = self.deps.clock.now_ms();
        let mut work = Work::begin(&self.deps.db, now).await?;
        turn_off(work.conn(), user.id, now).await?;
        work.credential_change(user.id, Some(who.session_id))
            .await?;
        let kind = EmailKind::MfaDisabled {
            first_name: user.first_name.clone(),
            seen: Some(crate::alerts::seen(&who.client, now)),
            reset_page: Some(self.deps.reset_page.clone()),
            by_admin: false,
        };
        work.mail(&self.deps.sealer, &user, kind).await?;
        work.record(Event::new(user.id, EventKind::MfaDisabled, &who.client))
            .await?;
        let after = self.after_commit();
        work.webhook(&after, jobs::EventType::UserMfaDisabled, user.id)
            .await?;
        work.commit(&after).await?;
        info!("2FA disabled");
        Ok(())
    }

    /// Replaces the backup codes after checking the password and a code.
    #[instrument(skip_all, fields(user_id = %who.user.id), err(level = "info", Display))]
    pub async fn new_backup_codes(
        &self,
        who: &Authenticated,
        password: &str,
        code: &str,
    ) -> Result<Vec<Zeroizing<String>>, DomainError> {
        let user = self.reauth_both(who, password, code).await?;
        let now = self.deps.clock.now_ms();
        let mut work = Work::begin(&self.deps.db, now).await?;
        let set = self
            .deps
            .replace_backup_codes(work.conn(), user.id, now)
            .await?;
        work.credential_change(user.id, Some(who.session_id))
            .await?;
        work.record(Event::new(
            user.id,
            EventKind::BackupCodesRenewed,
            &who.client,
        ))
        .await?;
        work.commit(&self.after_commit()).await?;
        info!("backup codes replaced");
        Ok(set)
    }

    /// Re-authentication for a change that asks for what the strongest
    /// factor asks (adding a passkey, which logs in on its own): the
    /// password, and with 2FA on a current TOTP code too, checked as for
    /// new backup codes (through the user's gate, a wrong one counted). A
    /// missing code with 2FA on is refused before anything is checked.
    pub(crate) async fn reauthenticate(
        &self,
        who: &Authenticated,
        password: &str,
        code: Option<&str>,
    ) -> Result<Box<users::Model>, DomainError> {
        self.reauthenticate_owner(who, password, code)
            .await
            .map_err(|e| match e {
                DomainError::CodeRequired => {
                    DomainError::field(CODE_FIELD, "is required: two-factor authentication is on")
                }
                other => other,
            })
    }

    /// [`Mfa::reauthenticate`] as the account endpoints of API.md ask it
    /// (change-email): a missing code with 2FA on is
    /// [`DomainError::CodeRequired`] (401 naming the field), not a
    /// validation error (400, as for passkeys and alerts).
    pub(crate) async fn reauthenticate_owner(
        &self,
        who: &Authenticated,
        password: &str,
        code: Option<&str>,
    ) -> Result<Box<users::Model>, DomainError> {
        if codes::secret(&self.deps.db, who.user.id, true)
            .await?
            .is_none()
        {
            return self.auth.reauthenticate(who, password).await;
        }
        let code = code.ok_or(DomainError::CodeRequired)?;
        self.reauth_both(who, password, code).await
    }

    /// The second login step: a TOTP or backup code for an `mfa_token`.
    #[instrument(skip_all, fields(user_id), err(level = "info", Display))]
    pub async fn complete_login(
        &self,
        mfa_token: &str,
        factor: Factor,
        client: &RequestContext,
    ) -> Result<LoggedIn, DomainError> {
        let now = self.deps.clock.now_ms();
        let challenge = challenges::find_usable(&self.deps.db, mfa_token, now)
            .await?
            .ok_or(DomainError::MfaTokenInvalid)?;
        tracing::Span::current().record("user_id", tracing::field::display(challenge.user_id));
        let check = CodeCheck::Login {
            challenge_id: challenge.id,
            factor,
        };
        self.auth
            .check_code(challenge.user_id, check, Budget::Account, client)
            .await?
            .into_second_step()
    }

    /// A code confirming a change (setup, disable, new backup codes).
    async fn code(
        &self,
        who: &Authenticated,
        check: CodeCheck,
    ) -> Result<(Box<users::Model>, crate::attempts::Revoked), DomainError> {
        let budget = self.auth.budget_of(who).await?;
        self.auth
            .check_code(who.user.id, check, budget, &who.client)
            .await?
            .into_code_change()
    }

    /// [`Mfa::reauthenticate`] for a change that weakens what the owner is
    /// told: its proof, which such a change requires.
    #[instrument(skip_all, fields(user_id = %who.user.id), err(level = "info", Display))]
    pub async fn step_up(
        &self,
        who: &Authenticated,
        password: &str,
        code: Option<&str>,
    ) -> Result<SteppedUp, DomainError> {
        Ok(SteppedUp::new(
            self.reauthenticate(who, password, code).await?,
        ))
    }

    pub(crate) fn after_commit(&self) -> AfterCommit {
        self.auth.actors.after_commit(&self.deps.outbox_wake)
    }

    async fn reauth_both(
        &self,
        who: &Authenticated,
        password: &str,
        code: &str,
    ) -> Result<Box<users::Model>, DomainError> {
        if codes::secret(&self.deps.db, who.user.id, true)
            .await?
            .is_none()
        {
            return Err(DomainError::MfaNotEnabled);
        }
        self.auth.reauthenticate(who, password).await?;
        let check = CodeCheck::Reauth {
            code: Zeroizing::new(code.to_owned()),
        };
        Ok(self.code(who, check).await?.0)
    }
}

/// Turns TOTP off for `user_id` in the caller's transaction: the secret
/// (confirmed or a setup pending) and the backup codes go, and the user
/// row says 2FA is off. Returns whether it was on (a confirmed secret).
/// The one place 2FA is turned off (the owner's disable, an admin's
/// reset); the caller makes it a credential change.
pub(crate) async fn turn_off<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    now_ms: i64,
) -> Result<bool, DomainError> {
    let was_on = codes::secret(conn, user_id, true).await?.is_some();
    mfa_secrets::delete_of_user(conn, user_id).await?;
    backup_codes::delete_of_user(conn, user_id).await?;
    users::set_mfa_enabled(conn, user_id, false, now_ms).await?;
    Ok(was_on)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_an_enrollment_hides_the_secret_and_the_codes() {
        let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        let enrollment = Enrollment {
            secret_key: Zeroizing::new(secret.to_owned()),
            otpauth_url: Zeroizing::new(format!(
                "otpauth://totp/authd:ann@example.org?secret={secret}&issuer=authd"
            )),
            qr_code_url: "data:image/png;base64,iVBORw0KGgoQRQRQR".to_owned(),
            backup_codes: vec![Zeroizing::new("ABCDE-FGHJK".to_owned())],
        };
        for text in [format!("{enrollment:?}"), format!("{enrollment:#?}")] {
            for leak in [
                secret,
                "otpauth://",
                "ann@example.org",
                "iVBORw0K",
                "ABCDE",
                "FGHJK",
            ] {
                assert!(!text.contains(leak), "{leak} in {text}");
            }
            assert!(text.contains("<1 redacted>"), "{text}");
        }
    }
}
