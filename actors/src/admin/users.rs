//! What an admin does to users: list and view them (with what only an
//! admin sees: disabled, lock, last login, counts), change them (names,
//! address, verification, disabled, roles, app metadata), end their sessions,
//! clear their lock, read their events. Each change is one unit of work
//! whose events carry the admin key as `actor`, with the registry told.

use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tracing::instrument;
use uuid::Uuid;

use super::{Admin, AdminCaller};
use crate::DomainError;
use crate::audit::{self, Cursor, Event, EventKind};
use crate::context::RequestContext;
use crate::domain::{AppMetadata, Email, Roles, UserId, normalize_email, page};
use crate::lockout::LockoutPolicy;
use crate::profile::ProfileChange;
use crate::revocation;
use crate::store::{passkeys, sessions, users};
use crate::views::{Account, SecurityEvent};
use crate::work::Work;

/// A user as an admin sees it.
#[derive(Debug, Clone)]
pub struct AdminUser {
    /// The user object every caller sees.
    pub account: Account,
    /// Logins are refused and every session ended.
    pub disabled: bool,
    /// When a lock from failed attempts ends, while it lasts.
    pub locked_until: Option<i64>,
    /// When the latest session started (a completed login).
    pub last_login_at: Option<i64>,
    /// Passkeys registered.
    pub passkeys: u64,
    /// Sessions not ended.
    pub sessions: u64,
}

/// Which users a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Verified and not disabled.
    Active,
    Unverified,
    Disabled,
    /// Locked by failed attempts now.
    Locked,
}

impl StatusFilter {
    /// One of `active`, `unverified`, `disabled`, `locked`.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text {
            "active" => Ok(Self::Active),
            "unverified" => Ok(Self::Unverified),
            "disabled" => Ok(Self::Disabled),
            "locked" => Ok(Self::Locked),
            _ => Err(DomainError::field(
                "status",
                "must be one of active, unverified, disabled, locked",
            )),
        }
    }
}

/// Where a page of users starts: strictly older than this user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserCursor {
    pub created_at: i64,
    pub id: Uuid,
}

/// A list's filters.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// A user id, or the start of an address (normalised).
    pub q: Option<String>,
    pub status: Option<StatusFilter>,
    pub cursor: Option<UserCursor>,
}

/// An admin's change of a user, parsed; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct AdminUserChange {
    pub names: ProfileChange,
    /// A new address (set at once, see `address`); with it,
    /// `email_verified` says whether the new address is verified.
    pub email: Option<Email>,
    pub email_verified: Option<bool>,
    pub disabled: Option<bool>,
    pub roles: Option<Roles>,
    pub app_metadata: Option<AppMetadata>,
}

impl Admin {
    /// Up to `limit` users matching `query`, newest first, and the cursor
    /// of the next page (`None` at the end).
    #[instrument(skip_all, err(level = "info", Display))]
    pub async fn users(
        &self,
        query: UserQuery,
        limit: u64,
    ) -> Result<(Vec<AdminUser>, Option<UserCursor>), DomainError> {
        use users::Column;
        let now_ms = self.clock.now_ms();
        let mut find = users::Entity::find();
        if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            find = match q.parse::<Uuid>() {
                Ok(id) => find.filter(Column::Id.eq(UserId(id))),
                Err(_) => {
                    let prefix = normalize_email(q);
                    let escaped = prefix
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_");
                    find.filter(
                        Expr::col(Column::EmailNormalized)
                            .like(LikeExpr::new(format!("{escaped}%")).escape('\\')),
                    )
                }
            };
        }
        find = match query.status {
            None => find,
            Some(StatusFilter::Active) => find
                .filter(Column::EmailVerifiedAt.is_not_null())
                .filter(Column::IsActive.eq(true)),
            Some(StatusFilter::Unverified) => find.filter(Column::EmailVerifiedAt.is_null()),
            Some(StatusFilter::Disabled) => find.filter(Column::IsActive.eq(false)),
            Some(StatusFilter::Locked) => find.filter(Column::LockedUntil.gt(now_ms)),
        };
        if let Some(c) = query.cursor {
            find = find.filter(
                Condition::any()
                    .add(Column::CreatedAt.lt(c.created_at))
                    .add(
                        Condition::all()
                            .add(Column::CreatedAt.eq(c.created_at))
                            .add(Column::Id.lt(UserId(c.id))),
                    ),
            );
        }
        let rows = find
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        let (rows, next) = page::cut(rows, limit, |u| UserCursor {
            created_at: u.created_at,
            id: u.id.0,
        });
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(view(&self.db, row, now_ms).await?);
        }
        Ok((out, next))
    }

    /// One user, as an admin sees it.
    pub async fn user(&self, id: UserId) -> Result<AdminUser, DomainError> {
        let row = users::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(DomainError::UserNotFound)?;
        view(&self.db, &row, self.clock.now_ms()).await
    }

    /// Changes a user; returns it as it is now. Each field that changes
    /// records its event (`profile_updated` for names and app metadata,
    /// `email_changed` (verified only if `email_verified: true` comes
    /// with it), `email_verified`, `roles_changed`, `account_disabled`
    /// with every session ended, `account_enabled`); a field set to what
    /// it already is (an address compared normalised) records nothing.
    #[instrument(skip_all, fields(%id, admin = %caller.name), err(level = "info", Display))]
    pub async fn change_user(
        &self,
        caller: &AdminCaller,
        id: UserId,
        change: AdminUserChange,
        client: &RequestContext,
    ) -> Result<AdminUser, DomainError> {
        caller.may_write()?;
        let mut work = Work::begin(&self.db, self.clock.now_ms()).await?;
        let now_ms = work.now_ms();
        let before = held(&work, id).await?;
        let AdminUserChange {
            names,
            email,
            email_verified,
            disabled,
            roles,
            app_metadata,
        } = change;
        let mut kinds = Vec::new();
        let moved = email.filter(|e| e.normalized() != before.email_normalized);
        if let Some(to) = &moved {
            self.set_email(&mut work, &before, to, email_verified == Some(true))
                .await?;
            kinds.push(EventKind::EmailChanged);
        }
        let names_given = !names.is_empty();
        let columns = users::AdminColumns {
            profile: names.into_columns(),
            // With a new address, `email_verified` was about that one.
            email_verified_at: email_verified
                .filter(|_| moved.is_none())
                .filter(|v| *v != before.email_verified_at.is_some())
                .map(|v| v.then_some(now_ms)),
            is_active: disabled
                .map(|d| !d)
                .filter(|active| *active != before.is_active),
            roles: roles
                .map(|r| r.to_stored())
                .filter(|r| Roles::from_stored(r) != Roles::from_stored(&before.roles)),
            app_metadata: app_metadata.map(|m| m.to_stored()).filter(|m| {
                AppMetadata::from_stored(m) != AppMetadata::from_stored(&before.app_metadata)
            }),
        };
        if names_given || columns.app_metadata.is_some() {
            kinds.push(EventKind::ProfileUpdated);
        }
        if columns.email_verified_at == Some(Some(now_ms)) {
            kinds.push(EventKind::EmailVerified);
        }
        if columns.roles.is_some() {
            kinds.push(EventKind::RolesChanged);
        }
        match columns.is_active {
            Some(false) => kinds.push(EventKind::AccountDisabled),
            Some(true) => kinds.push(EventKind::AccountEnabled),
            None => {}
        }
        let disabling = columns.is_active == Some(false);
        let row = users::admin_update(work.conn(), id, columns, now_ms)
            .await?
            .ok_or(DomainError::UserNotFound)?;
        if disabling {
            let revoked = revocation::end_all_but(work.conn(), id, None, now_ms).await?;
            work.ended(revoked);
        }
        let mut hooks: Vec<jobs::EventType> = Vec::new();
        for kind in kinds {
            work.record(Event::new(id, kind, client).by(&caller.actor))
                .await?;
            let hook = match kind {
                EventKind::AccountDisabled => jobs::EventType::UserDisabled,
                EventKind::AccountEnabled => jobs::EventType::UserEnabled,
                EventKind::EmailVerified => jobs::EventType::UserEmailVerified,
                EventKind::EmailChanged => jobs::EventType::UserEmailChanged,
                _ => jobs::EventType::UserUpdated,
            };
            if !hooks.contains(&hook) {
                hooks.push(hook);
            }
        }
        for hook in hooks {
            work.webhook(&self.after, hook, id).await?;
        }
        work.user_changed(id);
        work.commit(&self.after).await?;
        tracing::info!("user changed by an admin");
        view(&self.db, &row, now_ms).await
    }

    /// Ends every session of a user (`logged_out`, by the admin).
    #[instrument(skip_all, fields(%id, admin = %caller.name), err(level = "info", Display))]
    pub async fn logout_user(
        &self,
        caller: &AdminCaller,
        id: UserId,
        client: &RequestContext,
    ) -> Result<(), DomainError> {
        caller.may_write()?;
        let mut work = Work::begin(&self.db, self.clock.now_ms()).await?;
        let now_ms = work.now_ms();
        users::touch(work.conn(), id, now_ms).await?;
        exists(work.conn(), id).await?;
        let revoked = revocation::end_all_but(work.conn(), id, None, now_ms).await?;
        work.ended(revoked);
        work.record(Event::new(id, EventKind::LoggedOut, client).by(&caller.actor))
            .await?;
        work.commit(&self.after).await
    }

    /// Clears a user's lock and failure count (`LockoutPolicy::cleared`,
    /// the state a reset leaves); `account_unlocked`, by the admin.
    #[instrument(skip_all, fields(%id, admin = %caller.name), err(level = "info", Display))]
    pub async fn unlock_user(
        &self,
        caller: &AdminCaller,
        id: UserId,
        client: &RequestContext,
    ) -> Result<AdminUser, DomainError> {
        caller.may_write()?;
        let mut work = Work::begin(&self.db, self.clock.now_ms()).await?;
        let now_ms = work.now_ms();
        users::touch(work.conn(), id, now_ms).await?;
        exists(work.conn(), id).await?;
        users::set_lock_state(work.conn(), id, LockoutPolicy::cleared()).await?;
        work.record(Event::new(id, EventKind::AccountUnlocked, client).by(&caller.actor))
            .await?;
        work.user_changed(id);
        work.commit(&self.after).await?;
        self.user(id).await
    }

    /// A page of one user's events (404 for an unknown user).
    pub async fn user_events(
        &self,
        id: UserId,
        before: Option<Cursor>,
        limit: u64,
    ) -> Result<(Vec<SecurityEvent>, Option<Cursor>), DomainError> {
        exists(&self.db, id).await?;
        let (rows, next) = audit::page(&self.db, id, before, limit).await?;
        Ok((rows.into_iter().map(SecurityEvent::from).collect(), next))
    }

    /// A page of everyone's events, of one kind if `kind` is given.
    pub async fn events(
        &self,
        kind: Option<&str>,
        before: Option<Cursor>,
        limit: u64,
    ) -> Result<(Vec<(UserId, SecurityEvent)>, Option<Cursor>), DomainError> {
        let (rows, next) = audit::page_all(&self.db, kind, before, limit).await?;
        Ok((
            rows.into_iter()
                .map(|e| (e.user_id, SecurityEvent::from(e)))
                .collect(),
            next,
        ))
    }
}

/// The user `id`'s row, written first in `work` (its `updated_at`) so that
/// concurrent changes of this user are serialised (a row lock on
/// PostgreSQL, the write lock on SQLite), then read as the change sees it.
pub(super) async fn held(work: &Work, id: UserId) -> Result<users::Model, DomainError> {
    users::touch(work.conn(), id, work.now_ms()).await?;
    users::Entity::find_by_id(id)
        .one(work.conn())
        .await?
        .ok_or(DomainError::UserNotFound)
}

async fn exists<C: ConnectionTrait>(conn: &C, id: UserId) -> Result<(), DomainError> {
    let found = users::Entity::find_by_id(id).count(conn).await?;
    if found == 0 {
        return Err(DomainError::UserNotFound);
    }
    Ok(())
}

/// The admin view of `row`: two counts read beside it.
async fn view<C: ConnectionTrait>(
    conn: &C,
    row: &users::Model,
    now_ms: i64,
) -> Result<AdminUser, DomainError> {
    let passkeys = passkeys::Entity::find()
        .filter(passkeys::Column::UserId.eq(row.id))
        .count(conn)
        .await?;
    let live = sessions::Entity::find()
        .filter(sessions::Column::UserId.eq(row.id))
        .filter(sessions::Column::RevokedAt.is_null())
        .count(conn)
        .await?;
    let last_login_at: Option<i64> = sessions::Entity::find()
        .select_only()
        .column_as(sessions::Column::CreatedAt.max(), "last")
        .filter(sessions::Column::UserId.eq(row.id))
        .into_tuple::<Option<i64>>()
        .one(conn)
        .await?
        .flatten();
    Ok(AdminUser {
        account: Account::from(row),
        disabled: !row.is_active,
        locked_until: row.locked_until.filter(|until| *until > now_ms),
        last_login_at,
        passkeys,
        sessions: live,
    })
}
