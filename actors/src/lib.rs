//! The domain: types parsed at the boundary, the store, and the services and
//! actors that own every rule with state.

pub mod accounts;
pub mod domain;
pub mod error;
pub mod hasher;
pub mod one_time;
pub mod store;

pub use accounts::{Accounts, Links, RegisterInput};
pub use error::{DomainError, FieldErrors};
pub use hasher::{HashCost, Hasher};
