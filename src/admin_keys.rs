//! `authd admin create-key | list-keys | revoke-key`: the admin API's keys,
//! on the configured database (connected as `authd migrate` connects).

use std::fmt::Write as _;

use anyhow::Context;

use actors::DomainError;
use jobs::{SharedClock, SystemClock};

use crate::cli::AdminAction;
use crate::config::Settings;

/// Runs `action`, printing its result on stdout.
pub async fn run(settings: &Settings, action: AdminAction) -> anyhow::Result<()> {
    match action {
        AdminAction::CreateKey { name, read_only } => {
            let key = create_key(settings, &name, read_only).await?;
            println!("{key}");
            eprintln!("authd: admin key `{name}` created; it is shown only this once");
        }
        AdminAction::ListKeys => print!("{}", list_keys(settings).await?),
        AdminAction::RevokeKey { name } => {
            revoke_key(settings, &name).await?;
            eprintln!("authd: admin key `{name}` revoked");
        }
    }
    Ok(())
}

fn now_ms() -> i64 {
    let clock: SharedClock = std::sync::Arc::new(SystemClock);
    clock.now_ms()
}

/// Makes a key named `name`; returns it (only its hash is stored). A
/// name already used is an error.
pub async fn create_key(
    settings: &Settings,
    name: &str,
    read_only: bool,
) -> anyhow::Result<String> {
    let db = crate::startup::command_db(settings).await?;
    match actors::admin::create_key(&db, name, read_only, now_ms()).await {
        Ok(key) => Ok(key.as_str().to_owned()),
        Err(DomainError::Validation(errors)) => {
            let why: Vec<String> = errors
                .into_iter()
                .flat_map(|(field, msgs)| msgs.into_iter().map(move |m| format!("{field} {m}")))
                .collect();
            anyhow::bail!("admin key `{name}` not created: {}", why.join("; "))
        }
        Err(e) => Err(anyhow::anyhow!("{e}")).context("admin key not created"),
    }
}

/// The keys, one a line: name, `read-only` or `read-write`, created, last
/// used and revoked (RFC 3339, `-` for never); never a key.
pub async fn list_keys(settings: &Settings) -> anyhow::Result<String> {
    let db = crate::startup::command_db(settings).await?;
    let keys = actors::admin::list_keys(&db)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = String::from("name\taccess\tcreated\tlast_used\trevoked\n");
    let time = |ms: Option<i64>| ms.map_or_else(|| "-".to_owned(), openapi::time::rfc3339_ms);
    for k in keys {
        let access = if k.read_only {
            "read-only"
        } else {
            "read-write"
        };
        let _ = writeln!(
            out,
            "{}\t{access}\t{}\t{}\t{}",
            k.name,
            time(Some(k.created_at)),
            time(k.last_used_at),
            time(k.revoked_at)
        );
    }
    Ok(out)
}

/// Revokes the live key named `name`; an error when there is none.
pub async fn revoke_key(settings: &Settings, name: &str) -> anyhow::Result<()> {
    let db = crate::startup::command_db(settings).await?;
    let revoked = actors::admin::revoke_key(&db, name, now_ms())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(revoked, "no live admin key named `{name}`");
    Ok(())
}
