use std::collections::BTreeMap;

use thiserror::Error;

/// Field name -> messages, in a stable order.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Everything that can go wrong in the domain. No HTTP here: the API crate
/// maps each variant to a status in one exhaustive match.
#[derive(Debug, Error)]
pub enum DomainError {
    #[error("invalid input")]
    Validation(FieldErrors),
    #[error("email already registered")]
    EmailTaken,
    #[error("invalid or expired token")]
    InvalidToken,
    /// Wrong email or password (one answer for both).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The current password given to an authenticated endpoint is wrong.
    #[error("wrong password")]
    WrongPassword,
    /// A wrong TOTP or backup code.
    #[error("wrong code")]
    InvalidCode,
    /// An unknown, used, expired or voided `mfa_token`.
    #[error("invalid mfa token")]
    MfaTokenInvalid,
    #[error("2FA already enabled")]
    MfaAlreadyEnabled,
    #[error("no 2FA setup pending")]
    MfaNotPending,
    #[error("2FA not enabled")]
    MfaNotEnabled,
    /// A re-authentication with 2FA on that gave no code (the field is
    /// named in the answer).
    #[error("code required")]
    CodeRequired,
    /// Right password, email not verified yet.
    #[error("email not verified")]
    EmailNotVerified,
    /// Too many consecutive failures.
    #[error("account locked")]
    Locked { retry_after_secs: u64 },
    /// A missing, malformed, forged, expired or revoked access or refresh token.
    #[error("unauthorized")]
    Unauthorized,
    /// No such session of the caller's (another user's, or already ended).
    #[error("session not found")]
    SessionNotFound,
    /// An unknown, used or expired WebAuthn challenge id, or one another
    /// user or session started.
    #[error("invalid webauthn challenge")]
    ChallengeInvalid,
    /// A passkey assertion that does not log anyone in (unknown credential,
    /// bad signature, wrong origin, replay, a counter that went back).
    #[error("passkey refused")]
    PasskeyRefused,
    /// No such passkey of the caller's.
    #[error("passkey not found")]
    PasskeyNotFound,
    /// No relying party could be made from the settings (passkeys off).
    #[error("passkeys are not configured")]
    PasskeysOff,
    /// Too many requests from one client.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    #[error("too busy")]
    Busy,
    /// The database cannot be reached (refused, reset, pool timeout, a
    /// server shutting down) or stays locked: try again shortly.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// An account without a password re-authenticates with a fresh login:
    /// this access token is older than that allows.
    #[error("login not fresh enough")]
    StaleLogin,
    /// Right password for an account an admin disabled.
    #[error("account disabled")]
    AccountDisabled,
    /// An admin request without a live admin key (unknown, revoked, or
    /// not an admin key at all).
    #[error("admin key refused")]
    AdminKeyRefused,
    /// A read-only admin key asked for a change.
    #[error("admin key is read-only")]
    ReadOnlyKey,
    /// No such webhook delivery (admin API).
    #[error("webhook delivery not found")]
    DeliveryNotFound,
    /// A retry of a webhook delivery that is pending or delivered: only a
    /// failed one is sent again by hand.
    #[error("webhook delivery not failed")]
    DeliveryNotFailed,
    /// No such user (admin API).
    #[error("user not found")]
    UserNotFound,
    /// An admin asked for what a disabled account cannot use (a reset
    /// link).
    #[error("user disabled")]
    UserDisabled,
    /// No identity provider with this id is configured.
    #[error("identity provider not found")]
    ProviderNotFound,
    /// The identity provider cannot be reached (an optional provider whose
    /// discovery has not succeeded yet).
    #[error("identity provider unavailable")]
    ProviderUnavailable,
    /// A provider's callback whose `state` is unknown, of another
    /// provider, or not this browser's.
    #[error("invalid state")]
    InvalidState,
    /// No such identity of the caller's.
    #[error("identity not found")]
    IdentityNotFound,
    /// Unlinking would leave the account no way to log in.
    #[error("last way to log in")]
    LastLoginMethod,
}

impl DomainError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        DomainError::Validation(BTreeMap::from([(field.to_owned(), vec![message.into()])]))
    }
}

/// The one place a database error becomes a domain error: connection-level
/// failures are `Unavailable` (503), anything else `Internal` (500).
impl From<sea_orm::DbErr> for DomainError {
    fn from(e: sea_orm::DbErr) -> Self {
        if crate::store::reachability::is_unavailable(&e) {
            DomainError::Unavailable(e.to_string())
        } else {
            DomainError::Internal(format!("database: {e}"))
        }
    }
}

impl From<jobs::JobsError> for DomainError {
    fn from(e: jobs::JobsError) -> Self {
        match e {
            jobs::JobsError::Database(db) => db.into(),
            other => DomainError::Internal(format!("outbox: {other}")),
        }
    }
}
