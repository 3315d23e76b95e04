//! Two-factor authentication: a flag on users, the TOTP secret (sealed,
//! with its key id, and the last time step used), backup codes (keyed
//! hashes only) and MFA login challenges (the `mfa_token`, hash only).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000001_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn user_fkey(
    name: &str,
    table: impl IntoIden + 'static,
    col: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, col)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(boolean(UsersMfa::MfaEnabled).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MfaSecrets::Table)
                    .if_not_exists()
                    .col(uuid(MfaSecrets::UserId).primary_key())
                    .col(text(MfaSecrets::SecretSealed))
                    .col(string_len(MfaSecrets::KeyId, 64))
                    .col(big_integer_null(MfaSecrets::ConfirmedAt))
                    .col(big_integer_null(MfaSecrets::LastUsedStep))
                    .col(big_integer(MfaSecrets::CreatedAt))
                    .foreign_key(&mut user_fkey(
                        "mfa_secrets_user_id_fkey",
                        MfaSecrets::Table,
                        MfaSecrets::UserId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BackupCodes::Table)
                    .if_not_exists()
                    .col(uuid(BackupCodes::Id).primary_key())
                    .col(uuid(BackupCodes::UserId))
                    .col(string_len(BackupCodes::CodeHash, 64))
                    .col(big_integer_null(BackupCodes::UsedAt))
                    .col(big_integer(BackupCodes::CreatedAt))
                    .foreign_key(&mut user_fkey(
                        "backup_codes_user_id_fkey",
                        BackupCodes::Table,
                        BackupCodes::UserId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("backup_codes_user_id_idx")
                    .table(BackupCodes::Table)
                    .col(BackupCodes::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MfaChallenges::Table)
                    .if_not_exists()
                    .col(uuid(MfaChallenges::Id).primary_key())
                    .col(uuid(MfaChallenges::UserId))
                    .col(string_len(MfaChallenges::TokenHash, 64))
                    .col(big_integer(MfaChallenges::ExpiresAt))
                    .col(big_integer_null(MfaChallenges::UsedAt))
                    .col(integer(MfaChallenges::Failures).default(0))
                    .col(big_integer(MfaChallenges::CreatedAt))
                    .foreign_key(&mut user_fkey(
                        "mfa_challenges_user_id_fkey",
                        MfaChallenges::Table,
                        MfaChallenges::UserId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mfa_challenges_token_hash_idx")
                    .table(MfaChallenges::Table)
                    .col(MfaChallenges::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MfaChallenges::Table.into_iden(),
            BackupCodes::Table.into_iden(),
            MfaSecrets::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(UsersMfa::MfaEnabled)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum UsersMfa {
    MfaEnabled,
}

#[derive(DeriveIden)]
enum MfaSecrets {
    Table,
    UserId,
    SecretSealed,
    KeyId,
    ConfirmedAt,
    LastUsedStep,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BackupCodes {
    Table,
    Id,
    UserId,
    CodeHash,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MfaChallenges {
    Table,
    Id,
    UserId,
    TokenHash,
    ExpiresAt,
    UsedAt,
    Failures,
    CreatedAt,
}
