//! What code checks need: the database, the keys, the clock. Apart from
//! the `Mfa` facade, so that the user's actor can use it without depending
//! on the facade (which depends on `Auth`, which talks to the actor).

use std::sync::Arc;

use jobs::{Sealer, SharedClock};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::Notify;
use zeroize::Zeroizing;

use super::backup::{self, BackupKey};
use crate::DomainError;
use crate::domain::UserId;
use crate::store::backup_codes;
use webauthn_rs::Webauthn;

/// What code checks need: the database, the keys, the clock.
pub struct MfaDeps {
    pub db: DatabaseConnection,
    pub sealer: Arc<Sealer>,
    pub(crate) backup_key: BackupKey,
    pub clock: SharedClock,
    pub outbox_wake: Arc<Notify>,
    /// Where the notices of 2FA changes send an owner who did not make
    /// them: the page that asks for a reset (no token in it).
    pub reset_page: String,
    /// The relying party passkeys are checked against (`None`: passkeys
    /// off): a passkey can be the second factor too.
    pub webauthn: Option<Arc<Webauthn>>,
    /// Endpoints told of 2FA turned on (the gate's own transaction).
    pub webhooks: jobs::Webhooks,
}

impl std::fmt::Debug for MfaDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaDeps")
            .field("sealer", &self.sealer)
            .field("passkeys", &self.webauthn.is_some())
            .finish_non_exhaustive()
    }
}

impl MfaDeps {
    pub fn new(
        db: DatabaseConnection,
        sealer: Arc<Sealer>,
        clock: SharedClock,
        outbox_wake: Arc<Notify>,
        reset_page: String,
        webauthn: Option<Arc<Webauthn>>,
        webhooks: jobs::Webhooks,
    ) -> Self {
        let backup_key = BackupKey::new(sealer.derive_keys("backup codes"));
        Self {
            db,
            sealer,
            backup_key,
            clock,
            outbox_wake,
            reset_page,
            webauthn,
            webhooks,
        }
    }

    fn context(user_id: UserId) -> Vec<u8> {
        [b"totp:".as_slice(), user_id.0.as_bytes()].concat()
    }

    pub(crate) fn seal_secret(
        &self,
        user_id: UserId,
        secret: &[u8],
    ) -> Result<String, DomainError> {
        Ok(self.sealer.seal(secret, &Self::context(user_id))?)
    }

    pub(crate) fn open_secret(
        &self,
        user_id: UserId,
        sealed: &str,
    ) -> Result<Zeroizing<Vec<u8>>, DomainError> {
        Ok(Zeroizing::new(
            self.sealer.open(sealed, &Self::context(user_id))?,
        ))
    }

    /// Stores a new set of backup codes in place of the old; returns them.
    pub(super) async fn replace_backup_codes<C: ConnectionTrait>(
        &self,
        conn: &C,
        user_id: UserId,
        now_ms: i64,
    ) -> Result<Vec<Zeroizing<String>>, DomainError> {
        let set = backup::new_set();
        let hashes = set.iter().filter_map(|code| {
            backup::normalize(code).map(|normalized| self.backup_key.hash(&normalized))
        });
        backup_codes::replace_set(conn, user_id, hashes, now_ms).await?;
        Ok(set)
    }
}
