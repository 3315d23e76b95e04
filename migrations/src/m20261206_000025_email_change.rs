//! The address an emailed link is for: the new address of an address
//! change (`email_change` links), or the old one it can be put back to
//! (`email_revert` links). Other links leave it empty.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OneTimeTokens::Table)
                    .add_column(string_len_null(OneTimeTokens::Address, 254))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OneTimeTokens::Table)
                    .drop_column(OneTimeTokens::Address)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum OneTimeTokens {
    Table,
    Address,
}
