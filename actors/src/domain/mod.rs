//! Domain types, parsed once at the boundary. A value of one of these types
//! is valid by construction; each parse error is a message a frontend can
//! show next to the field.

mod email;
mod ids;
mod names;
pub(crate) mod page;
mod password;
mod roles;

pub use email::Email;
pub(crate) use email::normalize as normalize_email;
pub use ids::{DeviceId, PasskeyId, SessionId, UserId};
pub use names::CompanyName;
pub(crate) use names::PersonName;
pub use password::Password;
pub use roles::{AppMetadata, MAX_APP_METADATA_BYTES, MAX_ROLES, Roles};
