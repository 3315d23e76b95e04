//! Webhook events about an account, queued in the transaction of the
//! change they report (`jobs::webhooks`' outbox): a change that rolls back
//! sends nothing. When no endpoint takes an event type, nothing is read or
//! written for it.

use jobs::webhooks::{self, EventType, Webhooks};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde::Serialize;

use crate::DomainError;
use crate::domain::UserId;
use crate::store::users;
use crate::views::Account;

/// The user object of a webhook: the same fields as the user object of
/// the HTTP answers (`UserView`).
#[derive(Debug, Serialize)]
struct UserObject {
    id: uuid::Uuid,
    email: String,
    first_name: String,
    last_name: String,
    company_name: Option<String>,
    is_email_verified: bool,
    mfa_enabled: bool,
    /// RFC 3339, UTC, whole seconds (as in the answers).
    created_at: String,
    roles: Vec<String>,
    app_metadata: serde_json::Map<String, serde_json::Value>,
}

impl From<Account> for UserObject {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.0,
            email: a.email,
            first_name: a.first_name,
            last_name: a.last_name,
            company_name: a.company_name,
            is_email_verified: a.email_verified,
            mfa_enabled: a.mfa_enabled,
            created_at: chrono::DateTime::from_timestamp_millis(a.created_at)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            roles: a.roles.into_vec(),
            app_metadata: a.app_metadata.into_map(),
        }
    }
}

/// Queues `event` about `user_id` on `conn` (the change's transaction),
/// with the user as the change leaves it. Whether anything was queued.
pub(crate) async fn queue<C: ConnectionTrait>(
    conn: &C,
    hooks: &Webhooks,
    event: EventType,
    user_id: UserId,
    now_ms: i64,
) -> Result<bool, DomainError> {
    if !hooks.wanted(event) {
        return Ok(false);
    }
    let Some(row) = users::Entity::find_by_id(user_id).one(conn).await? else {
        return Ok(false);
    };
    let user = UserObject::from(Account::from(&row));
    Ok(webhooks::queue(conn, hooks, event, user_id.0, Some(&user), now_ms).await?)
}

/// Queues `user.deleted` about `user_id`: no user object, the row is gone.
pub(crate) async fn queue_deleted<C: ConnectionTrait>(
    conn: &C,
    hooks: &Webhooks,
    user_id: UserId,
    now_ms: i64,
) -> Result<bool, DomainError> {
    let none: Option<&UserObject> = None;
    Ok(webhooks::queue(conn, hooks, EventType::UserDeleted, user_id.0, none, now_ms).await?)
}
