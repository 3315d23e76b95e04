//! The janitor: an index behind every delete predicate it runs (and behind
//! the foreign keys a removed account cascades through), and the one-row
//! lease that lets one janitor at a time run a pass across any number of
//! worker processes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index name, table, columns).
const INDEXES: &[(&str, &str, &[&str])] = &[
    (
        "one_time_tokens_expires_at_idx",
        "one_time_tokens",
        &["expires_at"],
    ),
    (
        "one_time_tokens_used_at_idx",
        "one_time_tokens",
        &["used_at"],
    ),
    (
        "mfa_challenges_expires_at_idx",
        "mfa_challenges",
        &["expires_at"],
    ),
    ("mfa_challenges_used_at_idx", "mfa_challenges", &["used_at"]),
    ("mfa_challenges_user_id_idx", "mfa_challenges", &["user_id"]),
    (
        "refresh_tokens_expires_at_idx",
        "refresh_tokens",
        &["expires_at"],
    ),
    ("sessions_last_used_at_idx", "sessions", &["last_used_at"]),
    ("devices_revoked_at_idx", "devices", &["revoked_at"]),
    (
        "email_outbox_status_created_idx",
        "email_outbox",
        &["status", "created_at"],
    ),
    ("email_outbox_user_id_idx", "email_outbox", &["user_id"]),
    (
        "users_unverified_idx",
        "users",
        &["email_verified_at", "created_at"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in INDEXES {
            let mut index = Index::create();
            index.name(*name).table(Alias::new(*table)).if_not_exists();
            for column in *columns {
                index.col(Alias::new(*column));
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(JanitorLease::Table)
                    .if_not_exists()
                    .col(string_len(JanitorLease::Name, 32).primary_key())
                    .col(string_len_null(JanitorLease::Holder, 64))
                    .col(big_integer(JanitorLease::Until))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(JanitorLease::Table)
                    .columns([JanitorLease::Name, JanitorLease::Until])
                    .values_panic(["janitor".into(), 0i64.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JanitorLease::Table).to_owned())
            .await?;
        for (name, table, _) in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(*name)
                        .table(Alias::new(*table))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum JanitorLease {
    Table,
    Name,
    Holder,
    Until,
}
