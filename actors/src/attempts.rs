//! The outcome types, in one place: what an attempt is for and whose
//! failure budget it spends, what it comes to (and one mapping of each
//! outcome to the answer of each kind of caller), the tokens of a
//! completed login, the sessions a change revoked, and the caller of an
//! authenticated endpoint. Every service and the gate use them; they
//! import nothing above the views of the store.

use zeroize::Zeroizing;

use crate::DomainError;
use crate::context::RequestContext;
use crate::domain::{DeviceId, SessionId};
use crate::store::users;
use crate::views::Account;

/// Whose failure budget an attempt spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// The account's: the lockout every client without a device token shares.
    Account,
    /// A known device's own (its token was presented): failures elsewhere
    /// do not lock it out, and its own failures void it.
    Device(DeviceId),
}

/// The password step of a 2FA login, as its second step finds it: the
/// credential version the password was checked against, and the budget it
/// spent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PasswordStep {
    pub version: i64,
    pub budget: Budget,
}

/// What a completed login or refresh hands to the client. Its `Debug`
/// hides both tokens.
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: zeroize::Zeroizing<String>,
    pub expires_in: i64,
    pub session_id: SessionId,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("session_id", &self.session_id)
            .finish()
    }
}

/// Sessions just revoked: every access and refresh token issued in them is
/// refused from now on.
#[derive(Debug, Default)]
pub struct Revoked {
    pub sessions: Vec<SessionId>,
}

/// The caller of an authenticated endpoint: the accepted access token's
/// user, claims and session, and the client of this request.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub(crate) user: std::sync::Arc<users::Model>,
    pub claims: std::sync::Arc<crate::jwt::AccessClaims>,
    pub session_id: SessionId,
    pub client: RequestContext,
}

impl Authenticated {
    /// The caller's account, as the token check found it.
    pub fn account(&self) -> Account {
        Account::from(self.user.as_ref())
    }
}

/// What a right password is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A login: completes it (count reset), or asks for a code with 2FA on.
    Login,
    /// A logged-in user confirming a sensitive change: the count is left
    /// as it was (only a completed login resets it).
    Reauth,
}

/// The outcome of one password attempt.
#[derive(Debug)]
pub enum Attempt {
    /// Refused unchecked.
    Locked { retry_after_secs: u64 },
    /// Wrong password (counted), or the user is gone or deactivated.
    Wrong,
    /// Right password, email not verified yet (not counted).
    Unverified,
    /// Right password for an account an admin disabled (not counted).
    Disabled,
    /// Right password for a login with 2FA on: a code must follow (the
    /// gate started its challenge); the count is left as it was.
    MfaRequired(Box<users::Model>, Box<SecondStep>),
    /// Right password or code confirming a change (the count as it was),
    /// and the sessions the change ended (2FA turned on by its first code).
    Accepted(Box<users::Model>, Revoked),
    /// Right password or code completing a login: the count is reset and
    /// the session started, in one transaction.
    LoggedIn(Box<LoggedIn>),
}

/// A completed login.
pub struct LoggedIn {
    pub tokens: TokenPair,
    /// Marks the client as a known device of the account (see `Budget`).
    pub device_token: Zeroizing<String>,
    pub(crate) user: Box<users::Model>,
}

impl LoggedIn {
    /// The account that logged in.
    pub fn account(&self) -> Account {
        Account::from(self.user.as_ref())
    }
}

impl std::fmt::Debug for LoggedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggedIn")
            .field("tokens", &self.tokens)
            .field("device_token", &"<redacted>")
            .field("user", &self.user)
            .finish()
    }
}

/// Proof that a logged-in owner just gave what the account's strongest
/// factor asks (the password, and a TOTP code when 2FA is on), made only
/// by `Mfa::step_up`: a change that weakens what the owner is told, or
/// adds a factor that logs in on its own, takes one.
#[derive(Debug)]
pub struct SteppedUp(Box<users::Model>);

impl SteppedUp {
    pub(crate) fn new(user: Box<users::Model>) -> Self {
        Self(user)
    }

    /// The account, as the checks found it.
    pub fn user(&self) -> &users::Model {
        &self.0
    }
}

/// A right password: tokens, or (2FA on) a challenge for the second step.
/// Its `Debug` hides the `mfa_token` (and, through `TokenPair` and
/// `PasswordHash`, the tokens and the hash of a completed login).
pub enum LoginOutcome {
    Done(LoggedIn),
    MfaRequired {
        mfa_token: Zeroizing<String>,
        expires_in: i64,
        /// The second factors the account has: `totp`, and `passkey` when
        /// it has one.
        factors: Vec<&'static str>,
    },
}

impl std::fmt::Debug for LoginOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginOutcome::Done(done) => f.debug_tuple("Done").field(done).finish(),
            LoginOutcome::MfaRequired {
                expires_in,
                factors,
                ..
            } => f
                .debug_struct("MfaRequired")
                .field("mfa_token", &"<redacted>")
                .field("expires_in", expires_in)
                .field("factors", factors)
                .finish(),
        }
    }
}

/// The second step a right password asks for when 2FA is on: the
/// `mfa_token` of the challenge the gate started (its `Debug` hides it),
/// how long it lasts and the second factors the account has.
pub struct SecondStep {
    pub mfa_token: Zeroizing<String>,
    pub expires_in: i64,
    /// `totp`, and `passkey` when the account has one.
    pub factors: Vec<&'static str>,
}

impl std::fmt::Debug for SecondStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondStep")
            .field("mfa_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("factors", &self.factors)
            .finish()
    }
}

/// A login's password step passed.
pub(crate) enum Passed {
    Done(Box<LoggedIn>),
    /// 2FA is on: a code must follow.
    NeedsCode(Box<SecondStep>),
}

impl From<Passed> for LoginOutcome {
    fn from(passed: Passed) -> Self {
        match passed {
            Passed::NeedsCode(step) => {
                tracing::info!("first factor right; second factor required");
                let step = *step;
                LoginOutcome::MfaRequired {
                    mfa_token: step.mfa_token,
                    expires_in: step.expires_in,
                    factors: step.factors,
                }
            }
            Passed::Done(done) => {
                tracing::info!("login completed");
                LoginOutcome::Done(*done)
            }
        }
    }
}

impl Attempt {
    /// The outcome label of a login's password step in the
    /// `authd_logins_total` series (an unknown address is `wrong_password`).
    pub(crate) fn login_label(&self) -> &'static str {
        match self {
            Attempt::Locked { .. } => "locked",
            Attempt::Wrong => "wrong_password",
            Attempt::Unverified => "unverified",
            Attempt::Disabled => "disabled",
            Attempt::MfaRequired(..) => "mfa_required",
            Attempt::LoggedIn(_) => "success",
            Attempt::Accepted(..) => "error",
        }
    }

    /// A login's password step: wrong and unknown are one 401.
    pub(crate) fn into_login(self) -> Result<Passed, DomainError> {
        match self {
            Attempt::Locked { retry_after_secs } => Err(DomainError::Locked { retry_after_secs }),
            Attempt::Wrong => Err(DomainError::InvalidCredentials),
            Attempt::Unverified => Err(DomainError::EmailNotVerified),
            Attempt::Disabled => Err(DomainError::AccountDisabled),
            Attempt::MfaRequired(_, step) => Ok(Passed::NeedsCode(step)),
            Attempt::LoggedIn(done) => Ok(Passed::Done(done)),
            Attempt::Accepted(..) => Err(DomainError::Internal(
                "a login attempt was answered as a re-authentication".into(),
            )),
        }
    }

    /// A logged-in user confirming a change with the password.
    pub(crate) fn into_reauth(self) -> Result<Box<users::Model>, DomainError> {
        match self {
            Attempt::Accepted(user, _) | Attempt::MfaRequired(user, _) => Ok(user),
            Attempt::LoggedIn(done) => Ok(done.user),
            Attempt::Locked { retry_after_secs } => Err(DomainError::Locked { retry_after_secs }),
            Attempt::Wrong => Err(DomainError::WrongPassword),
            Attempt::Unverified => Err(DomainError::EmailNotVerified),
            // Its sessions ended when it was disabled.
            Attempt::Disabled => Err(DomainError::Unauthorized),
        }
    }

    /// A logged-in user confirming a change (or 2FA setup) with a code,
    /// and the sessions the change ended.
    pub(crate) fn into_code_change(self) -> Result<(Box<users::Model>, Revoked), DomainError> {
        match self {
            Attempt::Accepted(user, revoked) => Ok((user, revoked)),
            Attempt::MfaRequired(user, _) => Ok((user, Revoked::default())),
            Attempt::LoggedIn(done) => Ok((done.user, Revoked::default())),
            Attempt::Locked { retry_after_secs } => Err(DomainError::Locked { retry_after_secs }),
            Attempt::Wrong | Attempt::Unverified | Attempt::Disabled => {
                Err(DomainError::InvalidCode)
            }
        }
    }

    /// A passkey login: one 401 for every refusal.
    pub(crate) fn into_passkey_login(self) -> Result<LoggedIn, DomainError> {
        match self {
            Attempt::LoggedIn(done) => Ok(*done),
            Attempt::Locked { retry_after_secs } => Err(DomainError::Locked { retry_after_secs }),
            Attempt::Unverified => Err(DomainError::EmailNotVerified),
            Attempt::Accepted(..)
            | Attempt::MfaRequired(..)
            | Attempt::Wrong
            | Attempt::Disabled => Err(DomainError::PasskeyRefused),
        }
    }

    /// The second step of a 2FA login.
    pub(crate) fn into_second_step(self) -> Result<LoggedIn, DomainError> {
        match self {
            Attempt::LoggedIn(done) => Ok(*done),
            Attempt::Locked { retry_after_secs } => Err(DomainError::Locked { retry_after_secs }),
            Attempt::Accepted(..)
            | Attempt::MfaRequired(..)
            | Attempt::Wrong
            | Attempt::Unverified
            | Attempt::Disabled => Err(DomainError::InvalidCode),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::tests::{ACCESS, REFRESH, pair};
    use crate::store::users::tests::{HASH, user};

    const DEVICE: &str = "Dev1ce-t0ken-0f-f0rty-three-characters-abcd";

    #[test]
    fn debug_of_a_login_outcome_hides_tokens_and_the_password_hash() {
        let mfa = "Mfa-t0ken-0f-f0rty-three-characters-abcdefg";
        let outcomes = [
            LoginOutcome::Done(LoggedIn {
                tokens: pair(),
                device_token: Zeroizing::new(DEVICE.to_owned()),
                user: Box::new(user()),
            }),
            LoginOutcome::MfaRequired {
                mfa_token: Zeroizing::new(mfa.to_owned()),
                expires_in: 300,
                factors: vec!["totp"],
            },
        ];
        for outcome in &outcomes {
            for text in [format!("{outcome:?}"), format!("{outcome:#?}")] {
                for secret in [ACCESS, REFRESH, HASH, mfa, DEVICE, "argon2"] {
                    assert!(!text.contains(secret), "{secret} in {text}");
                }
                assert!(text.contains("<redacted>"), "{text}");
            }
        }
    }
}
