//! A session remembers the known device its login came from, so that a
//! re-authentication inside it spends that device's failure budget and a
//! credential change can keep the caller's device while forgetting the
//! others. Every lock state (an account's, a device's, an address's with
//! no account) remembers when its last failure was, so all three forget
//! their count by one rule (a day without failures).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(uuid_null(Sessions::DeviceId))
                    .to_owned(),
            )
            .await?;
        for table in [Lock::Users, Lock::Devices, Lock::AddressFailures] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(big_integer_null(Lock::LastFailedAt))
                        .to_owned(),
                )
                .await?;
        }
        // Counts stored before this column: their last failure was at the
        // latest when the row last changed.
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE users SET last_failed_at = updated_at WHERE failed_attempts > 0",
        )
        .await?;
        db.execute_unprepared(
            "UPDATE devices SET last_failed_at = last_used_at WHERE failed_attempts > 0",
        )
        .await?;
        db.execute_unprepared("UPDATE address_failures SET last_failed_at = updated_at")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Lock::Users, Lock::Devices, Lock::AddressFailures] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Lock::LastFailedAt)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .drop_column(Sessions::DeviceId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    DeviceId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Lock {
    Users,
    Devices,
    AddressFailures,
    LastFailedAt,
}
