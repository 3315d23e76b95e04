//! WebAuthn ceremonies in flight: the serialized webauthn-rs state of a
//! registration or an authentication, keyed by the SHA-256 of the random
//! challenge id the client holds, bound to the user and session that
//! started it (registration), to the user whose address was given (login)
//! or to the password login whose second step it answers (second factor),
//! single use and short-lived.

use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, Order, Query};

use crate::domain::{SessionId, UserId};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webauthn_challenges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 (hex) of the challenge id given to the client.
    pub id_hash: String,
    /// `register`, `login` (a named user's passkeys), `discover` (any
    /// discoverable credential) or `second_factor` (after a password).
    pub kind: Ceremony,
    /// The user the ceremony is for (none for `discover`).
    pub user_id: Option<UserId>,
    /// The session that started a registration.
    pub session_id: Option<SessionId>,
    /// The login (`mfa_challenges` row) whose second step a
    /// `second_factor` ceremony answers.
    pub mfa_challenge_id: Option<Uuid>,
    /// webauthn-rs's state (JSON): the challenge and what it expects.
    pub state: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub created_at: i64,
}

/// Which WebAuthn ceremony a stored challenge is, by these names.
#[derive(Copy, Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Ceremony {
    /// Adding a passkey, in a logged-in session.
    #[sea_orm(string_value = "register")]
    Register,
    /// A login for a named account: its passkeys are listed to the client.
    #[sea_orm(string_value = "login")]
    Login,
    /// A login with any discoverable credential (no address given).
    #[sea_orm(string_value = "discover")]
    Discover,
    /// The second step of a password login with 2FA on.
    #[sea_orm(string_value = "second_factor")]
    SecondFactor,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Whom a ceremony is bound to (none of it for a discoverable login).
#[derive(Debug, Clone, Copy, Default)]
pub struct Bound {
    pub user_id: Option<UserId>,
    /// The session that starts a registration.
    pub session_id: Option<SessionId>,
    /// The login whose second step a `second_factor` ceremony answers.
    pub mfa_challenge_id: Option<Uuid>,
}

/// A ceremony to store.
#[derive(Debug, Clone)]
pub struct NewChallenge {
    pub id_hash: String,
    pub kind: Ceremony,
    pub bound: Bound,
    pub state: String,
    pub expires_at: i64,
}

pub async fn start<C: ConnectionTrait>(
    conn: &C,
    new: NewChallenge,
    now_ms: i64,
) -> Result<(), DbErr> {
    Entity::insert(ActiveModel {
        // Time-ordered: of ceremonies that expire in the same millisecond,
        // `trim` keeps the later ones.
        id: Set(Uuid::now_v7()),
        id_hash: Set(new.id_hash),
        kind: Set(new.kind),
        user_id: Set(new.bound.user_id),
        session_id: Set(new.bound.session_id),
        mfa_challenge_id: Set(new.bound.mfa_challenge_id),
        state: Set(new.state),
        expires_at: Set(new.expires_at),
        used_at: Set(None),
        created_at: Set(now_ms),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Who may finish a ceremony.
#[derive(Debug, Clone, Copy)]
pub enum Claimant {
    /// A logged-in user, in the session that started the registration.
    Session {
        user_id: UserId,
        session_id: SessionId,
    },
    /// Whoever holds the `mfa_token` of the login (`mfa_challenge_id`)
    /// that started the ceremony.
    MfaLogin {
        user_id: UserId,
        mfa_challenge_id: Uuid,
    },
    /// Anyone holding the id (a login: the user is not known yet).
    Anyone,
}

/// Uses the unexpired, unused challenge of one of `kinds` whose id hashes
/// to `id_hash`, if `who` may finish it: exactly one of any number of
/// concurrent callers gets it (a conditional update on `used_at`).
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    id_hash: &str,
    kinds: &[Ceremony],
    who: Claimant,
    now_ms: i64,
) -> Result<Option<Model>, DbErr> {
    let mut update = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::IdHash.eq(id_hash))
        .filter(Column::Kind.is_in(kinds.iter().copied()))
        .filter(super::unused(Column::UsedAt))
        .filter(Column::ExpiresAt.gt(now_ms));
    match who {
        Claimant::Session {
            user_id,
            session_id,
        } => {
            update = update
                .filter(Column::UserId.eq(user_id))
                .filter(Column::SessionId.eq(session_id));
        }
        Claimant::MfaLogin {
            user_id,
            mfa_challenge_id,
        } => {
            update = update
                .filter(Column::UserId.eq(user_id))
                .filter(Column::MfaChallengeId.eq(mfa_challenge_id));
        }
        Claimant::Anyone => {}
    }
    if update.exec(conn).await?.rows_affected != 1 {
        return Ok(None);
    }
    Entity::find()
        .filter(Column::IdHash.eq(id_hash))
        .one(conn)
        .await
}

/// Keeps the newest `keep` ceremonies of `kinds` (by expiry, which is the
/// start plus a fixed time, then by id) and deletes at most `batch` of the
/// older ones, in one statement; returns how many it deleted. Decided by
/// the database, so the bound holds across nodes.
pub async fn trim<C: ConnectionTrait>(
    conn: &C,
    kinds: &[Ceremony],
    keep: u64,
    batch: u64,
) -> Result<u64, DbErr> {
    let older = Query::select()
        .column(Column::Id)
        .from(Entity)
        .and_where(Column::Kind.is_in(kinds.iter().copied()))
        .order_by(Column::ExpiresAt, Order::Desc)
        .order_by(Column::Id, Order::Desc)
        .limit(batch)
        .offset(keep)
        .to_owned();
    let deleted = Entity::delete_many()
        .filter(Column::Id.in_subquery(older))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected)
}

/// Challenges used, or expired, before `dead_before`: at most `limit`;
/// returns how many.
pub async fn prune<C: ConnectionTrait>(
    conn: &C,
    dead_before: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let dead = super::used_or_expired(Column::UsedAt, Column::ExpiresAt, dead_before);
    jobs::batch::delete_some::<Entity, _>(conn, Column::Id, dead, limit).await
}
