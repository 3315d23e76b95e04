//! The fingerprints of the keys the nodes use, per key setting, in the
//! order they were recorded (`position` 0 first). A row is only ever added,
//! with `INSERT … ON CONFLICT DO NOTHING` on (`name`, `position`): two nodes
//! racing to record the first (or the next) fingerprint agree on one.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sea_orm::{QueryOrder, Set};

/// One recorded fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "key_fingerprints")]
pub struct Model {
    /// The setting the key comes from (`AUTH_ENCRYPTION_KEY`, …).
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// 0 for the first key; each rotation adds one.
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i64,
    /// The key's fingerprint (it reveals nothing of the key).
    pub fingerprint: String,
    /// When it was recorded, unix milliseconds.
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The fingerprints recorded for `name`, oldest first.
pub async fn recorded<C: ConnectionTrait>(conn: &C, name: &str) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::Name.eq(name))
        .order_by_asc(Column::Position)
        .all(conn)
        .await
}

/// Records `fingerprint` at `position` for `name` unless that position is
/// taken (by a node that got there first); returns whether it did.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    position: i64,
    fingerprint: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let row = ActiveModel {
        name: Set(name.to_owned()),
        position: Set(position),
        fingerprint: Set(fingerprint.to_owned()),
        created_at: Set(now_ms),
    };
    let inserted = Entity::insert(row)
        .on_conflict(
            OnConflict::columns([Column::Name, Column::Position])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(inserted == 1)
}
