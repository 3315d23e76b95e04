//! The one integration test binary: every test drives the real application
//! over HTTP. Set AUTH_TEST_DATABASE_URL (PostgreSQL) and AUTH_TEST_REDIS_URL
//! to run the same suite on the production backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alerts;
mod binary;
mod breached;
mod change_password;
mod config_check;
mod content_type;
mod cors;
mod credential_changes;
mod credential_core;
mod delivery;
mod delivery_retries;
mod devices;
mod doc_schema;
mod email_change;
mod enumeration;
mod envelope;
mod events;
mod first_day;
mod forwarded;
mod helpers;
mod indexes;
mod janitor;
mod keys;
mod layers;
mod limits;
mod lockout;
mod logs;
mod metrics;
mod mfa;
mod mfa_helpers;
mod openapi_doc;
mod outage;
mod passkey_changes;
mod passkey_helpers;
mod passkey_limits;
mod passkeys;
mod password_reset;
mod private_postgres;
mod readiness;
mod refresh_cookie;
mod register;
mod revocation;
mod schema;
mod session_list;
mod sessions;
mod side_doors;
mod smtp;
mod startup;
mod statement_budgets;
mod storm;
mod two_nodes;
mod verification;
