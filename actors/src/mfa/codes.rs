//! Checking a TOTP or backup code, run by the user's session actor after it
//! has claimed a failure. Single use is decided by conditional updates: the
//! last used time step only moves forward, a backup code's `used_at` is set
//! once, an `mfa_token` is consumed once.

use crate::audit::{self, Event, EventKind};
use crate::context::RequestContext;
use crate::domain::{SessionId, UserId};
use jobs::EmailKind;
use sea_orm::{ConnectionTrait, EntityTrait, TransactionTrait};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::deps::MfaDeps;
use super::{backup, challenges, totp};
use crate::attempts::Revoked;
use crate::attempts::{Budget, PasswordStep};
use crate::passkeys::assertion::{self, Assertion, Checked};
use crate::store::{backup_codes, mfa_challenges, mfa_secrets, users};
use crate::{DomainError, credentials, notices};

/// The second factor presented at login.
pub enum Factor {
    Totp(Zeroizing<String>),
    Backup(Zeroizing<String>),
    /// A passkey's assertion for a `second_factor` ceremony of this login.
    Passkey(Box<Assertion>),
}

/// What a code is checked for.
pub enum CodeCheck {
    /// The second login step, answering the challenge `challenge_id`.
    Login { challenge_id: Uuid, factor: Factor },
    /// The first code of a pending setup: turns 2FA on, as a credential
    /// change that keeps the session `keep` (the caller's).
    Setup {
        code: Zeroizing<String>,
        keep: SessionId,
    },
    /// A logged-in user with 2FA on confirming a sensitive change.
    Reauth { code: Zeroizing<String> },
}

/// Refuses, uncounted, a check that cannot succeed whatever the code: a
/// void `mfa_token`, no setup pending, 2FA off. For the second login step,
/// returns what its first step was checked against.
pub(crate) async fn precheck(
    deps: &MfaDeps,
    user_id: UserId,
    check: &CodeCheck,
) -> Result<Option<PasswordStep>, DomainError> {
    let now = deps.clock.now_ms();
    match check {
        CodeCheck::Login { challenge_id, .. } => {
            return match mfa_challenges::Entity::find_by_id(*challenge_id)
                .one(&deps.db)
                .await?
                .filter(|c| c.user_id == user_id && challenges::usable(c, now))
            {
                Some(c) => Ok(Some(PasswordStep {
                    version: c.credential_version,
                    budget: c.device_id.map_or(Budget::Account, Budget::Device),
                })),
                None => Err(DomainError::MfaTokenInvalid),
            };
        }
        CodeCheck::Setup { .. } => {
            if secret(&deps.db, user_id, false).await?.is_none() {
                return Err(DomainError::MfaNotPending);
            }
        }
        CodeCheck::Reauth { .. } => {
            if secret(&deps.db, user_id, true).await?.is_none() {
                return Err(DomainError::MfaNotEnabled);
            }
        }
    }
    Ok(None)
}

/// `Some` when the code is right (and now used up), with the sessions the
/// change it made ended (turning 2FA on ends every other session).
pub async fn check(
    deps: &MfaDeps,
    user: &users::Model,
    check: &CodeCheck,
    client: &RequestContext,
) -> Result<Option<Revoked>, DomainError> {
    let now = deps.clock.now_ms();
    let right = match check {
        CodeCheck::Setup { code, keep } => {
            return confirm_setup(deps, user, code, *keep, now, client).await;
        }
        CodeCheck::Reauth { code } => use_totp(&deps.db, deps, user, code, now).await?,
        CodeCheck::Login {
            challenge_id,
            factor,
        } => {
            let txn = deps.db.begin().await?;
            if !challenges::consume(&txn, *challenge_id, user.id, now).await? {
                return Ok(None);
            }
            let (right, cloned) = match factor {
                Factor::Totp(code) => (use_totp(&txn, deps, user, code, now).await?, false),
                Factor::Backup(code) => (
                    use_backup(&txn, deps, user, code, now, client).await?,
                    false,
                ),
                Factor::Passkey(assertion) => {
                    let checked = use_passkey(&txn, deps, user, assertion, now).await?;
                    (checked == Checked::Accepted, checked == Checked::Cloned)
                }
            };
            if right {
                txn.commit().await?;
                deps.outbox_wake.notify_one();
            } else {
                drop(txn);
                challenges::failed(&deps.db, *challenge_id).await?;
                if cloned {
                    let event = Event::new(user.id, EventKind::PasskeyCloneSuspected, client);
                    audit::record(&deps.db, event, now).await?;
                }
            }
            right
        }
    };
    Ok(right.then(Revoked::default))
}

/// A passkey as the second factor: checked (and its use recorded) in the
/// transaction that consumes the `mfa_token`.
async fn use_passkey<C: ConnectionTrait>(
    conn: &C,
    deps: &MfaDeps,
    user: &users::Model,
    assertion: &Assertion,
    now_ms: i64,
) -> Result<Checked, DomainError> {
    let webauthn = deps.webauthn.as_deref().ok_or(DomainError::PasskeysOff)?;
    assertion::check(conn, webauthn, user, assertion, now_ms).await
}

/// The user's TOTP secret row, confirmed or pending.
pub async fn secret<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    confirmed: bool,
) -> Result<Option<mfa_secrets::Model>, DomainError> {
    Ok(mfa_secrets::Entity::find_by_id(user_id)
        .one(conn)
        .await?
        .filter(|row| row.confirmed_at.is_some() == confirmed))
}

/// A matched time step and the opened secret.
type Matched = (i64, Zeroizing<Vec<u8>>);

/// The step `code` is valid for, with the opened secret.
fn matching_step(
    deps: &MfaDeps,
    user: &users::Model,
    row: &mfa_secrets::Model,
    code: &str,
    now_ms: i64,
) -> Result<Option<Matched>, DomainError> {
    let secret = deps.open_secret(user.id, &row.secret_sealed)?;
    let totp = totp::totp(&secret, totp::ISSUER, &user.email)?;
    let now_secs = u64::try_from(now_ms / 1000).unwrap_or(0);
    Ok(totp::matching_step(&totp, code, now_secs, row.last_used_step).map(|step| (step, secret)))
}

/// Moves the last used step of a confirmed secret to `step`, if it is later;
/// a secret sealed under an earlier key is sealed again under the current one.
async fn use_totp<C: ConnectionTrait>(
    conn: &C,
    deps: &MfaDeps,
    user: &users::Model,
    code: &str,
    now_ms: i64,
) -> Result<bool, DomainError> {
    let Some(row) = secret(conn, user.id, true).await? else {
        return Ok(false);
    };
    let Some((step, plain)) = matching_step(deps, user, &row, code, now_ms)? else {
        return Ok(false);
    };
    let resealed = if row.key_id != deps.sealer.key_id() {
        Some(mfa_secrets::Resealed {
            secret_sealed: deps.seal_secret(user.id, &plain)?,
            key_id: deps.sealer.key_id().to_owned(),
        })
    } else {
        None
    };
    Ok(mfa_secrets::use_step(conn, user.id, step, resealed).await?)
}

/// Turns 2FA on in one transaction: the pending secret confirmed, and
/// what every credential change does (version, `mfa_token`s, devices,
/// every session but `keep`).
async fn confirm_setup(
    deps: &MfaDeps,
    user: &users::Model,
    code: &str,
    keep: SessionId,
    now_ms: i64,
    client: &RequestContext,
) -> Result<Option<Revoked>, DomainError> {
    let Some(row) = secret(&deps.db, user.id, false).await? else {
        return Ok(None);
    };
    let Some((step, _)) = matching_step(deps, user, &row, code, now_ms)? else {
        return Ok(None);
    };
    let txn = deps.db.begin().await?;
    // Only the pending secret the code was checked against.
    let sealed = row.secret_sealed.as_str();
    if !mfa_secrets::confirm_pending(&txn, user.id, sealed, step, now_ms).await? {
        return Ok(None);
    }
    users::set_mfa_enabled(&txn, user.id, true, now_ms).await?;
    let revoked = credentials::changed(&txn, user.id, Some(keep), now_ms).await?;
    let kind = EmailKind::MfaEnabled {
        first_name: user.first_name.clone(),
        seen: Some(crate::alerts::seen(client, now_ms)),
        reset_page: Some(deps.reset_page.clone()),
    };
    notices::queue(&txn, &deps.sealer, user.id, &user.email, kind, now_ms).await?;
    let event = Event::new(user.id, EventKind::MfaEnabled, client);
    audit::record(&txn, event, now_ms).await?;
    let event = jobs::EventType::UserMfaEnabled;
    let hooked = crate::webhooks::queue(&txn, &deps.webhooks, event, user.id, now_ms).await?;
    txn.commit().await?;
    deps.outbox_wake.notify_one();
    if hooked {
        deps.webhooks.wake();
    }
    Ok(Some(revoked))
}

/// Uses a backup code once and queues the notice with how many remain.
async fn use_backup<C: ConnectionTrait>(
    conn: &C,
    deps: &MfaDeps,
    user: &users::Model,
    typed: &str,
    now_ms: i64,
    client: &RequestContext,
) -> Result<bool, DomainError> {
    let Some(code) = backup::normalize(typed) else {
        return Ok(false);
    };
    let candidates = deps.backup_key.candidates(&code);
    if !backup_codes::use_once(conn, user.id, candidates, now_ms).await? {
        return Ok(false);
    }
    let remaining = backup_codes::unused_count(conn, user.id).await?;
    let kind = EmailKind::BackupCodeUsed {
        first_name: user.first_name.clone(),
        remaining,
    };
    notices::queue(conn, &deps.sealer, user.id, &user.email, kind, now_ms).await?;
    let event = Event::new(user.id, EventKind::BackupCodeUsed, client);
    audit::record(conn, event, now_ms).await?;
    Ok(true)
}
