//! What a gate takes: one attempt on an account (what the caller presents,
//! the budget it spends, the client), or a login password for an address
//! with no account.

use ractor::RpcReplyPort;
use zeroize::Zeroizing;

use crate::DomainError;
use crate::attempts::{Attempt, Budget, Purpose};
use crate::context::RequestContext;
use crate::mfa::codes::CodeCheck;
use crate::passkeys::assertion::Assertion;

/// Where a gate sends what an attempt came to.
pub type Reply = RpcReplyPort<Result<Attempt, DomainError>>;

/// A gate's message.
pub enum GateMsg {
    /// An attempt on the gate's account, whatever its factor.
    Attempt(AttemptMsg),
    /// A login password for an address with no account (the gate's id is
    /// the address's keyed hash). Kept apart from `Attempt`: such a gate
    /// takes a login password and nothing else, so nothing sent to it is
    /// answered other than as a wrong password for an account is (no
    /// factor, purpose or budget whose refusal could tell the two apart).
    UnknownAddress {
        password: Zeroizing<String>,
        reply: Reply,
    },
}

/// One attempt on an account.
pub struct AttemptMsg {
    pub presented: Presented,
    /// Whose failure count it spends: the account's, or the known device's
    /// whose token was presented. A login's second step spends its first
    /// step's instead (its `mfa_token` stores it).
    pub budget: Budget,
    pub client: RequestContext,
    pub reply: Reply,
}

/// What the caller of an attempt presents.
pub enum Presented {
    /// A password, for a login or to confirm a change.
    Password {
        password: Zeroizing<String>,
        purpose: Purpose,
    },
    /// A passkey login's assertion (its challenge already used).
    Passkey(Box<Assertion>),
    /// A TOTP or backup code, or a passkey as a login's second step (login
    /// step two, 2FA setup, re-authentication).
    Code(CodeCheck),
    /// An identity another provider vouched for: its single-use code was
    /// used on the way here (`oidc::exchange`), so it is right.
    Identity { provider: String },
}

impl Presented {
    /// A password (copied into memory that is wiped when dropped).
    pub fn password(password: &str, purpose: Purpose) -> Self {
        Presented::Password {
            password: Zeroizing::new(password.to_owned()),
            purpose,
        }
    }
}
