//! Configuration: defaults, then `authd.toml`, then `AUTH_*` environment
//! variables (the environment wins). Every value is checked here, and a bad
//! one stops startup with a one-line error naming the variable. Each
//! setting is declared once, in `raw` (name, type, default, redaction);
//! `Settings::check` turns it into its typed form.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};

use actors::HashCost;
use jobs::DeliveryTuning;

mod check;
mod files;
mod listing;
mod log_filter;
mod oidc;
mod raw;
mod redact;
mod sources;
mod webhooks;

pub use oidc::OidcProviderTable;
pub use raw::{DECLARED, Declared, RawSettings, Shown};
pub use webhooks::{Secrets as WebhookSecrets, WebhookTable};

/// A secret: usable, never printed.
#[derive(Clone)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How access tokens are signed (`AUTH_JWT_ALGORITHM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    EdDsa,
}

/// Checked settings. `Debug` hides secrets and URL credentials (see
/// `redact`).
#[derive(Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub database_url: String,
    pub redis_url: Option<url::Url>,
    pub smtp_url: Option<String>,
    pub outbox_dir: PathBuf,
    pub mail_from: lettre::message::Mailbox,
    pub public_url: url::Url,
    /// `None`: generated into the data directory on first start.
    pub jwt_secret: Option<Secret>,
    /// The HS256 key before a rotation: it verifies, it never signs.
    pub jwt_secret_previous: Option<Secret>,
    pub jwt_algorithm: JwtAlgorithm,
    pub jwt_private_key_file: Option<PathBuf>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// `None`: generated into the data directory on first start.
    pub encryption_key: Option<Secret>,
    /// Earlier encryption keys: what they sealed can still be opened.
    pub encryption_keys_previous: Vec<Secret>,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    pub rate_limit_per_minute: u32,
    /// IPv6 clients are limited per prefix of this length (1..=128).
    pub rate_limit_ipv6_prefix: u8,
    /// Mails one address can be sent per hour by reset and resend; 0 = off.
    pub mail_per_recipient_per_hour: u32,
    /// token/refresh per client IP and per session per minute; 0 = off.
    pub refresh_rate_per_minute: u32,
    pub lockout_threshold: u32,
    pub trusted_proxies: Vec<String>,
    /// Exact origins (`scheme://host[:port]`) that get CORS headers.
    pub cors_origins: Vec<String>,
    /// The refresh token is also set as the `__Host-authd_refresh` cookie,
    /// and `token/refresh` and `logout` accept it (with CSRF checks).
    pub refresh_cookie: bool,
    pub hash_cost: HashCost,
    pub log_filter: String,
    pub log_json: bool,
    pub data_dir: PathBuf,
    /// Delivery timings; not configurable from outside (tests shorten them).
    pub delivery: DeliveryTuning,
    /// The queue's name in its backend, so deployments (or test runs) can
    /// share one Redis.
    pub queue_name: String,
    /// How long an idle attempt gate (a user's actor) lives; not configurable from
    /// outside (tests shorten it).
    pub gate_idle: std::time::Duration,
    /// `None`: `/metrics` is served on `bind` (when that is loopback, or
    /// to scrapes carrying `metrics_token`).
    pub metrics_bind: Option<SocketAddr>,
    /// `Some`: the admin API is served on this address only (404 on
    /// `bind`); `None`: on `bind`.
    pub admin_bind: Option<SocketAddr>,
    /// `Authorization: Bearer <this>` lets a scrape read `/metrics` on
    /// `bind` (at least 32 printable ASCII characters; never with
    /// `metrics_bind`).
    pub metrics_token: Option<Secret>,
    /// The WebAuthn relying party id (`AUTH_WEBAUTHN_RP_ID`); `None`: the
    /// host of `public_url`.
    pub webauthn_rp_id: Option<String>,
    /// A passkey login may name its account (`AUTH_PASSKEY_LOGIN_BY_ADDRESS`).
    pub passkey_login_by_address: bool,
    /// Pending migrations are applied at start (`AUTH_MIGRATE_ON_START`);
    /// otherwise a pending one stops the start.
    pub migrate_on_start: bool,
    /// The pool's size (`AUTH_DATABASE_POOL_SIZE`); `None`: by role.
    pub database_pool_size: Option<u32>,
    /// `/docs` and `/openapi.json` are served (`AUTH_DOCS`).
    pub docs: bool,
    /// Not ready, still serving, for this long after SIGTERM
    /// (`AUTH_SHUTDOWN_DELAY_SECS`).
    pub shutdown_delay_secs: u64,
    /// Passkey logins started and not finished that are kept
    /// (`AUTH_PASSKEY_OPEN_LOGINS`, at least 1).
    pub passkey_open_logins: u64,
    /// Days sent and failed mails (and `.eml` files), and delivered and
    /// failed webhook deliveries, are kept (at least 1).
    pub outbox_retention_days: u32,
    /// Days security events are kept (at least 1).
    pub audit_retention_days: u32,
    /// Janitor timings; not configurable from outside (tests shorten them).
    /// Breached-password screening of new passwords.
    pub pwned: actors::breached::PwnedSettings,
    pub janitor: actors::janitor::JanitorTuning,
    /// Webhook endpoints (`[[webhooks]]`, `AUTH_WEBHOOK_*`).
    pub webhooks: Vec<jobs::webhooks::Endpoint>,
    /// Webhook sender timings; not configurable from outside (tests
    /// shorten them).
    pub webhook_tuning: jobs::webhooks::WebhookTuning,
    /// authd's own address as browsers reach it (`AUTH_EXTERNAL_URL`);
    /// `None`: `http://` + the address `bind` listens on.
    pub external_url: Option<url::Url>,
    /// Origins sign-in with another provider may return to.
    pub oidc_redirect_origins: Vec<String>,
    /// Identity providers (`[[oidc_providers]]`), discovered at startup.
    pub oidc_providers: Vec<actors::oidc::ProviderSettings>,
}

/// A setting that stops startup: `AUTH_X: what is wrong`, on one line.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The variable (or the file, or `AUTH_CONFIG`) at fault.
    pub variable: String,
    /// What is wrong with it; never the secret value itself.
    pub problem: String,
}

/// A setting's environment variable: `AUTH_` and its name in upper case.
fn variable(name: &str) -> String {
    format!("AUTH_{}", name.to_uppercase())
}

/// The error for setting `name`.
pub(crate) fn bad(name: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable(name),
        problem: problem.into(),
    }
}

impl RawSettings {
    /// Defaults, then `authd.toml` (or the file named by `AUTH_CONFIG`, which
    /// must exist), then the `AUTH_*` environment, then the files its
    /// `AUTH_X_FILE` variables name. An unknown key in the file or an
    /// unknown `AUTH_*` variable (other than `AUTH_CONFIG` and the test
    /// suite's `AUTH_TEST_*`) stops startup, and so do a variable set beside
    /// its `_FILE` and a file that cannot be read.
    pub fn load() -> Result<Self, ConfigError> {
        let file = sources::config_file()?;
        sources::refuse_unknown(&file)?;
        let mut figment = Figment::from(Serialized::defaults(RawSettings::default()))
            .merge(Toml::file(&file))
            .merge(sources::environment());
        for (name, value) in files::values(|variable| std::env::var_os(variable))? {
            figment = figment.merge((name, value));
        }
        let mut raw = Self::from_figment(figment)?;
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        for table in &mut raw.oidc_providers {
            table.resolve_against(dir);
        }
        Ok(raw)
    }

    /// The settings `figment` holds, unchecked; a value of the wrong type
    /// names its variable.
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        figment.extract().map_err(|e| {
            let key = e.path.last().cloned().unwrap_or_else(|| "config".into());
            let problem = e.kind.to_string();
            bad(&key, problem)
        })
    }
}

impl Settings {
    /// The settings `RawSettings::load` reads, checked.
    pub fn load() -> Result<Self, ConfigError> {
        Self::check(RawSettings::load()?).map_err(from_files)
    }

    /// The settings `figment` holds, checked; a value of the wrong type
    /// names its variable too.
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        Self::check(RawSettings::from_figment(figment)?)
    }
}

/// `authd config check`: the settings as they would be loaded, listed one
/// `name = value` a line with secrets and URL credentials hidden, or the
/// one-line error startup would stop with.
pub fn check() -> Result<String, ConfigError> {
    let raw = RawSettings::load()?;
    Settings::check(raw.clone()).map_err(from_files)?;
    Ok(raw.listing())
}

/// A check's error, naming the `_FILE` variable its value came from.
fn from_files(error: ConfigError) -> ConfigError {
    files::attribute(error, |variable| std::env::var_os(variable))
}
