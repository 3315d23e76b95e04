//! The audit trail: every security event of a user is one `audit_events`
//! row, written in the transaction of the change it records (so an event
//! is there exactly when its change is), and one log line on the `audit`
//! target. [`record`] is the writer (through `audit_events::append`;
//! [`record_bare`] for a deleted account's one event); [`page`] and
//! [`all_of`] the readers.

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::DomainError;
use crate::context::RequestContext;
use crate::domain::{UserId, page};
use crate::store::audit_events;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Registered,
    EmailVerified,
    LoginSucceeded,
    /// A wrong password, at login or when confirming a change.
    LoginFailed,
    /// A failure that started a lock of the account or of a device.
    AccountLocked,
    /// A wrong TOTP or backup code.
    MfaFailed,
    RefreshReuseDetected,
    LoggedOut,
    ResetRequested,
    ResetCompleted,
    PasswordChanged,
    MfaEnabled,
    MfaDisabled,
    BackupCodesRenewed,
    BackupCodeUsed,
    /// A login gave the client a new device token.
    DeviceTrusted,
    /// The owner turned an optional alert on or off.
    AlertsChanged,
    PasskeyAdded,
    PasskeyRemoved,
    /// A passkey assertion whose signature counter did not move forward:
    /// a sign of a cloned authenticator; refused.
    PasskeyCloneSuspected,
    /// The right password (or passkey) for a disabled account: refused,
    /// answered like a wrong one.
    LoginRefusedDisabled,
    /// The owner changed their names (`PATCH /auth/me/`).
    ProfileUpdated,
    /// The account was deleted: the one event left of it, with its user
    /// id and nothing of the client.
    AccountDeleted,
    /// The owner downloaded everything stored about the account.
    DataExported,
    /// A link to move the account to another address was asked for.
    EmailChangeRequested,
    /// The account moved to another address (its link was used).
    EmailChanged,
    /// The old address was put back with the link mailed to it.
    EmailChangeReverted,
    /// An admin disabled the account: every session ended, logins refused.
    AccountDisabled,
    /// An admin enabled the account again.
    AccountEnabled,
    /// An admin cleared the account's lock and failure count.
    AccountUnlocked,
    /// An admin changed the account's roles.
    RolesChanged,
    /// An identity at another provider was linked (also when a provider
    /// made the account).
    IdentityLinked,
    /// An identity at another provider was unlinked.
    IdentityUnlinked,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Registered => "registered",
            EventKind::EmailVerified => "email_verified",
            EventKind::LoginSucceeded => "login_succeeded",
            EventKind::LoginFailed => "login_failed",
            EventKind::AccountLocked => "account_locked",
            EventKind::MfaFailed => "mfa_failed",
            EventKind::RefreshReuseDetected => "refresh_reuse_detected",
            EventKind::LoggedOut => "logged_out",
            EventKind::ResetRequested => "reset_requested",
            EventKind::ResetCompleted => "reset_completed",
            EventKind::PasswordChanged => "password_changed",
            EventKind::MfaEnabled => "mfa_enabled",
            EventKind::MfaDisabled => "mfa_disabled",
            EventKind::BackupCodesRenewed => "backup_codes_renewed",
            EventKind::BackupCodeUsed => "backup_code_used",
            EventKind::AlertsChanged => "alerts_changed",
            EventKind::DeviceTrusted => "device_trusted",
            EventKind::PasskeyAdded => "passkey_added",
            EventKind::PasskeyRemoved => "passkey_removed",
            EventKind::PasskeyCloneSuspected => "passkey_clone_suspected",
            EventKind::LoginRefusedDisabled => "login_refused_disabled",
            EventKind::ProfileUpdated => "profile_updated",
            EventKind::AccountDeleted => "account_deleted",
            EventKind::DataExported => "data_exported",
            EventKind::EmailChangeRequested => "email_change_requested",
            EventKind::EmailChanged => "email_changed",
            EventKind::EmailChangeReverted => "email_change_reverted",
            EventKind::AccountDisabled => "account_disabled",
            EventKind::AccountEnabled => "account_enabled",
            EventKind::AccountUnlocked => "account_unlocked",
            EventKind::RolesChanged => "roles_changed",
            EventKind::IdentityLinked => "identity_linked",
            EventKind::IdentityUnlinked => "identity_unlinked",
        }
    }
}

/// One security event: whose, what, the client of the request that
/// caused it, and who made the change when not the user.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub user_id: UserId,
    pub kind: EventKind,
    pub client: &'a RequestContext,
    /// `admin:<key name>` for an admin's change; `None`: the user's own.
    pub actor: Option<&'a str>,
    /// The identity provider the event came through (a login with it, an
    /// identity linked or unlinked); `None` for everything else.
    pub provider: Option<&'a str>,
}

impl<'a> Event<'a> {
    pub fn new(user_id: UserId, kind: EventKind, client: &'a RequestContext) -> Self {
        Self {
            user_id,
            kind,
            client,
            actor: None,
            provider: None,
        }
    }

    /// The same event, through identity provider `provider`.
    pub fn via(self, provider: &'a str) -> Self {
        Self {
            provider: Some(provider),
            ..self
        }
    }

    /// The same event, made by `actor` (`admin:<key name>`).
    pub fn by(self, actor: &'a str) -> Self {
        Self {
            actor: Some(actor),
            ..self
        }
    }
}

/// Writes `event` on `conn` (the transaction of the change it records)
/// and logs it on the `audit` target.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    event: Event<'_>,
    now_ms: i64,
) -> Result<(), DomainError> {
    let Event {
        user_id,
        kind,
        client,
        actor,
        provider,
    } = event;
    let ip = client.ip.to_string();
    let request_id = (!client.request_id.is_empty()).then(|| client.request_id.clone());
    audit_events::append(
        conn,
        user_id,
        kind.as_str(),
        now_ms,
        audit_events::Origin {
            ip: Some(ip.clone()),
            user_agent: client.user_agent.clone(),
            request_id,
            actor: actor.map(str::to_owned),
            provider: provider.map(str::to_owned),
        },
    )
    .await?;
    tracing::info!(
        target: "audit",
        kind = kind.as_str(),
        %user_id,
        actor = actor.unwrap_or(""),
        provider = provider.unwrap_or(""),
        ip,
        user_agent = client.user_agent.as_deref().unwrap_or(""),
        request_id = client.request_id,
        "security event"
    );
    Ok(())
}

/// Writes the event `kind` of `user_id` with nothing of the client (no
/// IP, user agent or request id, in the row or the log line): what a
/// deleted account leaves. `actor` (`admin:<key name>`) names the admin
/// key that made the change, when one did: nothing of the user.
pub(crate) async fn record_bare<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    kind: EventKind,
    actor: Option<&str>,
    now_ms: i64,
) -> Result<(), DomainError> {
    audit_events::append_bare(conn, user_id, kind.as_str(), now_ms, actor).await?;
    tracing::info!(
        target: "audit",
        kind = kind.as_str(),
        %user_id,
        actor = actor.unwrap_or(""),
        "security event"
    );
    Ok(())
}

/// Every stored event of `user_id`, newest first (an export of the account).
pub(crate) async fn all_of<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
) -> Result<Vec<audit_events::Model>, DomainError> {
    use audit_events::Column;
    Ok(audit_events::Entity::find()
        .filter(Column::UserId.eq(user_id))
        .order_by_desc(Column::At)
        .order_by_desc(Column::Id)
        .all(conn)
        .await?)
}

/// Where a page of events starts: strictly older than this event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub id: Uuid,
}

/// Up to `limit` events of `user_id` older than `before`, newest first, and
/// the cursor of the next page (`None` at the end).
pub async fn page<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    before: Option<Cursor>,
    limit: u64,
) -> Result<(Vec<audit_events::Model>, Option<Cursor>), DomainError> {
    use audit_events::Column;
    let query = audit_events::Entity::find().filter(Column::UserId.eq(user_id));
    paged(conn, query, before, limit).await
}

/// Up to `limit` events of every user older than `before`, of kind `kind`
/// if given, newest first, and the cursor of the next page (admin API).
pub async fn page_all<C: ConnectionTrait>(
    conn: &C,
    kind: Option<&str>,
    before: Option<Cursor>,
    limit: u64,
) -> Result<(Vec<audit_events::Model>, Option<Cursor>), DomainError> {
    use audit_events::Column;
    let mut query = audit_events::Entity::find();
    if let Some(kind) = kind {
        query = query.filter(Column::Kind.eq(kind));
    }
    paged(conn, query, before, limit).await
}

/// One page of `query`'s events older than `before`, newest first, and the
/// cursor of the next page (`None` at the end).
async fn paged<C: ConnectionTrait>(
    conn: &C,
    mut query: sea_orm::Select<audit_events::Entity>,
    before: Option<Cursor>,
    limit: u64,
) -> Result<(Vec<audit_events::Model>, Option<Cursor>), DomainError> {
    use audit_events::Column;
    if let Some(c) = before {
        query = query.filter(
            Condition::any().add(Column::At.lt(c.at)).add(
                Condition::all()
                    .add(Column::At.eq(c.at))
                    .add(Column::Id.lt(c.id)),
            ),
        );
    }
    let rows = query
        .order_by_desc(Column::At)
        .order_by_desc(Column::Id)
        .limit(limit + 1)
        .all(conn)
        .await?;
    Ok(page::cut(rows, limit, |r| Cursor { at: r.at, id: r.id }))
}
