//! Accounts' identities at other providers: (`provider`, `subject`) is
//! unique, so an identity belongs to one account whatever races. Every
//! write to the table is here.

use sea_orm::entity::prelude::*;
use sea_orm::{QueryOrder, Set};

use crate::domain::UserId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: UserId,
    /// The provider's `id` in the configuration.
    pub provider: String,
    /// The provider's `sub` for the person.
    pub subject: String,
    /// The address the provider gave when the identity was linked.
    pub email: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The identity (`provider`, `subject`), whoever's it is.
pub(crate) async fn find<C: ConnectionTrait>(
    conn: &C,
    provider: &str,
    subject: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::Provider.eq(provider))
        .filter(Column::Subject.eq(subject))
        .one(conn)
        .await
}

/// `user_id`'s identities, oldest first.
pub(crate) async fn of_user<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::UserId.eq(user_id))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(conn)
        .await
}

/// Links (`provider`, `subject`) to `user_id`. An identity already linked
/// (to anyone) fails with the unique index's violation
/// ([`super::is_unique_violation`]).
pub(crate) async fn link<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    provider: &str,
    subject: &str,
    email: Option<&str>,
    now_ms: i64,
) -> Result<Model, DbErr> {
    let row = Model {
        id: Uuid::now_v7(),
        user_id,
        provider: provider.to_owned(),
        subject: subject.to_owned(),
        email: email.map(str::to_owned),
        created_at: now_ms,
    };
    Entity::insert(ActiveModel {
        id: Set(row.id),
        user_id: Set(row.user_id),
        provider: Set(row.provider.clone()),
        subject: Set(row.subject.clone()),
        email: Set(row.email.clone()),
        created_at: Set(row.created_at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(row)
}

/// Unlinks `user_id`'s identity `id`; returns whether there was one.
pub(crate) async fn unlink<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    id: Uuid,
) -> Result<bool, DbErr> {
    let res = Entity::delete_many()
        .filter(Column::Id.eq(id))
        .filter(Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}
