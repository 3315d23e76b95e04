//! `authd worker` and the worker a `serve` may run: the relay, the email
//! worker, the janitor, and the worker's own probes.

use std::sync::Arc;
use std::time::Duration;

use poem::Server;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use actors::hooks::Hooks;
use actors::janitor::{Janitor, Retention};
use jobs::relay::Relay;
use jobs::webhooks::Sender;
use jobs::worker::Delivery;
use jobs::{Mailer, Queue, SharedClock, SystemClock, Webhooks};

use super::database::Role;
use super::parts::{Core, core, drain, listen, mailer, queue, spawn_metrics_upkeep};
use crate::config::Settings;

/// The janitor these settings describe, on `db` and `clock` (tests build
/// their own to call `run_once`).
pub fn janitor(
    settings: &Settings,
    db: DatabaseConnection,
    clock: SharedClock,
    hooks: Hooks,
    queue: Option<Queue>,
) -> Janitor {
    const DAY_MS: i64 = 24 * 3600 * 1000;
    Janitor {
        db,
        clock,
        tuning: settings.janitor.clone(),
        retention: Retention {
            outbox_ms: i64::from(settings.outbox_retention_days) * DAY_MS,
            audit_ms: i64::from(settings.audit_retention_days) * DAY_MS,
            refresh_ttl_ms: i64::try_from(settings.refresh_ttl_secs)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
        },
        eml_dir: settings
            .smtp_url
            .is_none()
            .then(|| settings.outbox_dir.clone()),
        holder: Janitor::holder_name(),
        hooks,
        queue,
    }
}

/// Starts the relay, the queue worker, the webhook sender and the janitor
/// on `shutdown`.
pub(super) fn spawn_worker(
    settings: &Settings,
    core: &Core,
    queue: Queue,
    mailer: Mailer,
    wake: Arc<Notify>,
    webhooks: Webhooks,
    shutdown: &CancellationToken,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let relay = Relay {
        db: core.db.clone(),
        queue: queue.clone(),
        clock: core.clock.clone(),
        tuning: settings.delivery.clone(),
        wake,
    };
    let delivery = Arc::new(Delivery {
        db: core.db.clone(),
        mailer,
        sealer: core.sealer.clone(),
        clock: core.clock.clone(),
        tuning: settings.delivery.clone(),
    });
    let janitor = janitor(
        settings,
        core.db.clone(),
        core.clock.clone(),
        Hooks::default(),
        Some(queue.clone()),
    );
    // Webhooks are sent by a polling task with row leases (like the
    // relay's), not through apalis: see README, "Webhooks".
    let sender = Sender::new(
        core.db.clone(),
        core.clock.clone(),
        webhooks,
        settings.webhook_tuning.clone(),
    )
    .map_err(anyhow::Error::msg)?;
    Ok(vec![
        tokio::spawn(relay.run(shutdown.clone())),
        tokio::spawn(jobs::worker::run(queue, delivery, shutdown.clone())),
        tokio::spawn(sender.run(shutdown.clone())),
        janitor.spawn(shutdown.clone()),
    ])
}

/// `authd worker`: the relay and the email worker, no HTTP.
pub async fn run_worker_only(
    settings: Settings,
    signal: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    run_worker_with_clock(settings, Arc::new(SystemClock), signal).await
}

pub async fn run_worker_with_clock(
    settings: Settings,
    clock: SharedClock,
    signal: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let probes = match settings.metrics_bind {
        Some(addr) => Some(listen(addr, "AUTH_METRICS_BIND").await?),
        None => None,
    };
    let core = core(&settings, clock, Role::Worker, None).await?;
    let queue = queue(&settings).await?;
    let mailer = mailer(&settings)?;
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    match probes {
        Some((acceptor, port)) => {
            tasks.extend(serve_worker_probes(acceptor, &core, &shutdown));
            info!(
                port,
                "worker probes and metrics on AUTH_METRICS_BIND: /healthz, /readyz, /metrics"
            );
        }
        None => info!(
            "this worker serves no probes or metrics: set AUTH_METRICS_BIND to serve /healthz, /readyz and /metrics"
        ),
    }
    if settings.redis_url.is_some() {
        tasks.push(crate::redis_watch::spawn(queue.clone(), shutdown.clone()));
    }
    tasks.extend(spawn_worker(
        &settings,
        &core,
        queue,
        mailer,
        Arc::new(Notify::new()),
        Webhooks::new(settings.webhooks.clone()),
        &shutdown,
    )?);
    info!("email worker running");
    signal.await;
    shutdown.cancel();
    drain(tasks).await;
    Ok(())
}

/// The worker's `/healthz`, `/readyz` and `/metrics` on `acceptor`, until
/// `shutdown`.
fn serve_worker_probes(
    acceptor: poem::listener::BoxAcceptor,
    core: &Core,
    shutdown: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let handle = crate::telemetry::metrics();
    let upkeep = spawn_metrics_upkeep(handle.clone(), shutdown.clone());
    let endpoint = openapi::probes::worker(openapi::metrics::Metrics {
        handle,
        db: core.db.clone(),
    });
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        let served = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                endpoint,
                async move { stop.cancelled().await },
                Some(Duration::from_secs(1)),
            )
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "the worker's probe listener stopped");
        }
    });
    vec![upkeep, server]
}
