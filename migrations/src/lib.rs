//! Database migrations. They never import entities: each one describes the
//! schema as it was when it was written.

pub use sea_orm_migration::prelude::*;
pub use sea_orm_migration::seaql_migrations;

mod m20261122_000001_users;
mod m20261122_000002_one_time_tokens;
mod m20261122_000003_email_outbox;
mod m20261122_000004_sessions;
mod m20261123_000005_mfa;
mod m20261123_000006_credential_version;
mod m20261123_000007_address_failures;
mod m20261123_000008_devices;
mod m20261123_000009_drop_revoked_tokens;
mod m20261129_000010_session_clients;
mod m20261129_000011_audit_events;
mod m20261130_000012_prune_indexes;
mod m20261130_000014_scale_indexes;
mod m20261204_000015_alert_preferences;
mod m20261204_000020_passkeys;
mod m20261205_000021_devices_of_sessions;
mod m20261205_000022_webauthn_mfa_challenge;
mod m20261205_000023_key_fingerprints;
mod m20261206_000024_roles_and_app_metadata;
mod m20261206_000025_email_change;
mod m20261206_000026_account_deletion;
mod m20261206_000027_admin_keys;
mod m20261206_000028_webhooks;
mod m20261206_000029_webhook_delivery_indexes;
mod m20261206_000030_identities;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_users::Migration),
            Box::new(m20261122_000002_one_time_tokens::Migration),
            Box::new(m20261122_000003_email_outbox::Migration),
            Box::new(m20261122_000004_sessions::Migration),
            Box::new(m20261123_000005_mfa::Migration),
            Box::new(m20261123_000006_credential_version::Migration),
            Box::new(m20261123_000007_address_failures::Migration),
            Box::new(m20261123_000008_devices::Migration),
            Box::new(m20261123_000009_drop_revoked_tokens::Migration),
            Box::new(m20261129_000010_session_clients::Migration),
            Box::new(m20261129_000011_audit_events::Migration),
            Box::new(m20261130_000012_prune_indexes::Migration),
            Box::new(m20261130_000014_scale_indexes::Migration),
            Box::new(m20261204_000015_alert_preferences::Migration),
            Box::new(m20261204_000020_passkeys::Migration),
            Box::new(m20261205_000021_devices_of_sessions::Migration),
            Box::new(m20261205_000022_webauthn_mfa_challenge::Migration),
            Box::new(m20261205_000023_key_fingerprints::Migration),
            Box::new(m20261206_000024_roles_and_app_metadata::Migration),
            Box::new(m20261206_000025_email_change::Migration),
            Box::new(m20261206_000026_account_deletion::Migration),
            Box::new(m20261206_000027_admin_keys::Migration),
            Box::new(m20261206_000028_webhooks::Migration),
            Box::new(m20261206_000029_webhook_delivery_indexes::Migration),
            Box::new(m20261206_000030_identities::Migration),
        ]
    }
}
