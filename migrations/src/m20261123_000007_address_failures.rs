//! Failed logins for addresses that have no account, counted as for an
//! account (so the answers do not tell the two apart). Keyed by a keyed
//! hash of the normalised address, never the address itself.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AddressFailures::Table)
                    .if_not_exists()
                    .col(uuid(AddressFailures::Id).primary_key())
                    .col(integer(AddressFailures::FailedAttempts).default(0))
                    .col(big_integer_null(AddressFailures::LockedUntil))
                    .col(big_integer(AddressFailures::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("address_failures_updated_at")
                    .table(AddressFailures::Table)
                    .col(AddressFailures::UpdatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AddressFailures::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AddressFailures {
    Table,
    Id,
    FailedAttempts,
    LockedUntil,
    UpdatedAt,
}
