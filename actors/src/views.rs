//! What a caller is shown of the stored rows: the account, a login
//! session, a passkey, a security event. Each is built here from its row,
//! with only what the caller may see: no password hash, token hash, TOTP
//! secret or passkey credential is in any of them. Times are Unix
//! milliseconds.

use uuid::Uuid;

use crate::domain::{AppMetadata, PasskeyId, Roles, SessionId, UserId};
use crate::store::{audit_events, devices, passkeys, sessions, users};

/// An account, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user's id.
    pub id: UserId,
    /// The address as registered.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Company, if one was given.
    pub company_name: Option<String>,
    /// Whether the email address has been verified.
    pub email_verified: bool,
    /// Whether two-factor authentication is on.
    pub mfa_enabled: bool,
    /// When the account was created.
    pub created_at: i64,
    /// Roles given by the admin API (read-only to the user).
    pub roles: Roles,
    /// App metadata set by the admin API (read-only to the user).
    pub app_metadata: AppMetadata,
}

impl From<&users::Model> for Account {
    fn from(u: &users::Model) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            company_name: u.company_name.clone(),
            email_verified: u.email_verified_at.is_some(),
            mfa_enabled: u.mfa_enabled,
            created_at: u.created_at,
            roles: Roles::from_stored(&u.roles),
            app_metadata: AppMetadata::from_stored(&u.app_metadata),
        }
    }
}

/// One login session: the refresh tokens of one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session's id.
    pub id: SessionId,
    /// When the login that started it completed.
    pub created_at: i64,
    /// When it last issued tokens: its login, or its latest refresh.
    pub last_used_at: i64,
    /// The client IP of the login that started it.
    pub ip: Option<String>,
    /// The user agent of the login that started it.
    pub user_agent: Option<String>,
    /// When it ended (a logout, a credential change...), if it did.
    pub ended_at: Option<i64>,
}

impl From<sessions::Model> for Session {
    fn from(s: sessions::Model) -> Self {
        Self {
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            ip: s.ip,
            user_agent: s.user_agent,
            ended_at: s.revoked_at,
        }
    }
}

/// A known device of an account: when it was first and last used; never
/// its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// When a login first gave it its token.
    pub created_at: i64,
    /// When it last logged in.
    pub last_used_at: i64,
}

impl From<devices::Model> for Device {
    fn from(d: devices::Model) -> Self {
        Self {
            created_at: d.created_at,
            last_used_at: d.last_used_at,
        }
    }
}

/// Everything stored about an account that is not a secret, as its owner
/// downloads it (no hash, TOTP secret, code, token or passkey credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The account.
    pub account: Account,
    /// Every stored session, live or ended, newest first.
    pub sessions: Vec<Session>,
    /// Every stored security event, newest first.
    pub events: Vec<SecurityEvent>,
    /// The passkeys, oldest first.
    pub passkeys: Vec<Passkey>,
    /// The known devices, live or forgotten, oldest first.
    pub devices: Vec<Device>,
    /// Whether the new-device alert is on.
    pub alert_new_device: bool,
    /// Identities at other providers, oldest first.
    pub identities: Vec<Identity>,
}

/// One identity at another provider linked to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: uuid::Uuid,
    /// The provider's `id` in the configuration.
    pub provider: String,
    /// The address the provider gave when it was linked.
    pub email: Option<String>,
    pub created_at: i64,
}

impl From<crate::store::identities::Model> for Identity {
    fn from(row: crate::store::identities::Model) -> Self {
        Self {
            id: row.id,
            provider: row.provider,
            email: row.email,
            created_at: row.created_at,
        }
    }
}

/// One passkey of an account, without its credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkey {
    /// The passkey's id (not the credential id).
    pub id: PasskeyId,
    /// Its name.
    pub name: String,
    /// When it was registered.
    pub created_at: i64,
    /// When it last logged in, if ever.
    pub last_used_at: Option<i64>,
}

impl From<passkeys::Model> for Passkey {
    fn from(p: passkeys::Model) -> Self {
        Self {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

/// One recorded security event of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    /// The event's id.
    pub id: Uuid,
    /// What happened (an `EventKind`'s name).
    pub kind: String,
    /// When.
    pub at: i64,
    /// The client IP of the request that caused it.
    pub ip: Option<String>,
    /// The user agent of that request.
    pub user_agent: Option<String>,
    /// Who made the change when not the user: `admin:<key name>`.
    pub actor: Option<String>,
    /// The identity provider it came through, if any.
    pub provider: Option<String>,
}

impl From<audit_events::Model> for SecurityEvent {
    fn from(e: audit_events::Model) -> Self {
        Self {
            id: e.id,
            kind: e.kind,
            at: e.at,
            ip: e.ip,
            user_agent: e.user_agent,
            actor: e.actor,
            provider: e.provider,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::users::tests::{HASH, user};

    #[test]
    fn an_account_carries_what_its_owner_sees_and_not_the_hash() {
        let row = user();
        let account = Account::from(&row);
        assert_eq!(account.id, row.id);
        assert_eq!(account.email, row.email);
        assert_eq!(account.email_verified, row.email_verified_at.is_some());
        let text = format!("{account:#?}");
        for secret in [HASH, "argon2"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}
