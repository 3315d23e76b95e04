//! What a gate needs from the outside world.

use std::time::Duration;

use jobs::SharedClock;
use sea_orm::DatabaseConnection;

use crate::Hasher;
use crate::hooks::Hooks;
use crate::lockout::LockoutPolicy;
use crate::mfa::deps::MfaDeps;
use crate::sessions::SessionStore;

/// What a gate needs from the outside world.
#[derive(Clone, Debug)]
pub struct GateDeps {
    pub db: DatabaseConnection,
    pub hasher: Hasher,
    pub clock: SharedClock,
    pub policy: LockoutPolicy,
    /// A gate with no message for this long is stopped.
    pub idle_after: Duration,
    pub mfa: std::sync::Arc<MfaDeps>,
    /// A completed login starts its session here, in the transaction that
    /// resets the failure count.
    pub sessions: SessionStore,
    /// Pause points for tests.
    pub hooks: Hooks,
    /// A hash of a random password with the configured cost: passwords
    /// for addresses with no account are checked against it.
    pub dummy_hash: std::sync::Arc<str>,
}
