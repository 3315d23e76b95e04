//! The factors an attempt presents (a password, a TOTP or backup code, a
//! passkey), each checked to a verdict, and the second step a right
//! password starts when 2FA is on.

use super::{GateDeps, Presented};
use crate::DomainError;
use crate::attempts::{Budget, PasswordStep, Purpose, Revoked, SecondStep};
use crate::audit::EventKind;
use crate::context::RequestContext;
use crate::domain::UserId;
use crate::mfa::challenges;
use crate::mfa::codes::{self, CodeCheck};
use crate::passkeys::assertion::{self, Assertion, Checked};
use crate::store::{passkeys, users};

/// The factor an attempt presents, and what a right one leads to.
pub(super) enum Factor<'a> {
    Password {
        password: &'a str,
        purpose: Purpose,
    },
    /// A TOTP or backup code; `step` is its login's first step (none for
    /// a code confirming a change).
    Code {
        check: &'a CodeCheck,
        step: Option<PasswordStep>,
    },
    /// A passkey login's assertion.
    Passkey {
        assertion: &'a Assertion,
        webauthn: &'a webauthn_rs::Webauthn,
    },
    /// An identity provider's word, checked before it got here.
    Identity {
        provider: &'a str,
    },
}

/// What checking a factor found.
pub(super) enum Verdict {
    /// Wrong: the claimed failure stands, recorded as this event.
    Wrong(EventKind),
    /// Right, and the sessions the change it made ended (2FA turned on).
    Right(Revoked),
}

impl<'a> Factor<'a> {
    /// The factor `presented` to `user_id`'s gate is, and the budget its
    /// claim spends (`budget`, or for a login's second step its first
    /// step's). What cannot be right whatever it is (a code for a void
    /// `mfa_token`, with no setup pending or 2FA off; a passkey with
    /// passkeys off) is refused here, before anything is counted.
    pub(super) async fn of(
        presented: &'a Presented,
        user_id: UserId,
        budget: Budget,
        deps: &'a GateDeps,
    ) -> Result<(Self, Budget), DomainError> {
        Ok(match presented {
            Presented::Password { password, purpose } => {
                let (password, purpose) = (password.as_str(), *purpose);
                (Factor::Password { password, purpose }, budget)
            }
            Presented::Passkey(assertion) => {
                let Some(webauthn) = deps.mfa.webauthn.as_deref() else {
                    return Err(DomainError::PasskeysOff);
                };
                (
                    Factor::Passkey {
                        assertion,
                        webauthn,
                    },
                    budget,
                )
            }
            Presented::Identity { provider } => (Factor::Identity { provider }, budget),
            Presented::Code(check) => {
                let step = codes::precheck(&deps.mfa, user_id, check).await?;
                let budget = step.map_or(budget, |s| s.budget);
                (Factor::Code { check, step }, budget)
            }
        })
    }

    /// Checks the factor against `user` (a right password whose hash has
    /// an older cost is hashed again).
    pub(super) async fn check(
        &self,
        deps: &GateDeps,
        user: &users::Model,
        client: &RequestContext,
    ) -> Result<Verdict, DomainError> {
        Ok(match self {
            Factor::Password { password, .. } => {
                // An account without a password (made by an admin, not yet
                // invited in) costs the same hash as any other and is
                // never right: no answer or timing tells it apart.
                let has_password = users::has_password(user);
                let phc = if has_password {
                    &user.password_hash
                } else {
                    &*deps.dummy_hash
                };
                if deps.hasher.verify(password, phc).await? && has_password {
                    rehash_if_outdated(deps, user, password).await?;
                    Verdict::Right(Revoked::default())
                } else {
                    Verdict::Wrong(EventKind::LoginFailed)
                }
            }
            Factor::Code { check, .. } => match codes::check(&deps.mfa, user, check, client).await?
            {
                Some(revoked) => Verdict::Right(revoked),
                None => Verdict::Wrong(EventKind::MfaFailed),
            },
            Factor::Passkey {
                assertion,
                webauthn,
            } => {
                let now = deps.clock.now_ms();
                match assertion::check(&deps.db, webauthn, user, assertion, now).await? {
                    Checked::Accepted => Verdict::Right(Revoked::default()),
                    Checked::Refused => Verdict::Wrong(EventKind::LoginFailed),
                    Checked::Cloned => Verdict::Wrong(EventKind::PasskeyCloneSuspected),
                }
            }
            Factor::Identity { .. } => Verdict::Right(Revoked::default()),
        })
    }

    /// A password is checked before anything else is looked at, so a
    /// deactivated account costs the same hash as any other; a code or a
    /// passkey of one is not checked at all. A provider's identity was
    /// checked already: a disabled account gets its answer, as for a right
    /// password.
    pub(super) fn checked_while_inactive(&self) -> bool {
        matches!(self, Factor::Password { .. } | Factor::Identity { .. })
    }

    /// The identity provider a login came through, if any.
    pub(super) fn provider(&self) -> Option<&str> {
        match self {
            Factor::Identity { provider } => Some(provider),
            _ => None,
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            Factor::Password { .. } => "password",
            Factor::Code { .. } => "code",
            Factor::Passkey { .. } => "passkey",
            Factor::Identity { .. } => "identity",
        }
    }
}

/// The challenge of a login's second step, started where its first step
/// was decided: checked against the credential version the password was
/// checked against, on the budget the password step spent.
pub(super) async fn second_step(
    deps: &GateDeps,
    user: &users::Model,
    budget: Budget,
) -> Result<SecondStep, DomainError> {
    let now = deps.clock.now_ms();
    let version = user.credential_version;
    let mfa_token = challenges::start(&deps.db, user.id, version, budget, now).await?;
    let mut factors = vec!["totp"];
    if !passkeys::of_user(&deps.db, user.id).await?.is_empty() {
        factors.push("passkey");
    }
    Ok(SecondStep {
        mfa_token,
        expires_in: challenges::TTL_MS / 1000,
        factors,
    })
}

/// A right password whose stored hash has an older cost is hashed again.
async fn rehash_if_outdated(
    deps: &GateDeps,
    user: &users::Model,
    password: &str,
) -> Result<(), DomainError> {
    if deps.hasher.is_current(&user.password_hash) {
        return Ok(());
    }
    let new = deps.hasher.hash(password).await?;
    users::rehash(&deps.db, user.id, &user.password_hash, new).await?;
    tracing::info!(user_id = %user.id, "password hash upgraded to the configured cost");
    Ok(())
}
