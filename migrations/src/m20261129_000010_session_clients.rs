//! Sessions record the client that started them (IP, user agent) and when
//! they last issued tokens, for the caller's list of active sessions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [
            string_len_null(Sessions::Ip, 45),
            string_len_null(Sessions::UserAgent, 1024),
            big_integer(Sessions::LastUsedAt).default(0).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // Sessions from before: last used when they started, at the least.
        manager
            .exec_stmt(
                Query::update()
                    .table(Sessions::Table)
                    .value(Sessions::LastUsedAt, Expr::col(Sessions::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Sessions::Ip, Sessions::UserAgent, Sessions::LastUsedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Ip,
    UserAgent,
    LastUsedAt,
    CreatedAt,
}
