//! The admin API (issue 24): its keys, stored only as their SHA-256 (a key
//! is 256 random bits, so a fast hash is right), and the `actor` of a
//! security event (`admin:<key name>` for an admin's change; null for the
//! user's own).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AdminKeys::Table)
                    .if_not_exists()
                    .col(uuid(AdminKeys::Id).primary_key())
                    .col(string(AdminKeys::Name).unique_key())
                    .col(string(AdminKeys::KeyHash).unique_key())
                    .col(boolean(AdminKeys::ReadOnly))
                    .col(big_integer(AdminKeys::CreatedAt))
                    .col(big_integer_null(AdminKeys::LastUsedAt))
                    .col(big_integer_null(AdminKeys::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(string_null(AuditEvents::Actor))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::Actor)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AdminKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AdminKeys {
    Table,
    Id,
    Name,
    KeyHash,
    ReadOnly,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Actor,
}
