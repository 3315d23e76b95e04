//! A passkey ceremony that answers the second step of a password login
//! remembers which login (`mfa_challenges` row) started it, so it can
//! complete only that login, not another one of the same user.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebauthnChallenges::Table)
                    .add_column(uuid_null(WebauthnChallenges::MfaChallengeId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebauthnChallenges::Table)
                    .drop_column(WebauthnChallenges::MfaChallengeId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum WebauthnChallenges {
    Table,
    MfaChallengeId,
}
