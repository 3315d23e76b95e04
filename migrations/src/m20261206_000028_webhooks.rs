//! The webhook outbox: one row per event and subscribed endpoint, written
//! in the transaction of the change it reports. `payload` is the body as
//! it is sent (the same bytes on every attempt); `endpoint` names the
//! configured endpoint by a hash of its URL; `lease_until` is a sender's
//! claim while it sends.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .if_not_exists()
                    .col(uuid(WebhookDeliveries::Id).primary_key())
                    .col(string_len(WebhookDeliveries::Endpoint, 64))
                    .col(string_len(WebhookDeliveries::WebhookId, 64))
                    .col(string_len(WebhookDeliveries::Type, 32))
                    .col(uuid_null(WebhookDeliveries::UserId))
                    .col(text(WebhookDeliveries::Payload))
                    .col(string_len(WebhookDeliveries::Status, 16))
                    .col(integer(WebhookDeliveries::Attempts).default(0))
                    .col(big_integer(WebhookDeliveries::NextAttemptAt))
                    .col(big_integer_null(WebhookDeliveries::LeaseUntil))
                    .col(big_integer_null(WebhookDeliveries::LastAttemptAt))
                    .col(integer_null(WebhookDeliveries::LastResponseStatus))
                    .col(big_integer(WebhookDeliveries::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_due_idx")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    Endpoint,
    WebhookId,
    Type,
    UserId,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastAttemptAt,
    LastResponseStatus,
    CreatedAt,
}
