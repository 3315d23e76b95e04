//! The admin API's domain: its keys (made and revoked from the command
//! line, checked on every admin request) and what an admin does to users
//! (list, view, change, end sessions, unlock, read events, delete, reset
//! second factors). Every admin change is one unit of work recorded as an
//! event of the user with the key's name as its `actor`.

mod delete;
mod keys;
mod reset_mfa;
mod users;

pub use keys::{AdminCaller, AdminKeyInfo, create_key, list_keys, revoke_key};
pub use users::{AdminUser, AdminUserChange, StatusFilter, UserCursor, UserQuery};

use jobs::SharedClock;
use sea_orm::DatabaseConnection;

use crate::mfa::Mfa;
use crate::work::AfterCommit;

/// What the admin handlers ask: keys checked, users read and changed.
#[derive(Debug, Clone)]
pub struct Admin {
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    /// What a change's commit runs after it (the registry told).
    pub after: AfterCommit,
    /// The 2FA service: what a deletion and a reset of second factors
    /// need (the mail sealer, the address ids, the reset page).
    pub mfa: Mfa,
}
