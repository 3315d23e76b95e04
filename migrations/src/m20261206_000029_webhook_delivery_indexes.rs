//! The admin API lists webhook deliveries newest first, of one status or
//! of all (`created_at`, then `id`, as its cursor pages), and the janitor
//! prunes delivered and failed rows by age: both read an index instead of
//! the whole table, which keeps a row for every event of the retention.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index name, columns).
const INDEXES: &[(&str, &[WebhookDeliveries])] = &[
    // A status's rows newest first; the janitor's delete by status and age.
    (
        "webhook_deliveries_status_created_idx",
        &[
            WebhookDeliveries::Status,
            WebhookDeliveries::CreatedAt,
            WebhookDeliveries::Id,
        ],
    ),
    // Every row newest first.
    (
        "webhook_deliveries_created_idx",
        &[WebhookDeliveries::CreatedAt, WebhookDeliveries::Id],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, columns) in INDEXES {
            let mut index = Index::create();
            index
                .name(*name)
                .table(WebhookDeliveries::Table)
                .if_not_exists();
            for column in *columns {
                index.col(*column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(*name)
                        .table(WebhookDeliveries::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookDeliveries {
    Table,
    Id,
    Status,
    CreatedAt,
}
