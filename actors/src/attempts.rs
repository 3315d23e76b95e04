//! What an attempt is made with and against: the failure budget it spends
//! and, for a second login step, what its first step was checked against.

use uuid::Uuid;

/// Whose failure budget an attempt spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// The account's: the lockout every client without a device token shares.
    Account,
    /// A known device's own (its token was presented): failures elsewhere
    /// do not lock it out, and its own failures void it.
    Device(Uuid),
}

/// A second login step's first step: the credential version its password
/// was checked against, and the budget it spent.
#[derive(Debug, Clone, Copy)]
pub struct FirstStep {
    pub version: i64,
    pub budget: Budget,
}
