//! The check of a passkey assertion, run by the user's AttemptGate after
//! it has claimed a failure: the credential must be the user's, the
//! signature, origin, challenge and user verification right (webauthn-rs),
//! and the signature counter must move forward; the use is then recorded
//! with a conditional update on the counter.

use sea_orm::ConnectionTrait;
use webauthn_rs::Webauthn;
use webauthn_rs::prelude::{Passkey, PublicKeyCredential, WebauthnError};

use super::ceremony::LoginState;
use crate::DomainError;
use crate::store::passkeys::{self, Use};
use crate::store::users;

/// A passkey login's finish, as the gate gets it.
pub struct Assertion {
    pub credential: PublicKeyCredential,
    pub state: LoginState,
}

impl std::fmt::Debug for Assertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Assertion(..)")
    }
}

/// What the check came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Accepted,
    /// Not the user's credential, or an assertion webauthn-rs refuses.
    Refused,
    /// The counter did not move forward (or another use got in first with
    /// the same counter): a cloned authenticator, refused.
    Cloned,
}

pub async fn check<C: ConnectionTrait>(
    db: &C,
    webauthn: &Webauthn,
    user: &users::Model,
    assertion: &Assertion,
    now_ms: i64,
) -> Result<Checked, DomainError> {
    let Assertion { credential, state } = assertion;
    let credential_id = super::ceremony::encode_id(credential.get_credential_id());
    let Some(row) = passkeys::by_credential_id(db, &credential_id).await? else {
        return Ok(Checked::Refused);
    };
    // The user handle, when the authenticator gives one, must name the
    // owner; a discoverable login has nothing else to name the user by.
    let handle = credential.get_user_unique_id();
    let handle_ok = match (state, handle) {
        (_, Some(h)) => h == user.id.0.as_bytes().as_slice(),
        (LoginState::Named(_), None) => true,
        (LoginState::Discoverable(_), None) => false,
    };
    if row.user_id != user.id || !handle_ok {
        return Ok(Checked::Refused);
    }
    let mut passkey: Passkey = serde_json::from_str(&row.passkey)
        .map_err(|e| DomainError::Internal(format!("stored passkey: {e}")))?;
    let result = match state {
        LoginState::Named(state) => webauthn.finish_passkey_authentication(credential, state),
        LoginState::Discoverable(state) => {
            webauthn.finish_discoverable_authentication_v2(credential, state.clone(), &passkey)
        }
    };
    let cloned = || {
        tracing::warn!(user_id = %user.id, passkey_id = %row.id, "passkey counter did not move forward");
        Ok(Checked::Cloned)
    };
    let result = match result {
        Ok(r) => r,
        Err(WebauthnError::CredentialPossibleCompromise) => return cloned(),
        Err(e) => {
            tracing::info!(user_id = %user.id, error = %e, "passkey assertion refused");
            return Ok(Checked::Refused);
        }
    };
    // webauthn-rs compares the counter with the copy of the credential in
    // a named login's state, taken when the ceremony started; another use
    // since then moved the stored one on. Compare with the stored one.
    let counter = i64::from(result.counter());
    if (counter > 0 || row.counter > 0) && counter <= row.counter {
        return cloned();
    }
    passkey.update_credential(&result);
    let change = Use {
        passkey: serde_json::to_string(&passkey)
            .map_err(|e| DomainError::Internal(format!("passkey: {e}")))?,
        counter,
        backup_eligible: result.backup_eligible() || row.backup_eligible,
        backup_state: result.backup_state(),
        at: now_ms,
    };
    // Recorded only if no other use moved the counter since it was read.
    if !passkeys::record_use(db, row.id, row.counter, change).await? {
        return cloned();
    }
    Ok(Checked::Accepted)
}
