//! The admin API's domain: its keys (made and revoked from the command
//! line, checked on every admin request) and what an admin does to users
//! (list, view, create, change, move to another address, end sessions,
//! unlock, mail a reset link, read events, delete, reset second factors).
//! Every admin change is one unit of work recorded as an event of the user
//! with the key's name as its `actor`. Webhook deliveries are listed and a
//! failed one sent again (`deliveries`).

mod address;
mod create;
mod delete;
mod deliveries;
mod keys;
mod reset;
mod reset_mfa;
mod users;

pub use create::AdminNewUser;
pub use deliveries::{AdminDelivery, DeliveryCursor, parse_delivery_status};
pub use keys::{AdminCaller, AdminKeyInfo, create_key, list_keys, revoke_key};
pub use users::{AdminUser, AdminUserChange, StatusFilter, UserCursor, UserQuery};

use jobs::SharedClock;
use sea_orm::DatabaseConnection;

use crate::Accounts;
use crate::mfa::Mfa;
use crate::work::AfterCommit;

/// What the admin handlers ask: keys checked, users read and changed.
#[derive(Debug, Clone)]
pub struct Admin {
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    /// What a change's commit runs after it (the registry told).
    pub after: AfterCommit,
    /// New accounts as registration makes them (password rules, breach
    /// screen, hashing), mails (sealer, links, verification).
    pub accounts: Accounts,
    /// The 2FA service: what a deletion and a reset of second factors
    /// need (the mail sealer, the address ids, the reset page).
    pub mfa: Mfa,
}
