//! What keys the nodes use, without the keys: for each key setting, the
//! fingerprints recorded in order (`position` 0 is the first node's key; a
//! rotation appends the next). A node whose keys do not include the newest
//! refuses to start instead of sealing or signing with a key the others
//! cannot read.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KeyFingerprints::Table)
                    .if_not_exists()
                    .col(string(KeyFingerprints::Name))
                    .col(big_integer(KeyFingerprints::Position))
                    .col(string(KeyFingerprints::Fingerprint))
                    .col(big_integer(KeyFingerprints::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(KeyFingerprints::Name)
                            .col(KeyFingerprints::Position),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KeyFingerprints::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum KeyFingerprints {
    Table,
    Name,
    Position,
    Fingerprint,
    CreatedAt,
}
