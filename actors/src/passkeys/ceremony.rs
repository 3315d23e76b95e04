//! A WebAuthn ceremony between its start and its finish: webauthn-rs's
//! state, stored as JSON under the SHA-256 of a random 256-bit challenge
//! id that only the client holds; single use, 5 minutes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use webauthn_rs::prelude::{DiscoverableAuthentication, PasskeyAuthentication};
use zeroize::Zeroizing;

use crate::DomainError;
use crate::one_time::{self, NewToken};
pub use crate::store::webauthn_challenges::Ceremony;
use crate::store::webauthn_challenges::{self, Bound, Claimant, NewChallenge};

/// How long a ceremony may take (webauthn-rs's authenticator timeout is
/// the same 5 minutes).
pub(crate) const TTL_MS: i64 = 5 * 60 * 1000;

/// How many passkey logins started and not finished are kept by default
/// (`AUTH_PASSKEY_OPEN_LOGINS`).
pub const OPEN_LOGINS: u64 = 10_000;

/// What anyone can start without an account or an `mfa_token`.
const UNAUTHENTICATED: [Ceremony; 2] = [Ceremony::Login, Ceremony::Discover];
/// Older login ceremonies deleted at most per start (a start adds one).
const TRIM_BATCH: u64 = 100;

/// The state of a login ceremony, by kind.
pub enum LoginState {
    Named(PasskeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

impl std::fmt::Debug for LoginState {
    // The state holds the challenge: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LoginState::Named(_) => "LoginState::Named(..)",
            LoginState::Discoverable(_) => "LoginState::Discoverable(..)",
        })
    }
}

/// Stores a ceremony's state; returns the challenge id for the client.
pub async fn start<C: ConnectionTrait, S: Serialize>(
    conn: &C,
    kind: Ceremony,
    bound: Bound,
    state: &S,
    now_ms: i64,
) -> Result<Zeroizing<String>, DomainError> {
    let id = NewToken::generate();
    let state = serde_json::to_string(state)
        .map_err(|e| DomainError::Internal(format!("webauthn state: {e}")))?;
    let new = NewChallenge {
        id_hash: id.hash,
        kind,
        bound,
        state,
        expires_at: now_ms.saturating_add(TTL_MS),
    };
    webauthn_challenges::start(conn, new, now_ms).await?;
    Ok(id.secret)
}

/// Keeps the newest `keep` login ceremonies (started by anyone, with
/// `auth/passkey/start`) and drops older ones, so that a flood of starts
/// cannot grow the table without bound: the count is the database's, so
/// it holds across nodes. Starts racing on several connections can pass
/// `keep` until the next start trims again. A failure (two trims in a
/// deadlock on PostgreSQL, say) is logged and left to the next start: the
/// ceremony just stored is good.
pub(crate) async fn trim_logins<C: ConnectionTrait>(conn: &C, keep: u64) {
    match webauthn_challenges::trim(conn, &UNAUTHENTICATED, keep, TRIM_BATCH).await {
        Ok(0) => {}
        Ok(dropped) => {
            metrics::counter!("authd_passkey_logins_dropped_total").increment(dropped);
            tracing::debug!(dropped, keep, "oldest passkey login ceremonies dropped");
        }
        Err(e) => tracing::warn!(error = %e, "passkey login ceremonies not trimmed"),
    }
}

/// Uses the ceremony `presented` names, if `who` may finish it and it is
/// one of `kinds`; `ChallengeInvalid` otherwise (unknown, used, expired,
/// another user's or session's).
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    presented: &str,
    kinds: &[Ceremony],
    who: Claimant,
    now_ms: i64,
) -> Result<webauthn_challenges::Model, DomainError> {
    let hash = one_time::lookup_hash(presented).ok_or(DomainError::ChallengeInvalid)?;
    webauthn_challenges::claim(conn, &hash, kinds, who, now_ms)
        .await?
        .ok_or(DomainError::ChallengeInvalid)
}

/// A stored state read back.
pub fn state<S: DeserializeOwned>(row: &webauthn_challenges::Model) -> Result<S, DomainError> {
    serde_json::from_str(&row.state)
        .map_err(|e| DomainError::Internal(format!("webauthn state: {e}")))
}

/// The login state of a claimed login ceremony.
pub(crate) fn login_state(row: &webauthn_challenges::Model) -> Result<LoginState, DomainError> {
    match row.kind {
        Ceremony::Login | Ceremony::SecondFactor => Ok(LoginState::Named(state(row)?)),
        Ceremony::Discover => Ok(LoginState::Discoverable(state(row)?)),
        Ceremony::Register => Err(DomainError::Internal(
            "a registration ceremony claimed as a login".into(),
        )),
    }
}

/// A credential id as stored and compared: base64url without padding.
pub(crate) fn encode_id(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}
