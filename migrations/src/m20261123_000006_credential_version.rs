//! A credential version on every user, bumped by every password and factor
//! change; MFA login challenges remember the version they were started
//! under, so a change voids every login in flight.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000001_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(big_integer(Versioned::CredentialVersion).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MfaChallenges::Table)
                    .add_column(big_integer(Versioned::CredentialVersion).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(MfaChallenges::Table)
                    .drop_column(Versioned::CredentialVersion)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Versioned::CredentialVersion)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Versioned {
    CredentialVersion,
}

#[derive(DeriveIden)]
enum MfaChallenges {
    Table,
}
