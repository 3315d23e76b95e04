//! What an export of the caller's own data is sent as, and the body that
//! deletion and export take (their operations are in [`crate::me`]).

use poem_openapi::Object;
use serde::Deserialize;

use actors::views::{Device, Export, Session};

use crate::alerts::{AlertSettings, settings};
use crate::events::EventView;
use crate::identities::{IdentityView, identity_view};
use crate::passkeys::{PasskeyView, view};
use crate::time::rfc3339;
use crate::tokens::UserView;

/// The owner confirming: the password, and a code when 2FA is on.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct ReauthRequest {
    /// The account's password; a wrong one gets 401 and counts toward the
    /// lockout (of the device this session logged in with). Required, but
    /// for an account without a password, which instead needs an access
    /// token issued less than 5 minutes ago (a fresh login).
    #[oai(write_only, nullable)]
    #[serde(default)]
    pub password: Option<String>,
    /// The 6-digit code the authenticator app shows now (or a backup
    /// code): required when 2FA is on (401 naming `totp_code` without it).
    #[oai(write_only, nullable)]
    #[serde(default)]
    pub totp_code: Option<String>,
}

impl std::fmt::Debug for ReauthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReauthRequest").finish_non_exhaustive()
    }
}

/// One login session, live or ended.
#[derive(Object, Debug)]
pub struct ExportedSession {
    /// The session's id.
    pub id: uuid::Uuid,
    /// When the login that started it completed (RFC 3339).
    pub created_at: String,
    /// When it last issued tokens (RFC 3339).
    pub last_used_at: String,
    /// The client IP of the login that started it.
    #[oai(nullable)]
    pub ip: Option<String>,
    /// The user agent of the login that started it.
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// When it ended (RFC 3339), or `null` while it is live.
    #[oai(nullable)]
    pub ended_at: Option<String>,
}

/// A known device (a client that holds a device token): never the token.
#[derive(Object, Debug)]
pub struct DeviceView {
    /// When a login first gave it its token (RFC 3339).
    pub created_at: String,
    /// When it last logged in (RFC 3339).
    pub last_used_at: String,
}

/// Everything stored about the caller that is not a secret (no password
/// hash, TOTP secret, backup code, token or passkey credential).
#[derive(Object)]
pub struct AccountExport {
    /// The account, as login and verify-token show it.
    pub user: UserView,
    /// Every stored session, live or ended, newest first.
    pub sessions: Vec<ExportedSession>,
    /// Every stored security event, newest first (this export's
    /// `data_exported` included).
    pub events: Vec<EventView>,
    /// The passkeys, oldest first.
    pub passkeys: Vec<PasskeyView>,
    /// The known devices, live or forgotten, oldest first.
    pub devices: Vec<DeviceView>,
    /// The alert settings.
    pub alerts: AlertSettings,
    /// Identities at other providers linked to the account, oldest first.
    pub identities: Vec<IdentityView>,
}

/// The export as sent.
pub(crate) fn exported(e: Export) -> AccountExport {
    AccountExport {
        user: UserView::from(e.account),
        sessions: e.sessions.into_iter().map(session).collect(),
        events: e
            .events
            .into_iter()
            .map(|e| crate::events::event_view(e, None))
            .collect(),
        passkeys: e.passkeys.into_iter().map(view).collect(),
        devices: e.devices.into_iter().map(device).collect(),
        alerts: settings(e.alert_new_device),
        identities: e.identities.into_iter().map(identity_view).collect(),
    }
}

fn session(s: Session) -> ExportedSession {
    ExportedSession {
        id: s.id.0,
        created_at: rfc3339(s.created_at),
        last_used_at: rfc3339(s.last_used_at),
        ip: s.ip,
        user_agent: s.user_agent,
        ended_at: s.ended_at.map(rfc3339),
    }
}

fn device(d: Device) -> DeviceView {
    DeviceView {
        created_at: rfc3339(d.created_at),
        last_used_at: rfc3339(d.last_used_at),
    }
}
