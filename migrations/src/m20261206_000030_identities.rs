//! Sign-in with other identity providers (issue 25).
//!
//! - `identities`: an account's identity at a provider, unique by
//!   (`provider`, `subject`) so one identity belongs to one account
//!   whatever races.
//! - `oidc_flows`: a sign-in (or link) started and not yet back: keyed by
//!   the SHA-256 of its `state`, bound to the browser by the SHA-256 of the
//!   `__Host-authd_oidc` cookie, with its nonce and sealed PKCE verifier;
//!   used once (`used_at`). `user_id` is the account a link flow adds to.
//! - `oidc_codes`: the single-use code a finished flow hands the frontend
//!   (SHA-256 only), for `oidc/exchange`.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000001_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn to_users(name: &str, table: impl IntoIden, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Identities::Table)
                    .if_not_exists()
                    .col(uuid(Identities::Id).primary_key())
                    .col(uuid(Identities::UserId))
                    .col(string(Identities::Provider))
                    .col(text(Identities::Subject))
                    .col(text_null(Identities::Email))
                    .col(big_integer(Identities::CreatedAt))
                    .foreign_key(&mut to_users(
                        "identities_user_id_fkey",
                        Identities::Table,
                        Identities::UserId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("identities_provider_subject_idx")
                    .table(Identities::Table)
                    .col(Identities::Provider)
                    .col(Identities::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("identities_user_id_idx")
                    .table(Identities::Table)
                    .col(Identities::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OidcFlows::Table)
                    .if_not_exists()
                    .col(uuid(OidcFlows::Id).primary_key())
                    .col(string(OidcFlows::StateHash).unique_key())
                    .col(string(OidcFlows::BindingHash))
                    .col(string(OidcFlows::Provider))
                    .col(text(OidcFlows::RedirectTo))
                    .col(uuid_null(OidcFlows::UserId))
                    .col(text(OidcFlows::Nonce))
                    .col(text(OidcFlows::PkceVerifier))
                    .col(big_integer(OidcFlows::CreatedAt))
                    .col(big_integer(OidcFlows::ExpiresAt))
                    .col(big_integer_null(OidcFlows::UsedAt))
                    .foreign_key(&mut to_users(
                        "oidc_flows_user_id_fkey",
                        OidcFlows::Table,
                        OidcFlows::UserId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("oidc_flows_expires_at_idx")
                    .table(OidcFlows::Table)
                    .col(OidcFlows::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OidcCodes::Table)
                    .if_not_exists()
                    .col(uuid(OidcCodes::Id).primary_key())
                    .col(string(OidcCodes::CodeHash).unique_key())
                    .col(uuid(OidcCodes::UserId))
                    .col(string(OidcCodes::Provider))
                    .col(string(OidcCodes::BindingHash))
                    .col(big_integer(OidcCodes::CreatedAt))
                    .col(big_integer(OidcCodes::ExpiresAt))
                    .col(big_integer_null(OidcCodes::UsedAt))
                    .foreign_key(&mut to_users(
                        "oidc_codes_user_id_fkey",
                        OidcCodes::Table,
                        OidcCodes::UserId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("oidc_codes_expires_at_idx")
                    .table(OidcCodes::Table)
                    .col(OidcCodes::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(string_null(AuditEvents::Provider))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::Provider)
                    .to_owned(),
            )
            .await?;
        for table in [
            OidcCodes::Table.into_iden(),
            OidcFlows::Table.into_iden(),
            Identities::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Identities {
    Table,
    Id,
    UserId,
    Provider,
    Subject,
    Email,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OidcFlows {
    Table,
    Id,
    StateHash,
    BindingHash,
    Provider,
    RedirectTo,
    UserId,
    Nonce,
    PkceVerifier,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum OidcCodes {
    Table,
    Id,
    CodeHash,
    UserId,
    Provider,
    BindingHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Provider,
}
