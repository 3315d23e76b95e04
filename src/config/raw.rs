//! Every setting, declared once: its name (the key in `authd.toml`; the
//! variable is `AUTH_` and the name in upper case), its type as written, its
//! default and how the settings' `Debug` view shows it. From this one list
//! come `RawSettings`, its `Default`, its redacted `Debug` and `DECLARED`,
//! which names the settings to the sources and the tests. `Settings::check`
//! turns each into its checked, typed form.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use actors::HashCost;

/// How a setting is shown in the settings' `Debug` view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// As it is.
    Plain,
    /// As `<redacted>` when set.
    Secret,
    /// Without the user, password and secret-looking query values a URL
    /// may carry.
    Url,
}

/// One declared setting.
#[derive(Debug, Clone, Copy)]
pub struct Declared {
    /// Its key in `authd.toml`, lower case: the field of `RawSettings`.
    pub name: &'static str,
    /// How the `Debug` view shows it.
    pub shown: Shown,
}

impl Declared {
    /// Its environment variable: `AUTH_` and the name in upper case.
    pub fn variable(&self) -> String {
        super::variable(self.name)
    }

    /// The variable naming a file that holds its value (`AUTH_X_FILE`):
    /// every secret and URL has one, a plain setting none.
    pub fn file_variable(&self) -> Option<String> {
        (self.shown != Shown::Plain).then(|| format!("{}{FILE_SUFFIX}", self.variable()))
    }
}

/// The tail of a `_FILE` variable.
const FILE_SUFFIX: &str = "_FILE";

/// A field of the `Debug` view, as its declaration says. Secrets and URLs
/// are `Option<String>`: another type does not compile.
macro_rules! shown {
    (Plain, $value:expr) => {
        $value
    };
    (Secret, $value:expr) => {
        &super::redact::secret($value)
    };
    (Url, $value:expr) => {
        &super::redact::url($value)
    };
}

/// Declares the settings: `RawSettings` and its `Default` and `Debug`, and
/// `DECLARED`.
macro_rules! settings {
    ($($(#[$doc:meta])* $name:ident: $type:ty = $default:expr, $shown:ident;)*) => {
        /// The settings as written by the operator, before checking. `Debug`
        /// hides secrets and URL credentials (see `Shown`).
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(default)]
        pub struct RawSettings {
            $($(#[$doc])* pub $name: $type,)*
        }

        impl Default for RawSettings {
            fn default() -> Self {
                Self { $($name: $default,)* }
            }
        }

        impl fmt::Debug for RawSettings {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut view = f.debug_struct("RawSettings");
                $(view.field(stringify!($name), shown!($shown, &self.$name));)*
                view.finish()
            }
        }

        /// Every setting, in the order declared.
        pub const DECLARED: &[Declared] = &[
            $(Declared { name: stringify!($name), shown: Shown::$shown },)*
        ];
    };
}

settings! {
    /// The HTTP listen address.
    bind: String = "127.0.0.1:8080".into(), Plain;
    /// Unset: `sqlite://<data_dir>/authd.db?mode=rwc`.
    database_url: Option<String> = None, Url;
    /// Redis for the queue, revocations and shared limits; unset: embedded.
    redis_url: Option<String> = None, Url;
    /// Unset: mails are written as `.eml` files into `outbox_dir`.
    smtp_url: Option<String> = None, Url;
    /// Unset: `<data_dir>/outbox`.
    outbox_dir: Option<PathBuf> = None, Plain;
    /// The sender of every mail.
    mail_from: String = "authd <no-reply@localhost>".into(), Plain;
    /// The frontend's base URL, in mailed links.
    public_url: String = "http://localhost:3000".into(), Plain;
    /// The HS256 key; unset: generated into the data directory.
    jwt_secret: Option<String> = None, Secret;
    /// The HS256 key before a rotation: tokens it signed still verify.
    jwt_secret_previous: Option<String> = None, Secret;
    /// `HS256` or `EdDSA`.
    jwt_algorithm: String = "HS256".into(), Plain;
    /// The Ed25519 key's PEM file; unset: generated when EdDSA.
    jwt_private_key_file: Option<PathBuf> = None, Plain;
    /// `iss` of access tokens.
    jwt_issuer: String = "authd".into(), Plain;
    /// `aud` of access tokens.
    jwt_audience: String = "authd".into(), Plain;
    /// The base64 key sealing data at rest; unset: generated.
    encryption_key: Option<String> = None, Secret;
    /// Comma-separated base64 keys that sealed data before a rotation.
    encryption_keys_previous: Option<String> = None, Secret;
    /// Access token lifetime, in seconds.
    access_ttl_secs: u64 = 3600, Plain;
    /// Refresh token lifetime, in seconds.
    refresh_ttl_secs: u64 = 1_209_600, Plain;
    /// Requests per IP and endpoint per minute; 0 = off.
    rate_limit_per_minute: u32 = 5, Plain;
    /// IPv6 clients are limited per prefix of this length.
    rate_limit_ipv6_prefix: u8 = 64, Plain;
    /// Mails one address can be sent per hour; 0 = off.
    mail_per_recipient_per_hour: u32 = 3, Plain;
    /// `token/refresh` per client IP and per session per minute; 0 = off.
    refresh_rate_per_minute: u32 = 60, Plain;
    /// Consecutive failures before a lock.
    lockout_threshold: u32 = 5, Plain;
    /// Comma-separated IPs or CIDRs whose `X-Forwarded-For` is believed.
    trusted_proxies: Option<String> = None, Plain;
    /// Comma-separated origins allowed to call from a browser (CORS).
    cors_origins: Option<String> = None, Plain;
    /// `on`: the refresh token is also set as an HttpOnly cookie.
    refresh_cookie: String = "off".into(), Plain;
    /// Argon2id memory cost, in KiB.
    argon2_memory_kib: u32 = HashCost::default().memory_kib, Plain;
    /// Argon2id iterations.
    argon2_iterations: u32 = HashCost::default().iterations, Plain;
    /// Argon2id lanes.
    argon2_parallelism: u32 = HashCost::default().parallelism, Plain;
    /// The tracing filter.
    log: String = "info".into(), Plain;
    /// `text` or `json`.
    log_format: String = "text".into(), Plain;
    /// Roots everything that defaults to `data/`.
    data_dir: PathBuf = "data".into(), Plain;
    /// The queue's name in its backend.
    queue_name: String = jobs::queue::QUEUE_NAME.into(), Plain;
    /// Serve `/metrics` on this address instead of `bind`.
    metrics_bind: Option<String> = None, Plain;
    /// Serve the admin API on this address only (then not on `bind`).
    admin_bind: Option<String> = None, Plain;
    /// The bearer secret a scraper sends to read `/metrics` on a `bind`
    /// that is not loopback.
    metrics_token: Option<String> = None, Secret;
    /// The WebAuthn relying party id; unset: the host of `public_url`.
    webauthn_rp_id: Option<String> = None, Plain;
    /// `on`: a passkey login may name its account (its passkeys are
    /// offered, which tells that the address has them); `off`: every
    /// passkey login is discoverable.
    passkey_login_by_address: String = "off".into(), Plain;
    /// `on`: `serve` and `worker` apply pending migrations at start (under
    /// a lock, so nodes starting together take turns); `off`: they refuse
    /// to start while any is pending (run `authd migrate` first, as a job).
    migrate_on_start: String = "on".into(), Plain;
    /// Most PostgreSQL connections this process opens; 0: by role (`serve`
    /// 16, `worker` 8, `migrate` 2).
    database_pool_size: u32 = 0, Plain;
    /// `off`: `/docs` and `/openapi.json` are not served (a production
    /// listener that should not show its API).
    docs: String = "on".into(), Plain;
    /// Seconds a node keeps serving after SIGTERM with `/readyz` at 503,
    /// before it stops accepting: time for a load balancer to notice.
    shutdown_delay_secs: u64 = 0, Plain;
    /// At most this many passkey logins started and not finished (the
    /// unauthenticated `auth/passkey/start`) are kept, across all nodes;
    /// a start beyond it drops the oldest.
    passkey_open_logins: u64 = actors::passkeys::ceremony::OPEN_LOGINS, Plain;
    /// Days sent and failed mails (and `.eml` files), and delivered and
    /// failed webhook deliveries (after their last attempt), are kept.
    outbox_retention_days: u32 = 7, Plain;
    /// Days security events are kept.
    audit_retention_days: u32 = 90, Plain;
    /// The breached-password range endpoint (unset: screening off).
    pwned_range_url: Option<String> = None, Url;
    /// `accept` or `refuse` a new password when that endpoint cannot answer.
    pwned_when_down: String = "accept".into(), Plain;
    /// How long one range request may take, in milliseconds.
    pwned_timeout_ms: u64 = 1500, Plain;
    /// One webhook endpoint's URL (more: `[[webhooks]]` tables).
    webhook_url: Option<String> = None, Url;
    /// Its secret, `whsec_` + base64; several comma-separated while rotating.
    webhook_secret: Option<String> = None, Secret;
    /// Comma-separated event types it takes, or `*`; unset: every type.
    webhook_events: Option<String> = None, Plain;
    /// `[[webhooks]]` tables: `url`, `secret` (one or a list), `events`.
    webhooks: Vec<super::webhooks::WebhookTable> = Vec::new(), Plain;
    /// authd's own address as browsers reach it (the callback registered at
    /// identity providers); unset: `http://` + `bind`.
    external_url: Option<String> = None, Plain;
    /// Comma-separated exact origins that sign-in with another provider may
    /// return to (`redirect_to`).
    oidc_redirect_origins: Option<String> = None, Plain;
    /// `[[oidc_providers]]` tables: `id`, `name`, `issuer`, `client_id`,
    /// `client_secret` or `client_secret_file`, `scopes`,
    /// `token_auth_method`, `optional`.
    oidc_providers: Vec<super::oidc::OidcProviderTable> = Vec::new(), Plain;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_names_are_the_keys_of_the_file() {
        let mut keys: Vec<String> = match serde_json::to_value(RawSettings::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            other => panic!("{other:?}"),
        };
        let mut names: Vec<String> = DECLARED.iter().map(|s| s.name.to_owned()).collect();
        keys.sort();
        names.sort();
        assert_eq!(keys, names);
        let view = format!("{:?}", RawSettings::default());
        for setting in DECLARED {
            assert!(view.contains(&format!("{}: ", setting.name)), "{view}");
        }
    }

    #[test]
    fn a_variable_is_auth_and_the_name_in_upper_case() {
        let bind = DECLARED.iter().find(|s| s.name == "bind").unwrap();
        assert_eq!(bind.variable(), "AUTH_BIND");
        let retention = DECLARED.iter().find(|s| s.name == "audit_retention_days");
        assert_eq!(retention.unwrap().variable(), "AUTH_AUDIT_RETENTION_DAYS");
    }

    #[test]
    fn every_secret_and_url_has_a_file_variable_and_no_plain_setting_does() {
        let files: Vec<String> = DECLARED
            .iter()
            .filter_map(Declared::file_variable)
            .collect();
        for name in [
            "AUTH_JWT_SECRET_FILE",
            "AUTH_ENCRYPTION_KEY_FILE",
            "AUTH_METRICS_TOKEN_FILE",
            "AUTH_DATABASE_URL_FILE",
            "AUTH_SMTP_URL_FILE",
            "AUTH_REDIS_URL_FILE",
        ] {
            assert!(files.iter().any(|f| f == name), "{name} in {files:?}");
        }
        let bind = DECLARED.iter().find(|s| s.name == "bind").unwrap();
        assert_eq!(bind.file_variable(), None);
        for file in &files {
            let name = file[5..].to_ascii_lowercase();
            assert!(
                !DECLARED.iter().any(|s| s.name == name),
                "{file} is a setting"
            );
        }
    }

    /// The README's configuration section names every variable, in full or
    /// as a `/ _TAIL` after a sibling (`AUTH_ARGON2_MEMORY_KIB / _ITERATIONS`),
    /// every `_FILE` variable, the file's key format and `authd config check`.
    #[test]
    fn the_readme_names_every_variable() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("\n## ")
            .find(|s| s.starts_with("Configuration\n"))
            .expect("a Configuration section");
        for setting in DECLARED {
            let variable = setting.variable();
            let mut tails = variable.match_indices('_').map(|(at, _)| &variable[at..]);
            let named = section.contains(&variable)
                || tails.any(|tail| section.contains(&format!("/ {tail}")));
            assert!(
                named,
                "{variable} is not in README.md's Configuration section"
            );
            if let Some(file_variable) = setting.file_variable() {
                assert!(
                    section.contains(&format!("`{file_variable}`")),
                    "{file_variable} is not in README.md's Configuration section"
                );
            }
        }
        for said in ["`jwt_secret = \"...\"`", "`authd config check`"] {
            assert!(section.contains(said), "{said} is not in README.md");
        }
    }
}
