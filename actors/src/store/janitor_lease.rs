//! The janitor's lease: one row saying which janitor runs a pass and until
//! when. Taken and kept with conditional updates, so one janitor at a time
//! runs across any number of worker processes; a holder that dies stops
//! renewing it and another takes over once it ran out.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;

/// The row's name (the migration writes it).
const NAME: &str = "janitor";

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "janitor_lease")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub holder: Option<String>,
    pub until: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Takes the lease for `holder` until `until` if nobody holds it at
/// `now_ms` (released, or run out); returns whether it did.
pub(crate) async fn acquire<C: ConnectionTrait>(
    conn: &C,
    holder: &str,
    now_ms: i64,
    until: i64,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::Holder, Expr::value(holder))
        .col_expr(Column::Until, Expr::value(until))
        .filter(Column::Name.eq(NAME))
        .filter(Column::Until.lte(now_ms))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Extends `holder`'s lease to `until`; `false` when it is no longer
/// `holder`'s (it ran out and another janitor took it).
pub(crate) async fn renew<C: ConnectionTrait>(
    conn: &C,
    holder: &str,
    until: i64,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::Until, Expr::value(until))
        .filter(Column::Name.eq(NAME))
        .filter(Column::Holder.eq(holder))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Gives the lease up, if `holder` still has it.
pub(crate) async fn release<C: ConnectionTrait>(conn: &C, holder: &str) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::Until, Expr::value(0i64))
        .filter(Column::Name.eq(NAME))
        .filter(Column::Holder.eq(holder))
        .exec(conn)
        .await?;
    Ok(())
}
