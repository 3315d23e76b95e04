//! What `serve` and `worker` both start from: the database, the keys, the
//! queue, the mailer, a listener, the metrics upkeep, and draining tasks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actors::hooks::StatementLog;
use anyhow::Context;
use poem::listener::{Acceptor, AcceptorExt, Listener, TcpListener};
use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use jobs::{Mailer, Queue, Sealer, SharedClock};

use super::database::{Role, connect_noting};
use crate::config::Settings;
use crate::fingerprints::{self, NodeKey};
use crate::keys;

/// Binds `addr` (before anything slow happens, so a port in use is
/// reported first) and tells the port it got.
pub(super) async fn listen(
    addr: SocketAddr,
    setting: &str,
) -> anyhow::Result<(poem::listener::BoxAcceptor, u16)> {
    let acceptor = TcpListener::bind(addr.to_string())
        .into_acceptor()
        .await
        .with_context(|| format!("cannot listen on {addr} ({setting})"))?;
    let port = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().map(|s| s.port()))
        .context("listener has no address")?;
    Ok((acceptor.boxed(), port))
}

/// How often the histograms behind `/metrics` are folded (the recorder
/// keeps raw samples until then).
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

pub(super) fn spawn_metrics_upkeep(
    handle: metrics_exporter_prometheus::PrometheusHandle,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(METRICS_UPKEEP);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    crate::telemetry::process::record();
                    handle.run_upkeep();
                }
            }
        }
    })
}

/// The shared pieces both `serve` and `worker` need.
pub(super) struct Core {
    pub(super) db: DatabaseConnection,
    pub(super) sealer: Arc<Sealer>,
    pub(super) clock: SharedClock,
}

/// The core of a process; `statements` notes every statement of its pool
/// (tests; `None` in production).
pub(super) async fn core(
    settings: &Settings,
    clock: SharedClock,
    role: Role,
    statements: Option<Arc<StatementLog>>,
) -> anyhow::Result<Core> {
    let db = connect_noting(settings, role, statements).await?;
    crate::schema::at_start(&db, settings.migrate_on_start).await?;
    let key = keys::resolve(
        settings.encryption_key.as_ref(),
        &settings.data_dir,
        "encryption_key",
        "AUTH_ENCRYPTION_KEY",
        32,
        keys::Generate::for_database(&settings.database_url),
    )?;
    let key: [u8; 32] = key
        .0
        .as_slice()
        .try_into()
        .context("AUTH_ENCRYPTION_KEY: must be 32 bytes")?;
    let previous: Vec<[u8; 32]> = settings
        .encryption_keys_previous
        .iter()
        .filter_map(|k| k.0.as_slice().try_into().ok())
        .collect();
    let node_key = NodeKey::encryption(&key, &previous);
    fingerprints::check(&db, &node_key, clock.now_ms()).await?;
    Ok(Core {
        db,
        sealer: Arc::new(Sealer::with_previous(&key, &previous)),
        clock,
    })
}

pub(super) async fn queue(settings: &Settings) -> anyhow::Result<Queue> {
    match &settings.redis_url {
        Some(url) => Queue::redis(url.as_str(), &settings.queue_name)
            .await
            .context("AUTH_REDIS_URL"),
        None => {
            std::fs::create_dir_all(&settings.data_dir)?;
            let path: PathBuf = settings.data_dir.join("queue.db");
            Queue::sqlite(&path, &settings.queue_name)
                .await
                .context("embedded queue")
        }
    }
}

pub(super) fn mailer(settings: &Settings) -> anyhow::Result<Mailer> {
    let from = settings.mail_from.clone();
    Ok(match &settings.smtp_url {
        Some(url) => {
            Mailer::smtp(url, from, settings.delivery.smtp_timeout).context("AUTH_SMTP_URL")?
        }
        None => {
            info!(dir = %settings.outbox_dir.display(), "AUTH_SMTP_URL is not set: emails are written as .eml files");
            Mailer::files(settings.outbox_dir.clone(), from).context("AUTH_OUTBOX_DIR")?
        }
    })
}

/// How long requests and background work get to finish at shutdown.
pub(super) const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) async fn drain(tasks: Vec<JoinHandle<()>>) {
    let all = futures_join_all(tasks);
    if tokio::time::timeout(DRAIN_TIMEOUT, all).await.is_err() {
        tracing::warn!("background tasks did not stop in time");
    }
}

async fn futures_join_all(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}
