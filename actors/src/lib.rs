//! The domain: types parsed at the boundary, the store, and the services and
//! actors that own every rule with state.

#![deny(unreachable_pub)]

pub mod account_data;
pub(crate) mod accounts;
pub mod admin;
pub mod alerts;
pub mod attempt_gate;
pub mod attempts;
pub mod audit;
pub mod auth;
pub mod breached;
pub mod broadcast;
pub(crate) mod context;
pub(crate) mod credentials;
pub mod domain;
pub(crate) mod email_change;
pub(crate) mod error;
pub mod fingerprint;
pub mod gate_supervisor;
pub(crate) mod hasher;
pub mod hooks;
pub mod janitor;
pub mod jwt;
pub(crate) mod keyed;
pub mod lockout;
pub mod mfa;
pub(crate) mod notices;
pub mod oidc;
pub(crate) mod one_time;
pub mod passkeys;
pub(crate) mod passwords;
pub(crate) mod profile;
pub mod rate_limit;
pub(crate) mod revocation;
pub mod sessions;
pub mod store;
pub mod supervisor;
pub mod token_registry;
pub mod views;
pub(crate) mod webhooks;
pub(crate) mod work;

pub use account_data::AccountData;
pub use accounts::{Accounts, Links, NewAccount, RegisterInput};
pub use context::RequestContext;
pub use domain::{DeviceId, PasskeyId, SessionId, UserId};
pub use email_change::EmailChanges;
pub use error::{DomainError, FieldErrors};
pub use hasher::{HashCost, Hasher};
pub use mfa::Mfa;
pub use passkeys::Passkeys;
pub use passwords::Passwords;
pub use profile::ProfileChange;
