//! Passkeys (WebAuthn): the credentials users registered, and the
//! ceremonies in flight. A credential row keeps webauthn-rs's serialized
//! `Passkey` (public key, counter, backup flags) with the counter and the
//! flags beside it as columns, so that a use is recorded with a conditional
//! update on the counter. A challenge row is keyed by the SHA-256 of the
//! random id the client holds, keeps the serialized ceremony state, and is
//! used once (`used_at`).

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
                    .table(Passkeys::Table)
                    .if_not_exists()
                    .col(uuid(Passkeys::Id).primary_key())
                    .col(uuid(Passkeys::UserId))
                    .col(text(Passkeys::CredentialId))
                    .col(text(Passkeys::Passkey))
                    .col(string_len(Passkeys::Name, 100))
                    .col(big_integer(Passkeys::Counter).default(0))
                    .col(boolean(Passkeys::BackupEligible).default(false))
                    .col(boolean(Passkeys::BackupState).default(false))
                    .col(big_integer(Passkeys::CreatedAt))
                    .col(big_integer_null(Passkeys::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("passkeys_user_id_fkey")
                            .from(Passkeys::Table, Passkeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("passkeys_credential_id_idx")
                    .table(Passkeys::Table)
                    .col(Passkeys::CredentialId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("passkeys_user_id_idx")
                    .table(Passkeys::Table)
                    .col(Passkeys::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebauthnChallenges::Table)
                    .if_not_exists()
                    .col(uuid(WebauthnChallenges::Id).primary_key())
                    .col(string_len(WebauthnChallenges::IdHash, 64))
                    .col(string_len(WebauthnChallenges::Kind, 32))
                    .col(uuid_null(WebauthnChallenges::UserId))
                    .col(uuid_null(WebauthnChallenges::SessionId))
                    .col(text(WebauthnChallenges::State))
                    .col(big_integer(WebauthnChallenges::ExpiresAt))
                    .col(big_integer_null(WebauthnChallenges::UsedAt))
                    .col(big_integer(WebauthnChallenges::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("webauthn_challenges_user_id_fkey")
                            .from(WebauthnChallenges::Table, WebauthnChallenges::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webauthn_challenges_id_hash_idx")
                    .table(WebauthnChallenges::Table)
                    .col(WebauthnChallenges::IdHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Deleting a user (cascade) finds its ceremonies by index.
        manager
            .create_index(
                Index::create()
                    .name("webauthn_challenges_user_id_idx")
                    .table(WebauthnChallenges::Table)
                    .col(WebauthnChallenges::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webauthn_challenges_expires_at_idx")
                    .table(WebauthnChallenges::Table)
                    .col(WebauthnChallenges::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WebauthnChallenges::Table.into_iden(),
            Passkeys::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Passkeys {
    Table,
    Id,
    UserId,
    CredentialId,
    Passkey,
    Name,
    Counter,
    BackupEligible,
    BackupState,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum WebauthnChallenges {
    Table,
    Id,
    IdHash,
    Kind,
    UserId,
    SessionId,
    State,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}
