//! Known devices (OWASP "device cookies"): a completed login hands the
//! client an opaque token bound to the account; a later login presenting it
//! has its own failure budget. Tokens are stored as SHA-256 only. An MFA
//! challenge remembers the device its password step came from.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000001_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Devices::Table)
                    .if_not_exists()
                    .col(uuid(Devices::Id).primary_key())
                    .col(uuid(Devices::UserId))
                    .col(string_len(Devices::TokenHash, 64))
                    .col(integer(Devices::FailedAttempts).default(0))
                    .col(big_integer_null(Devices::LockedUntil))
                    .col(big_integer(Devices::CreatedAt))
                    .col(big_integer(Devices::LastUsedAt))
                    .col(big_integer_null(Devices::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("devices_user_id_fkey")
                            .from(Devices::Table, Devices::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("devices_token_hash")
                    .table(Devices::Table)
                    .col(Devices::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("devices_user_id")
                    .table(Devices::Table)
                    .col(Devices::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MfaChallenges::Table)
                    .add_column(uuid_null(MfaChallenges::DeviceId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(MfaChallenges::Table)
                    .drop_column(MfaChallenges::DeviceId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Devices::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
    UserId,
    TokenHash,
    FailedAttempts,
    LockedUntil,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum MfaChallenges {
    Table,
    DeviceId,
}
