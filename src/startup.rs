//! Building and running the application: `Application::build` wires the
//! store, the domain, the HTTP API and (optionally) the email worker;
//! `port()` tells where it listens (port 0 in tests); `run_until_stopped`
//! serves until the shutdown token is cancelled, then drains.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::Server;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use actors::alerts::Alerts;
use actors::attempt_gate::GateDeps;
use actors::auth::AddressIds;
use actors::auth::Auth;
use actors::breached::BreachedPasswords;
use actors::broadcast::Broadcast;
use actors::hooks::Hooks;
use actors::jwt::{Jwt, JwtSettings, SigningKey};
use actors::lockout::LockoutPolicy;
use actors::mfa::MfaDeps;
use actors::rate_limit::{MailBudget, RateLimiter, TrustedProxies};
use actors::sessions::SessionStore;
use actors::supervisor::Actors;
use actors::token_registry::Revocations;
use actors::{Accounts, EmailChanges, Hasher, Links, Mfa, Passkeys, Passwords};
use jobs::{SharedClock, SystemClock};
use openapi::ApiState;

use crate::config::{JwtAlgorithm, Settings};
use crate::fingerprints::{self, NodeKey};
use crate::keys;

mod database;
mod parts;
mod providers;
mod worker;

use database::Role;
pub use database::{command_db, migrate, migrate_status};
use parts::{Core, core, drain, listen, mailer, queue, spawn_metrics_upkeep};
use worker::spawn_worker;
pub use worker::{janitor, run_worker_only, run_worker_with_clock};

use parts::DRAIN_TIMEOUT;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunWorker {
    Yes,
    No,
}

pub struct Application {
    port: u16,
    actors: Actors,
    acceptor: poem::listener::BoxAcceptor,
    endpoint: poem::endpoint::BoxEndpoint<'static>,
    /// `/metrics` on a listener of its own (`AUTH_METRICS_BIND`).
    metrics: Option<MetricsServer>,
    /// The admin API on a listener of its own (`AUTH_ADMIN_BIND`).
    admin: Option<MetricsServer>,
    background: Vec<JoinHandle<()>>,
    /// Work that finishes after its request was answered (reset requests).
    tasks: TaskTracker,
    shutdown: CancellationToken,
    /// Cancelled to stop (SIGTERM): the listener drains, then `shutdown`
    /// stops the background work.
    stop: CancellationToken,
    /// `/readyz` says 503 once this is cancelled (the start of a shutdown).
    draining: CancellationToken,
    /// How long the node keeps serving, not ready, before it stops
    /// accepting (`AUTH_SHUTDOWN_DELAY_SECS`).
    shutdown_delay: Duration,
}

/// `/metrics` (or the admin API) alone, on its own listener.
struct MetricsServer {
    port: u16,
    acceptor: poem::listener::BoxAcceptor,
    endpoint: poem::endpoint::BoxEndpoint<'static>,
}

/// The per-IP limiter of the auth endpoints (shared through Redis when it
/// is configured); the other limits are made from it with their own quotas.
async fn limiter(settings: &Settings) -> anyhow::Result<RateLimiter> {
    let limiter = match &settings.redis_url {
        Some(url) => RateLimiter::redis(
            url.as_str(),
            settings.rate_limit_per_minute,
            &settings.queue_name,
        )
        .await
        .context("AUTH_REDIS_URL (rate limits)")?,
        None => RateLimiter::local(settings.rate_limit_per_minute),
    };
    Ok(limiter.with_ipv6_prefix(settings.rate_limit_ipv6_prefix))
}

/// The access-token signer: the configured key, or one generated into the
/// data directory on first start (single node); checked against the key
/// the other nodes sign with.
async fn jwt(settings: &Settings, core: &Core) -> anyhow::Result<Jwt> {
    let generate = keys::Generate::for_database(&settings.database_url);
    let (key, previous) = match settings.jwt_algorithm {
        JwtAlgorithm::Hs256 => (
            SigningKey::Hs256(
                keys::resolve(
                    settings.jwt_secret.as_ref(),
                    &settings.data_dir,
                    "jwt_secret",
                    "AUTH_JWT_SECRET",
                    64,
                    generate,
                )?
                .0,
            ),
            settings
                .jwt_secret_previous
                .iter()
                .map(|s| SigningKey::Hs256(s.0.clone()))
                .collect(),
        ),
        JwtAlgorithm::EdDsa => (
            SigningKey::EdDsa {
                pkcs8_pem: keys::ed25519_pem(
                    settings.jwt_private_key_file.as_deref(),
                    &settings.data_dir,
                    generate,
                )?,
            },
            Vec::new(),
        ),
    };
    let jwt = Jwt::new(JwtSettings {
        key,
        previous,
        issuer: settings.jwt_issuer.clone(),
        audience: settings.jwt_audience.clone(),
        access_ttl_secs: i64::try_from(settings.access_ttl_secs).unwrap_or(3600),
    })
    .map_err(|e| anyhow::anyhow!("AUTH_JWT_*: {e}"))?;
    let node_key = match settings.jwt_algorithm {
        JwtAlgorithm::Hs256 => NodeKey {
            setting: "AUTH_JWT_SECRET",
            previous_setting: Some("AUTH_JWT_SECRET_PREVIOUS"),
            current: jwt.fingerprint().to_owned(),
            previous: jwt.previous_fingerprints(),
        },
        JwtAlgorithm::EdDsa => NodeKey {
            setting: "AUTH_JWT_PRIVATE_KEY_FILE",
            previous_setting: None,
            current: jwt.fingerprint().to_owned(),
            previous: Vec::new(),
        },
    };
    fingerprints::check(&core.db, &node_key, core.clock.now_ms()).await?;
    Ok(jwt)
}

/// The WebAuthn relying party: an explicit `AUTH_WEBAUTHN_RP_ID` that does
/// not fit `AUTH_PUBLIC_URL` stops startup; without one, a public URL that
/// cannot be a relying party (an IP address) turns passkeys off, with a
/// warning.
fn relying_party(settings: &Settings) -> anyhow::Result<Option<Arc<actors::passkeys::Webauthn>>> {
    let explicit = settings.webauthn_rp_id.as_deref();
    match actors::passkeys::relying_party(&settings.public_url, explicit) {
        Ok(w) => Ok(Some(Arc::new(w))),
        Err(e) if explicit.is_some() => Err(anyhow::anyhow!("AUTH_WEBAUTHN_RP_ID: {e}")),
        Err(e) => {
            tracing::warn!(error = %e, "passkeys are off: set AUTH_PUBLIC_URL to a host name");
            Ok(None)
        }
    }
}

impl Application {
    pub async fn build(settings: Settings, worker: RunWorker) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, worker, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        settings: Settings,
        worker: RunWorker,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        Self::build_with_hooks(settings, worker, clock, Hooks::default()).await
    }

    /// With a moved clock and pause points (tests); with
    /// `hooks.statements`, every statement of the node's pool is noted
    /// there (its worker's too, with [`RunWorker::Yes`]).
    pub async fn build_with_hooks(
        settings: Settings,
        worker: RunWorker,
        clock: SharedClock,
        hooks: Hooks,
    ) -> anyhow::Result<Self> {
        let (acceptor, port) = listen(settings.bind, "AUTH_BIND").await?;
        let metrics_listener = match settings.metrics_bind {
            Some(addr) => Some(listen(addr, "AUTH_METRICS_BIND").await?),
            None => None,
        };
        let admin_listener = match settings.admin_bind {
            Some(addr) => Some(listen(addr, "AUTH_ADMIN_BIND").await?),
            None => None,
        };
        let core = core(&settings, clock, Role::Serve, hooks.statements.clone()).await?;
        let jwt = jwt(&settings, &core).await?;
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let hasher = Hasher::start(settings.hash_cost, threads).map_err(anyhow::Error::msg)?;
        let wake = Arc::new(Notify::new());
        let webhooks = jobs::Webhooks::new(settings.webhooks.clone());
        let shutdown = CancellationToken::new();

        let mut background = Vec::new();
        let external_queue = if settings.redis_url.is_some() || worker == RunWorker::Yes {
            Some(queue(&settings).await?)
        } else {
            None
        };
        if settings.redis_url.is_some()
            && let Some(q) = &external_queue
        {
            background.push(crate::redis_watch::spawn(q.clone(), shutdown.clone()));
        }
        if worker == RunWorker::Yes
            && let Some(q) = &external_queue
        {
            let mailer = mailer(&settings)?;
            background.extend(spawn_worker(
                &settings,
                &core,
                q.clone(),
                mailer,
                wake.clone(),
                webhooks.clone(),
                &shutdown,
            )?);
        }

        let limiter = limiter(&settings).await?;
        let refresh_limiter = (settings.refresh_rate_per_minute > 0)
            .then(|| limiter.with_quota(settings.refresh_rate_per_minute, Duration::from_secs(60)));
        let links = Links::new(&settings.public_url);
        let revocations = Revocations::new(core.db.clone(), jwt.clone());
        let mfa_deps = Arc::new(MfaDeps::new(
            core.db.clone(),
            core.sealer.clone(),
            core.clock.clone(),
            wake.clone(),
            links.reset_request(),
            relying_party(&settings)?,
            webhooks.clone(),
        ));
        let sessions = SessionStore {
            db: core.db.clone(),
            jwt: jwt.clone(),
            refresh_ttl_ms: i64::try_from(settings.refresh_ttl_secs)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
            refresh_limit: refresh_limiter.clone(),
            alerts: Alerts {
                sealer: core.sealer.clone(),
                outbox_wake: wake.clone(),
                reset_page: links.reset_request(),
                new_device_budget: Some(limiter.with_quota(
                    actors::alerts::NEW_DEVICE_ALERTS_PER_HOUR,
                    Duration::from_secs(3600),
                )),
            },
            webhooks: webhooks.clone(),
        };
        let dummy_hash = Auth::dummy_hash(&hasher)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let deps = GateDeps {
            db: core.db.clone(),
            hasher: hasher.clone(),
            clock: core.clock.clone(),
            policy: LockoutPolicy::new(settings.lockout_threshold),
            idle_after: settings.gate_idle,
            mfa: mfa_deps.clone(),
            sessions: sessions.clone(),
            hooks: hooks.clone(),
            dummy_hash,
        };
        let broadcast = match &settings.redis_url {
            Some(url) => {
                let b = Broadcast::connect(url.as_str(), &settings.queue_name)
                    .await
                    .map_err(|e| anyhow::anyhow!("AUTH_REDIS_URL (revocations): {e}"))?;
                let r = revocations.clone();
                background.push(b.subscribe(shutdown.clone(), move |event| {
                    let r = r.clone();
                    async move { r.apply(event).await }
                }));
                Some(b)
            }
            None => None,
        };
        let actors = Actors::start(deps, revocations.clone(), broadcast)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let accounts = Accounts {
            db: core.db.clone(),
            hasher: hasher.clone(),
            sealer: core.sealer.clone(),
            clock: core.clock.clone(),
            links,
            after: actors.after_commit(&wake),
            tasks: TaskTracker::new(),
            mail_budget: MailBudget::new(&limiter, settings.mail_per_recipient_per_hour),
            breached: BreachedPasswords::new(&settings.pwned).map_err(anyhow::Error::msg)?,
            hooks: hooks.clone(),
        };
        let auth = Auth {
            hasher: hasher.clone(),
            clock: core.clock.clone(),
            actors: actors.clone(),
            revocations,
            sessions: sessions.clone(),
            jwt,
            addresses: AddressIds::new(
                core.sealer
                    .derive_keys("login addresses")
                    .first()
                    .copied()
                    .context("no encryption key")?,
            ),
        };
        let proxies =
            TrustedProxies::parse(&settings.trusted_proxies).context("AUTH_TRUSTED_PROXIES")?;
        let tasks = accounts.tasks.clone();
        let passwords = Passwords {
            accounts: accounts.clone(),
            auth: auth.clone(),
        };
        let passkeys = Passkeys {
            deps: mfa_deps.clone(),
            auth: auth.clone(),
            login_by_address: settings.passkey_login_by_address,
            open_logins: settings.passkey_open_logins,
        };
        let mfa = Mfa {
            deps: mfa_deps,
            auth: auth.clone(),
        };
        let account_data = actors::AccountData { mfa: mfa.clone() };
        let email_changes = EmailChanges {
            accounts: accounts.clone(),
            mfa: mfa.clone(),
        };
        let admin = actors::admin::Admin {
            db: core.db.clone(),
            clock: core.clock.clone(),
            after: actors.after_commit(&wake),
            accounts: accounts.clone(),
            mfa: mfa.clone(),
        };
        let bound = std::net::SocketAddr::new(settings.bind.ip(), port);
        let oidc = providers::identity_providers(
            &settings,
            bound,
            &core.clock,
            accounts.clone(),
            auth.clone(),
        )
        .await?;
        let draining = CancellationToken::new();
        let state = Arc::new(ApiState {
            accounts,
            auth,
            passwords,
            mfa,
            passkeys,
            account_data,
            email_changes,
            admin,
            oidc,
            limiter: (settings.rate_limit_per_minute > 0).then_some(limiter),
            refresh_limiter,
            proxies,
            cors: openapi::cors::AllowedOrigins::new(settings.cors_origins.clone()),
            refresh_cookie: if settings.refresh_cookie {
                openapi::refresh_cookie::RefreshCookie::on(
                    i64::try_from(settings.refresh_ttl_secs).unwrap_or(i64::MAX),
                    openapi::cors::AllowedOrigins::new(settings.cors_origins.clone()),
                )
            } else {
                openapi::refresh_cookie::RefreshCookie::off()
            },
            docs: settings.docs,
            draining: draining.clone(),
        });

        let handle = crate::telemetry::metrics();
        background.push(spawn_metrics_upkeep(handle.clone(), shutdown.clone()));
        let metrics = openapi::metrics::Metrics {
            handle,
            db: core.db.clone(),
        };
        let (on_main, metrics) = match metrics_listener {
            Some((acceptor, port)) => {
                info!(port, "metrics on their own listener (AUTH_METRICS_BIND)");
                let endpoint = poem::Route::new().at("/metrics", metrics.endpoint());
                let server = MetricsServer {
                    port,
                    acceptor,
                    endpoint: poem::EndpointExt::boxed(endpoint),
                };
                (None, Some(server))
            }
            None => {
                let token = settings.metrics_token.as_ref().map(|t| t.0.as_slice());
                match openapi::metrics::Access::on_main_listener(settings.bind.ip(), token) {
                    Some(access) => (Some((metrics, access)), None),
                    None => {
                        info!(
                            "/metrics is not served: AUTH_BIND is not a loopback address \
                             (set AUTH_METRICS_BIND or AUTH_METRICS_TOKEN to scrape it)"
                        );
                        (None, None)
                    }
                }
            }
        };
        let (serves, admin) = match admin_listener {
            Some((acceptor, port)) => {
                info!(port, "the admin API on its own listener (AUTH_ADMIN_BIND)");
                let endpoint = openapi::app(state.clone(), None, openapi::Serves::AdminOnly);
                let server = MetricsServer {
                    port,
                    acceptor,
                    endpoint: poem::EndpointExt::boxed(endpoint),
                };
                (openapi::Serves::AllButAdmin, Some(server))
            }
            None => (openapi::Serves::All, None),
        };
        info!(addr = %settings.bind, port, "authd listening");
        Ok(Self {
            port,
            actors,
            acceptor,
            endpoint: poem::EndpointExt::boxed(openapi::app(state, on_main, serves)),
            metrics,
            admin,
            background,
            tasks,
            shutdown,
            stop: CancellationToken::new(),
            draining,
            shutdown_delay: Duration::from_secs(settings.shutdown_delay_secs),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `/metrics` listener, when it has its own.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|m| m.port)
    }

    /// The port of the admin API's listener, when it has its own.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin.as_ref().map(|m| m.port)
    }

    /// The live actors (tests kill them to watch the supervisor at work).
    pub fn actors(&self) -> Actors {
        self.actors.clone()
    }

    /// Cancelling this token stops the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let metrics = self.metrics.map(|m| {
            let stop = self.shutdown.clone();
            tokio::spawn(async move {
                Server::new_with_acceptor(m.acceptor)
                    .run_with_graceful_shutdown(
                        m.endpoint,
                        async move { stop.cancelled().await },
                        Some(Duration::from_secs(1)),
                    )
                    .await
            })
        });
        let admin = self.admin.map(|m| {
            let stop = self.shutdown.clone();
            tokio::spawn(async move {
                Server::new_with_acceptor(m.acceptor)
                    .run_with_graceful_shutdown(
                        m.endpoint,
                        async move { stop.cancelled().await },
                        Some(DRAIN_TIMEOUT),
                    )
                    .await
            })
        });
        let (stop, draining, delay) = (
            self.stop.clone(),
            self.draining.clone(),
            self.shutdown_delay,
        );
        let stopping = async move {
            stop.cancelled().await;
            // Not ready from now on; serving on for `delay`, so a load
            // balancer sees it before the listener closes.
            draining.cancel();
            if !delay.is_zero() {
                info!(
                    secs = delay.as_secs(),
                    "shutting down: not ready, still serving"
                );
                tokio::time::sleep(delay).await;
            }
        };
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(self.endpoint, stopping, Some(DRAIN_TIMEOUT))
            .await?;
        self.tasks.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("requests' background work did not finish in time");
        }
        self.shutdown.cancel();
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        if let Some(admin) = admin {
            let _ = admin.await;
        }
        self.actors.stop();
        drain(self.background).await;
        info!("authd stopped");
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    info!("shutdown signal received");
}
