use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait};

use super::lock_columns::{self, LockColumns};
use crate::domain::UserId;
use crate::lockout::LockState;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: UserId,
    pub email: String,
    pub email_normalized: String,
    pub password_hash: PasswordHash,
    pub first_name: String,
    pub last_name: String,
    pub company_name: Option<String>,
    pub email_verified_at: Option<i64>,
    pub is_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub failed_attempts: i32,
    pub locked_until: Option<i64>,
    pub last_failed_at: Option<i64>,
    /// Access tokens issued before this (Unix ms) are refused.
    pub tokens_invalid_before: Option<i64>,
    /// Two-factor authentication is on (a confirmed TOTP secret exists).
    pub mfa_enabled: bool,
    /// Moves on with every password or factor change: a login checked
    /// against an earlier version cannot start a session.
    pub credential_version: i64,
    /// Mail the owner when a login comes from a device not seen before.
    pub alert_new_device: bool,
    /// The roles, as JSON text (`domain::Roles`); set by the admin API.
    pub roles: String,
    /// The app metadata, as JSON text (`domain::AppMetadata`); set by the
    /// admin API.
    pub app_metadata: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// An Argon2id PHC string. Its `Debug` hides it (a hash can be attacked
/// offline), so neither `Model` nor `ActiveModel` prints it; it reads as a
/// `&str` everywhere else.
#[derive(Clone, PartialEq, Eq, DeriveValueType)]
pub struct PasswordHash(pub String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

impl PasswordHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for PasswordHash {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for PasswordHash {
    fn from(phc: String) -> Self {
        Self(phc)
    }
}

pub async fn find_by_normalized_email<C: ConnectionTrait>(
    conn: &C,
    normalized: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::EmailNormalized.eq(normalized))
        .one(conn)
        .await
}

/// A new account, as registration or an admin gives it; every other
/// column starts at its default (active, unlocked, 2FA off, version 0,
/// the new-device alert on).
pub(crate) struct NewUser {
    pub(crate) id: UserId,
    pub(crate) email: String,
    pub(crate) email_normalized: String,
    /// A PHC string, or empty for an account without a password
    /// ([`has_password`]).
    pub(crate) password_hash: String,
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    pub(crate) company_name: Option<String>,
    /// `None`: unverified (every registration).
    pub(crate) email_verified_at: Option<i64>,
    /// JSON text (`domain::Roles`), `[]` for none.
    pub(crate) roles: String,
    /// JSON text (`domain::AppMetadata`), `{}` for none.
    pub(crate) app_metadata: String,
}

/// Stores a new account. An address already taken fails with the
/// unique index's violation ([`super::is_unique_violation`]).
pub(crate) async fn register<C: ConnectionTrait>(
    conn: &C,
    new: NewUser,
    now_ms: i64,
) -> Result<(), DbErr> {
    use sea_orm::ActiveValue::Set;
    let NewUser {
        id,
        email,
        email_normalized,
        password_hash,
        first_name,
        last_name,
        company_name,
        email_verified_at,
        roles,
        app_metadata,
    } = new;
    Entity::insert(ActiveModel {
        id: Set(id),
        email: Set(email),
        email_normalized: Set(email_normalized),
        password_hash: Set(password_hash.into()),
        first_name: Set(first_name),
        last_name: Set(last_name),
        company_name: Set(company_name),
        email_verified_at: Set(email_verified_at),
        is_active: Set(true),
        created_at: Set(now_ms),
        updated_at: Set(now_ms),
        failed_attempts: Set(0),
        last_failed_at: Set(None),
        locked_until: Set(None),
        tokens_invalid_before: Set(None),
        mfa_enabled: Set(false),
        credential_version: Set(0),
        alert_new_device: Set(true),
        roles: Set(roles),
        app_metadata: Set(app_metadata),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Sets the names of `id` that are given (`company_name: Some(None)`
/// clears it) and returns the row as it is now; `None` if there is no
/// such user.
pub(crate) async fn set_profile<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    change: ProfileColumns,
    now_ms: i64,
) -> Result<Option<Model>, DbErr> {
    let mut update = Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id));
    if let Some(first) = change.first_name {
        update = update.col_expr(Column::FirstName, Expr::value(first));
    }
    if let Some(last) = change.last_name {
        update = update.col_expr(Column::LastName, Expr::value(last));
    }
    if let Some(company) = change.company_name {
        update = update.col_expr(Column::CompanyName, Expr::value(company));
    }
    Ok(update.exec_with_returning(conn).await?.pop())
}

/// What an admin's change sets; `None` leaves a column as it is.
#[derive(Debug, Default)]
pub(crate) struct AdminColumns {
    pub(crate) profile: ProfileColumns,
    /// `Some(None)`: unverified again.
    pub(crate) email_verified_at: Option<Option<i64>>,
    pub(crate) is_active: Option<bool>,
    /// JSON text (`domain::Roles`).
    pub(crate) roles: Option<String>,
    /// JSON text (`domain::AppMetadata`).
    pub(crate) app_metadata: Option<String>,
}

/// An admin's change of `id` (see [`AdminColumns`]); returns the row as
/// it is now, `None` if there is no such user.
pub(crate) async fn admin_update<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    change: AdminColumns,
    now_ms: i64,
) -> Result<Option<Model>, DbErr> {
    let AdminColumns {
        profile,
        email_verified_at,
        is_active,
        roles,
        app_metadata,
    } = change;
    let mut update = Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id));
    if let Some(first) = profile.first_name {
        update = update.col_expr(Column::FirstName, Expr::value(first));
    }
    if let Some(last) = profile.last_name {
        update = update.col_expr(Column::LastName, Expr::value(last));
    }
    if let Some(company) = profile.company_name {
        update = update.col_expr(Column::CompanyName, Expr::value(company));
    }
    if let Some(verified) = email_verified_at {
        update = update.col_expr(Column::EmailVerifiedAt, Expr::value(verified));
    }
    if let Some(active) = is_active {
        update = update.col_expr(Column::IsActive, Expr::value(active));
    }
    if let Some(roles) = roles {
        update = update.col_expr(Column::Roles, Expr::value(roles));
    }
    if let Some(metadata) = app_metadata {
        update = update.col_expr(Column::AppMetadata, Expr::value(metadata));
    }
    Ok(update.exec_with_returning(conn).await?.pop())
}

/// The name columns a profile change sets; `None` leaves one as it is.
#[derive(Debug, Default)]
pub(crate) struct ProfileColumns {
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: Option<String>,
    pub(crate) company_name: Option<Option<String>>,
}

/// Moves `id` to another address, verified at `verified_at` (an emailed
/// link proved it, or an admin said so) or unverified (`None`). An address
/// another account has (normalised) fails with the unique index's
/// violation ([`super::is_unique_violation`]).
pub(crate) async fn change_email<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    email: &str,
    email_normalized: &str,
    verified_at: Option<i64>,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::Email, Expr::value(email))
        .col_expr(Column::EmailNormalized, Expr::value(email_normalized))
        .col_expr(Column::EmailVerifiedAt, Expr::value(verified_at))
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Marks the address of `id` verified, if it was not yet.
pub(crate) async fn mark_verified<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::EmailVerifiedAt, Expr::value(now_ms))
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .filter(Column::EmailVerifiedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// A password set by an emailed reset link: the new hash, the address
/// verified at `verified_at` (the link proved it), and every access token
/// issued before `tokens_invalid_before` refused.
pub(crate) async fn reset_password<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    hash: String,
    verified_at: i64,
    tokens_invalid_before: i64,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::PasswordHash, Expr::value(hash))
        .col_expr(Column::EmailVerifiedAt, Expr::value(verified_at))
        .col_expr(
            Column::TokensInvalidBefore,
            Expr::value(tokens_invalid_before),
        )
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Sets a new password hash only if the credentials are still at
/// `version` (the ones just checked); returns whether they were: of two
/// concurrent changes, the second finds them changed.
pub(crate) async fn change_password_at_version<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    version: i64,
    hash: String,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::PasswordHash, Expr::value(hash))
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .filter(Column::CredentialVersion.eq(version))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Turns the 2FA flag of `id` on or off (with its TOTP secret confirmed,
/// or removed, in the same transaction).
pub(crate) async fn set_mfa_enabled<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    enabled: bool,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::MfaEnabled, Expr::value(enabled))
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Bumps `updated_at`. Done first in a transaction, it serialises concurrent
/// writers for one user (a row lock on PostgreSQL).
pub async fn touch<C: ConnectionTrait>(conn: &C, id: UserId, now_ms: i64) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Moves the credential version on, in the transaction that changes a
/// password or a factor: every login checked against the old credentials
/// (in flight, or waiting for its second step) can no longer start.
pub(crate) async fn bump_credentials<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(
            Column::CredentialVersion,
            Expr::col(Column::CredentialVersion).add(1),
        )
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// The lockout columns: written only here, with states from the lockout
/// state machine. Moves the state from `from` to `to` only if it is still
/// `from`; returns whether it did.
pub(crate) async fn swap_lock_state<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    from: LockState,
    to: LockState,
) -> Result<bool, DbErr> {
    let update = lock_update(to)
        .filter(Column::Id.eq(id))
        .filter(LOCK.still(from));
    Ok(update.exec(conn).await?.rows_affected == 1)
}

/// Bumps `updated_at` only if the credentials are still at `version` (a
/// completed login, whose check saw that version); returns the row as it
/// is now if they were (its roles go into the login's access token). First in its transaction, it also serialises the login with any
/// credential change (a row lock on PostgreSQL).
pub(crate) async fn touch_at_version<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    version: i64,
    now_ms: i64,
) -> Result<Option<Model>, DbErr> {
    let mut rows = Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .filter(Column::CredentialVersion.eq(version))
        .exec_with_returning(conn)
        .await?;
    Ok(rows.pop())
}

/// Sets the lock state whatever it was (a completed login or a password
/// reset clears it).
pub(crate) async fn set_lock_state<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    to: LockState,
) -> Result<(), DbErr> {
    lock_update(to).filter(Column::Id.eq(id)).exec(conn).await?;
    Ok(())
}

fn lock_update(to: LockState) -> sea_orm::UpdateMany<Entity> {
    LOCK.write(Entity::update_many(), to)
}

const LOCK: LockColumns<Column> = LockColumns {
    failed_attempts: Column::FailedAttempts,
    locked_until: Column::LockedUntil,
    last_failed_at: Column::LastFailedAt,
};

/// The stored lock state of a user.
/// Turns the new-device alert of `id` on or off.
pub(crate) async fn set_alert_new_device<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    on: bool,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::AlertNewDevice, Expr::value(on))
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

pub(crate) fn lock_state(user: &Model) -> LockState {
    lock_columns::read(user.failed_attempts, user.locked_until, user.last_failed_at)
}

/// Replaces a stored hash by one of the same password at today's cost,
/// only if it is still `old` (a password change meanwhile wins).
pub(crate) async fn rehash<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    old: &str,
    new: String,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::PasswordHash, Expr::value(new))
        .filter(Column::Id.eq(id))
        .filter(Column::PasswordHash.eq(old))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes the account `id`; everything keyed to it goes with it (the
/// foreign keys cascade), but its security events (see `audit_events`).
/// Returns whether this call deleted it.
pub(crate) async fn delete<C: ConnectionTrait>(conn: &C, id: UserId) -> Result<bool, DbErr> {
    let res = Entity::delete_many()
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Whether the account has a password (every registered account does;
/// one an admin made without a password, until its invitation is used,
/// and one made by another identity provider do not: their hash is
/// empty, and a login by password checks the dummy hash instead).
pub fn has_password(user: &Model) -> bool {
    !user.password_hash.is_empty()
}

/// Accounts still unverified once every link they were sent has expired:
/// registered before `registered_before` (the first link's lifetime ago),
/// no verification or reset link usable at `dead_before`, not touched
/// since then (a resend or a reset request touches the row), and no mail
/// of theirs still pending. At most `limit` are removed, each with
/// everything that references it (the foreign keys cascade) and its sent
/// and failed outbox rows, in one transaction whose delete re-checks every
/// condition on the row itself: a verification, a new link or a reset
/// that commits first wins. Returns the removed ids.
pub(crate) async fn prune_unverified(
    db: &sea_orm::DatabaseConnection,
    registered_before: i64,
    dead_before: i64,
    limit: u64,
) -> Result<Vec<UserId>, crate::DomainError> {
    use sea_orm::{QuerySelect, TransactionTrait};
    let candidates: Vec<UserId> = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::EmailVerifiedAt.is_null())
        .filter(Column::CreatedAt.lte(registered_before))
        .filter(expired_unverified(dead_before))
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if candidates.is_empty() {
        return Ok(candidates);
    }
    // The delete comes first: on SQLite a transaction that reads before it
    // writes can fail to take the write lock.
    let txn = db.begin().await?;
    Entity::delete_many()
        .filter(Column::Id.is_in(candidates.iter().copied()))
        .filter(expired_unverified(dead_before))
        .exec(&txn)
        .await?;
    let kept: Vec<UserId> = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Id.is_in(candidates.iter().copied()))
        .into_tuple()
        .all(&txn)
        .await?;
    let removed: Vec<UserId> = candidates
        .into_iter()
        .filter(|id| !kept.contains(id))
        .collect();
    let outbox_ids: Vec<Uuid> = removed.iter().map(|id| id.0).collect();
    jobs::outbox::forget_users(&txn, &outbox_ids).await?;
    // The audit trail does not cascade (it may outlive an account).
    super::audit_events::delete_of_users(&txn, &removed).await?;
    txn.commit().await?;
    Ok(removed)
}

/// Unverified, untouched since `dead_before`, no link usable then and no
/// mail pending.
fn expired_unverified(dead_before: i64) -> sea_orm::Condition {
    use super::one_time_tokens as links;
    use jobs::outbox::{self, Outbox};
    use sea_orm::sea_query::Query;
    let live_link = Query::select()
        .expr(Expr::val(1))
        .from(links::Entity)
        .and_where(Expr::col((links::Entity, links::Column::UserId)).equals((Entity, Column::Id)))
        .and_where(Expr::col((links::Entity, links::Column::UsedAt)).is_null())
        .and_where(Expr::col((links::Entity, links::Column::ExpiresAt)).gt(dead_before))
        .to_owned();
    let pending_mail = Query::select()
        .expr(Expr::val(1))
        .from(Outbox)
        .and_where(Expr::col((Outbox, outbox::Column::UserId)).equals((Entity, Column::Id)))
        .and_where(Expr::col((Outbox, outbox::Column::Status)).eq(outbox::Status::Pending))
        .to_owned();
    sea_orm::Condition::all()
        .add(Column::EmailVerifiedAt.is_null())
        .add(Column::UpdatedAt.lte(dead_before))
        .add(Expr::exists(live_link).not())
        .add(Expr::exists(pending_mail).not())
}

#[cfg(test)]
pub(crate) mod tests {
    use sea_orm::ActiveValue::Set;

    use super::*;

    pub(crate) const HASH: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

    /// A user whose password hash is `HASH`.
    pub(crate) fn user() -> Model {
        Model {
            id: UserId(Uuid::nil()),
            email: "ann@example.org".into(),
            email_normalized: "ann@example.org".into(),
            password_hash: HASH.to_owned().into(),
            first_name: "Ann".into(),
            last_name: "Example".into(),
            company_name: None,
            email_verified_at: Some(1),
            is_active: true,
            created_at: 1,
            updated_at: 1,
            failed_attempts: 0,
            locked_until: None,
            last_failed_at: None,
            tokens_invalid_before: None,
            mfa_enabled: false,
            credential_version: 0,
            alert_new_device: true,
            roles: "[]".to_owned(),
            app_metadata: "{}".to_owned(),
        }
    }

    #[test]
    fn debug_of_a_user_hides_the_password_hash() {
        let user = user();
        let active = ActiveModel {
            password_hash: Set(HASH.to_owned().into()),
            ..Default::default()
        };
        for text in [
            format!("{user:?}"),
            format!("{user:#?}"),
            format!("{active:?}"),
            format!("{active:#?}"),
        ] {
            assert!(!text.contains("argon2"), "{text}");
            assert!(!text.contains("c2FsdHNhbHQ"), "{text}");
            assert!(text.contains("<redacted>"), "{text}");
        }
        assert!(format!("{user:?}").contains("ann@example.org"));
        assert!(user.password_hash.starts_with("$argon2id$"));
    }
}
