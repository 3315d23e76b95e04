//! The caller's security events (the audit trail), newest first.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{Object, OpenApi};
use tracing::instrument;

use actors::audit::Cursor;
use actors::{DomainError, FieldErrors};

use crate::ApiState;
use crate::error::ApiError;
use crate::outcomes;
use crate::reply::Reply;
use crate::security::BearerAuth;
use crate::tags::ApiTag;
use crate::time::rfc3339_ms;

/// Events per page unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 20;

/// One security event.
#[derive(Object, Debug)]
pub struct EventView {
    /// The event's id.
    pub id: uuid::Uuid,
    /// What happened: registered, email_verified, login_succeeded,
    /// login_failed, account_locked, mfa_failed, refresh_reuse_detected,
    /// logged_out, reset_requested, reset_completed, password_changed,
    /// mfa_enabled, mfa_disabled, backup_codes_renewed, backup_code_used,
    /// device_trusted, alerts_changed, passkey_added, passkey_removed,
    /// passkey_clone_suspected, login_refused_disabled, profile_updated,
    /// account_deleted, data_exported, email_change_requested, email_changed,
    /// email_change_reverted, account_disabled, account_enabled,
    /// account_unlocked, roles_changed, identity_linked, identity_unlinked.
    pub kind: String,
    /// When (RFC 3339, milliseconds).
    pub at: String,
    /// The client IP of the request that caused it.
    #[oai(nullable)]
    pub ip: Option<String>,
    /// The user agent of that request.
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// Who made the change when not the user: `admin:<key name>`.
    #[oai(nullable)]
    pub actor: Option<String>,
    /// The identity provider it came through (a sign-in with it, an
    /// identity linked or unlinked), else null.
    #[oai(nullable)]
    pub provider: Option<String>,
    /// Whose event it is (only in the admin API's list of everyone's).
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<uuid::Uuid>,
}

/// The view of `e`, with its user when the list is everyone's.
pub(crate) fn event_view(
    e: actors::views::SecurityEvent,
    user_id: Option<uuid::Uuid>,
) -> EventView {
    EventView {
        id: e.id,
        kind: e.kind,
        at: rfc3339_ms(e.at),
        ip: e.ip,
        user_agent: e.user_agent,
        actor: e.actor,
        provider: e.provider,
        user_id,
    }
}

/// A page of events.
#[derive(Object, Debug)]
pub struct EventPage {
    /// Newest first.
    pub events: Vec<EventView>,
    /// Pass as `before` for the next (older) page; null at the end.
    #[oai(nullable)]
    pub next_before: Option<String>,
}

outcomes!(EventsOutcomes: 200, [400, 401, 500, 503]);

pub struct EventsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTag::Auth")]
impl EventsApi {
    /// List my security events
    ///
    /// The caller's own security events (logins, failures, lockouts,
    /// password and 2FA changes, logouts...), newest first, a page at a
    /// time. Kept 90 days.
    #[oai(path = "/auth/events/", method = "get", operation_id = "listEvents")]
    #[instrument(skip_all)]
    async fn list(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        /// Events per page, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The `next_before` of the previous page.
        #[oai(validator(max_length = 200))]
        before: Query<Option<String>>,
    ) -> Result<Reply<EventPage, EventsOutcomes>, ApiError> {
        let before = before.0.as_deref().map(decode).transpose()?;
        let limit = u64::from(limit.0.unwrap_or(DEFAULT_LIMIT));
        let (rows, next) = state.auth.events_of(&auth.0, before, limit).await?;
        let events = rows.into_iter().map(|e| event_view(e, None)).collect();
        Ok(Reply::ok(
            "Security events",
            EventPage {
                events,
                next_before: next.map(encode),
            },
        ))
    }
}

/// A cursor as the opaque text clients pass back.
pub(crate) fn encode(c: Cursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", c.at, c.id))
}

pub(crate) fn decode(text: &str) -> Result<Cursor, ApiError> {
    let bad = || {
        ApiError::from(DomainError::Validation(FieldErrors::from([(
            "before".to_owned(),
            vec!["is not a cursor from this list".to_owned()],
        )])))
    };
    let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = raw.split_once('.').ok_or_else(bad)?;
    Ok(Cursor {
        at: at.parse().map_err(|_| bad())?,
        id: id.parse().map_err(|_| bad())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_the_round_trip_and_junk_is_refused() {
        let c = Cursor {
            at: 1_764_450_000_123,
            id: uuid::Uuid::new_v4(),
        };
        assert_eq!(decode(&encode(c)).unwrap(), c);
        for junk in ["", "!!", "bm9wZQ", &URL_SAFE_NO_PAD.encode("12.not-a-uuid")] {
            assert_eq!(decode(junk).unwrap_err().status.as_u16(), 400, "{junk}");
        }
    }
}
