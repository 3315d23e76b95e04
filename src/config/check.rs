//! `Settings::check`: each raw setting to its typed form, or a one-line
//! error naming its variable.

use std::time::Duration;

use actors::HashCost;
use jobs::DeliveryTuning;

use super::{ConfigError, JwtAlgorithm, RawSettings, Secret, Settings, bad};

/// Decodes a base64 32-byte key.
fn decode_key(text: &str) -> Option<[u8; 32]> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?
        .try_into()
        .ok()
}

/// An SMTP URL the mailer can use: `smtp://` or `smtps://` with a host,
/// and one lettre's transport accepts (a `tls` of `required` or
/// `opportunistic`, credentials that decode). Checked by every role, not
/// only by the one that sends; the error never shows the URL (it may carry
/// a password).
fn smtp_url(url: &str) -> Result<(), ConfigError> {
    let refuse = |why: &str| bad("smtp_url", why);
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|p| matches!(p.scheme(), "smtp" | "smtps") && p.host_str().is_some())
        .ok_or_else(|| refuse("must be an smtp:// or smtps:// URL with a host"))?;
    if parsed
        .query_pairs()
        .any(|(k, v)| k == "tls" && !matches!(v.as_ref(), "required" | "opportunistic"))
    {
        return Err(refuse("`tls` must be required or opportunistic"));
    }
    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
        .map(drop)
        .map_err(|_| refuse("is not a URL the SMTP transport accepts"))
}

/// An HS256 secret: at least 32 bytes of text.
fn hs256_secret(text: String, name: &str) -> Result<Secret, ConfigError> {
    if text.len() < 32 {
        Err(bad(name, "must be at least 32 bytes"))
    } else {
        Ok(Secret(text.into_bytes()))
    }
}

/// An exact browser origin: `http(s)://host[:port]`, nothing after it, no
/// wildcard (credentials are allowed, so every origin is named).
fn parse_origin(s: &str, name: &str) -> Result<String, ConfigError> {
    let refuse = |why: &str| bad(name, format!("`{s}` {why}"));
    if s.contains('*') {
        return Err(refuse(
            "is a wildcard: name each origin (credentials are allowed)",
        ));
    }
    let url =
        url::Url::parse(s).map_err(|_| refuse("is not an origin like https://app.example"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(refuse("is not an http(s) origin"));
    }
    if !s
        .trim_end_matches('/')
        .eq_ignore_ascii_case(&url.origin().ascii_serialization())
    {
        return Err(refuse(
            "must be scheme://host[:port] only, with no path or wildcard",
        ));
    }
    Ok(url.origin().ascii_serialization())
}

/// A comma-separated list of exact origins (setting `name`).
fn origins(list: Option<String>, name: &str) -> Result<Vec<String>, ConfigError> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_origin(s, name))
        .collect()
}

impl Settings {
    /// Checks every raw setting and gives its typed form; the first bad
    /// one is the error.
    pub fn check(raw: RawSettings) -> Result<Self, ConfigError> {
        let bind = raw
            .bind
            .parse()
            .map_err(|_| bad("bind", format!("`{}` is not an address:port", raw.bind)))?;
        let database_url = raw
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}/authd.db?mode=rwc", raw.data_dir.display()));
        let outbox_dir = raw
            .outbox_dir
            .unwrap_or_else(|| raw.data_dir.join("outbox"));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(bad("database_url", "must be a sqlite: or postgres:// URL"));
        }
        let redis_url = raw
            .redis_url
            .filter(|u| !u.trim().is_empty())
            .map(|u| {
                url::Url::parse(&u)
                    .ok()
                    .filter(|p| matches!(p.scheme(), "redis" | "rediss"))
                    .ok_or_else(|| bad("redis_url", "must be a redis:// or rediss:// URL"))
            })
            .transpose()?;
        let smtp_url = raw
            .smtp_url
            .filter(|u| !u.trim().is_empty())
            .map(|u| {
                smtp_url(&u)?;
                Ok(u)
            })
            .transpose()?;
        let mail_from = raw
            .mail_from
            .parse()
            .map_err(|_| bad("mail_from", format!("`{}` is not a mailbox", raw.mail_from)))?;
        let public_url = url::Url::parse(&raw.public_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| bad("public_url", "must be an http:// or https:// URL"))?;
        let jwt_secret = raw
            .jwt_secret
            .map(|s| hs256_secret(s, "jwt_secret"))
            .transpose()?;
        let jwt_secret_previous = raw
            .jwt_secret_previous
            .filter(|s| !s.is_empty())
            .map(|s| hs256_secret(s, "jwt_secret_previous"))
            .transpose()?;
        let jwt_algorithm = match raw.jwt_algorithm.as_str() {
            "HS256" => JwtAlgorithm::Hs256,
            "EdDSA" => JwtAlgorithm::EdDsa,
            other => {
                return Err(bad(
                    "jwt_algorithm",
                    format!("`{other}` is not HS256 or EdDSA"),
                ));
            }
        };
        let encryption_key = raw
            .encryption_key
            .map(|k| {
                decode_key(&k)
                    .map(|k| Secret(k.to_vec()))
                    .ok_or_else(|| bad("encryption_key", "must be 32 bytes, base64-encoded"))
            })
            .transpose()?;
        let encryption_keys_previous = raw
            .encryption_keys_previous
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|k| !k.trim().is_empty())
            .map(|k| {
                decode_key(k).map(|k| Secret(k.to_vec())).ok_or_else(|| {
                    bad(
                        "encryption_keys_previous",
                        "must be 32-byte base64 keys, comma-separated",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if raw.jwt_issuer.trim().is_empty() {
            return Err(bad("jwt_issuer", "must not be empty"));
        }
        if raw.jwt_audience.trim().is_empty() {
            return Err(bad("jwt_audience", "must not be empty"));
        }
        if raw.access_ttl_secs == 0 {
            return Err(bad("access_ttl_secs", "must be more than 0"));
        }
        if raw.refresh_ttl_secs < raw.access_ttl_secs {
            return Err(bad(
                "refresh_ttl_secs",
                format!(
                    "{} is shorter than AUTH_ACCESS_TTL_SECS ({}): a session would end before its access token",
                    raw.refresh_ttl_secs, raw.access_ttl_secs
                ),
            ));
        }
        if !(1..=128).contains(&raw.rate_limit_ipv6_prefix) {
            return Err(bad("rate_limit_ipv6_prefix", "must be 1 to 128"));
        }
        if raw.lockout_threshold == 0 {
            return Err(bad("lockout_threshold", "must be more than 0"));
        }
        let trusted_proxies = raw
            .trusted_proxies
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let ip = s.split('/').next().unwrap_or(s);
                ip.parse::<std::net::IpAddr>()
                    .map(|_| s.to_owned())
                    .map_err(|_| {
                        bad(
                            "trusted_proxies",
                            format!("`{s}` is not an IP address or CIDR"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cors_origins = origins(raw.cors_origins, "cors_origins")?;
        let oidc_redirect_origins = origins(raw.oidc_redirect_origins, "oidc_redirect_origins")?;
        let external_url = raw
            .external_url
            .filter(|u| !u.trim().is_empty())
            .map(|u| {
                url::Url::parse(u.trim())
                    .ok()
                    .filter(|p| {
                        matches!(p.scheme(), "http" | "https")
                            && p.host_str().is_some()
                            && p.query().is_none()
                            && p.fragment().is_none()
                    })
                    .ok_or_else(|| {
                        bad(
                            "external_url",
                            "must be an http:// or https:// URL with no query",
                        )
                    })
            })
            .transpose()?;
        let oidc_providers = super::oidc::providers(raw.oidc_providers)?;
        if !oidc_providers.is_empty() && oidc_redirect_origins.is_empty() {
            return Err(bad(
                "oidc_redirect_origins",
                "must name the frontend origins sign-in with a provider returns to ([[oidc_providers]] are configured)",
            ));
        }
        let refresh_cookie = on_off("refresh_cookie", &raw.refresh_cookie, false)?;
        if refresh_cookie && cors_origins.is_empty() {
            return Err(bad(
                "refresh_cookie",
                "needs AUTH_CORS_ORIGINS: a request using the cookie must come from a listed origin",
            ));
        }
        let hash_cost = HashCost {
            memory_kib: raw.argon2_memory_kib,
            iterations: raw.argon2_iterations,
            parallelism: raw.argon2_parallelism,
        };
        hash_cost
            .params()
            .map_err(|e| bad("argon2_memory_kib", format!("invalid Argon2 cost: {e}")))?;
        super::log_filter::check(&raw.log)?;
        if raw.queue_name.is_empty()
            || !raw
                .queue_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad("queue_name", "must be letters, digits, - or _"));
        }
        let metrics_bind = raw
            .metrics_bind
            .filter(|b| !b.trim().is_empty())
            .map(|b| {
                b.parse()
                    .map_err(|_| bad("metrics_bind", format!("`{b}` is not an address:port")))
            })
            .transpose()?;
        let metrics_token = metrics_token(raw.metrics_token, metrics_bind.is_some())?;
        let admin_bind = raw
            .admin_bind
            .filter(|b| !b.trim().is_empty())
            .map(|b| {
                b.parse()
                    .map_err(|_| bad("admin_bind", format!("`{b}` is not an address:port")))
            })
            .transpose()?;
        for (key, days) in [
            ("outbox_retention_days", raw.outbox_retention_days),
            ("audit_retention_days", raw.audit_retention_days),
        ] {
            if days == 0 {
                return Err(bad(key, "must be at least 1 (days)"));
            }
        }
        let pwned = pwned(
            raw.pwned_range_url,
            &raw.pwned_when_down,
            raw.pwned_timeout_ms,
        )?;
        let passkey_login_by_address = on_off(
            "passkey_login_by_address",
            &raw.passkey_login_by_address,
            false,
        )?;
        let migrate_on_start = on_off("migrate_on_start", &raw.migrate_on_start, true)?;
        let database_pool_size = (raw.database_pool_size > 0).then_some(raw.database_pool_size);
        let docs = on_off("docs", &raw.docs, true)?;
        if raw.shutdown_delay_secs > 300 {
            return Err(bad("shutdown_delay_secs", "must be at most 300"));
        }
        if raw.passkey_open_logins == 0 {
            return Err(bad("passkey_open_logins", "must be at least 1"));
        }
        let webhooks = super::webhooks::endpoints(
            raw.webhook_url,
            raw.webhook_secret,
            raw.webhook_events,
            raw.webhooks,
        )?;
        let log_json = match raw.log_format.as_str() {
            "json" => true,
            "text" | "" => false,
            other => return Err(bad("log_format", format!("`{other}` is not text or json"))),
        };
        Ok(Self {
            bind,
            database_url,
            redis_url,
            smtp_url,
            outbox_dir,
            mail_from,
            public_url,
            jwt_secret,
            jwt_secret_previous,
            jwt_algorithm,
            jwt_private_key_file: raw.jwt_private_key_file,
            jwt_issuer: raw.jwt_issuer,
            jwt_audience: raw.jwt_audience,
            encryption_key,
            encryption_keys_previous,
            access_ttl_secs: raw.access_ttl_secs,
            refresh_ttl_secs: raw.refresh_ttl_secs,
            rate_limit_per_minute: raw.rate_limit_per_minute,
            rate_limit_ipv6_prefix: raw.rate_limit_ipv6_prefix,
            mail_per_recipient_per_hour: raw.mail_per_recipient_per_hour,
            refresh_rate_per_minute: raw.refresh_rate_per_minute,
            lockout_threshold: raw.lockout_threshold,
            trusted_proxies,
            cors_origins,
            refresh_cookie,
            hash_cost,
            log_filter: raw.log,
            log_json,
            data_dir: raw.data_dir,
            delivery: DeliveryTuning::default(),
            queue_name: raw.queue_name,
            gate_idle: actors::attempt_gate::IDLE_AFTER,
            metrics_bind,
            admin_bind,
            metrics_token,
            webauthn_rp_id: raw
                .webauthn_rp_id
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty()),
            passkey_login_by_address,
            migrate_on_start,
            database_pool_size,
            docs,
            shutdown_delay_secs: raw.shutdown_delay_secs,
            passkey_open_logins: raw.passkey_open_logins,
            outbox_retention_days: raw.outbox_retention_days,
            audit_retention_days: raw.audit_retention_days,
            pwned,
            janitor: actors::janitor::JanitorTuning::default(),
            webhooks,
            webhook_tuning: jobs::webhooks::WebhookTuning::default(),
            external_url,
            oidc_redirect_origins,
            oidc_providers,
        })
    }
}

/// The `/metrics` bearer secret: long enough not to be guessed, sendable in
/// a header, and only where it guards something (on `AUTH_METRICS_BIND`
/// every scrape is served, and none on `AUTH_BIND`). The value never
/// appears in an error.
fn metrics_token(token: Option<String>, own_listener: bool) -> Result<Option<Secret>, ConfigError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(
            "metrics_token",
            "must be printable ASCII without spaces (it is sent in an Authorization header)",
        ));
    }
    if token.len() < 32 {
        return Err(bad("metrics_token", "must be at least 32 characters"));
    }
    if own_listener {
        return Err(bad(
            "metrics_token",
            "has no use with AUTH_METRICS_BIND (/metrics is then served there to every \
             scraper, and never on AUTH_BIND): unset one of them",
        ));
    }
    Ok(Some(Secret(token.into_bytes())))
}

fn pwned(
    url: Option<String>,
    when_down: &str,
    timeout_ms: u64,
) -> Result<actors::breached::PwnedSettings, ConfigError> {
    let range_url = url
        .filter(|u| !u.trim().is_empty())
        .map(|u| {
            url::Url::parse(u.trim())
                .ok()
                .filter(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some())
                .ok_or_else(|| bad("pwned_range_url", format!("`{u}` is not an http(s) URL")))
        })
        .transpose()?;
    let refuse_when_down = match when_down {
        "refuse" => true,
        "accept" | "" => false,
        other => {
            return Err(bad(
                "pwned_when_down",
                format!("`{other}` is not accept or refuse"),
            ));
        }
    };
    if !(1..=30_000).contains(&timeout_ms) {
        return Err(bad("pwned_timeout_ms", "must be 1 to 30000 (milliseconds)"));
    }
    Ok(actors::breached::PwnedSettings {
        range_url,
        refuse_when_down,
        timeout: Duration::from_millis(timeout_ms),
    })
}

/// An `on`/`off` setting; empty is `default`.
fn on_off(name: &str, value: &str, default: bool) -> Result<bool, ConfigError> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        "" => Ok(default),
        other => Err(bad(name, format!("`{other}` is not on or off"))),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use figment::Figment;
    use figment::providers::Serialized;

    use super::*;

    fn with(key: &str, value: &str) -> Result<Settings, ConfigError> {
        Settings::from_figment(
            Figment::from(Serialized::defaults(RawSettings::default())).merge((key, value)),
        )
    }

    #[test]
    fn the_refresh_cookie_is_on_or_off_and_needs_cors_origins() {
        assert!(!with("refresh_cookie", "off").unwrap().refresh_cookie);
        assert!(with("refresh_cookie", "yes").is_err());
        assert!(
            with("refresh_cookie", "on").is_err(),
            "no origin could use it"
        );
        let both = Settings::from_figment(
            Figment::from(Serialized::defaults(RawSettings::default()))
                .merge(("refresh_cookie", "on"))
                .merge(("cors_origins", "http://localhost:3000")),
        );
        assert!(both.unwrap().refresh_cookie);
    }

    #[test]
    fn cors_origins_are_exact_origins() {
        let s = with(
            "cors_origins",
            " http://localhost:3000/ , https://app.example:8443,HTTPS://App.Example ",
        )
        .unwrap();
        assert_eq!(
            s.cors_origins,
            [
                "http://localhost:3000",
                "https://app.example:8443",
                "https://app.example"
            ]
        );
        assert!(with("cors_origins", "").unwrap().cors_origins.is_empty());
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::check(RawSettings::default()).unwrap();
        assert_eq!(s.bind.port(), 8080);
        assert_eq!(s.hash_cost, HashCost::default());
        assert!(s.jwt_secret.is_none());
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (key, value, variable) in [
            ("bind", "nowhere", "AUTH_BIND"),
            ("database_url", "mysql://x", "AUTH_DATABASE_URL"),
            ("redis_url", "http://x", "AUTH_REDIS_URL"),
            ("smtp_url", "not a url", "AUTH_SMTP_URL"),
            ("public_url", "ftp://x", "AUTH_PUBLIC_URL"),
            ("jwt_secret", "short", "AUTH_JWT_SECRET"),
            ("jwt_secret_previous", "short", "AUTH_JWT_SECRET_PREVIOUS"),
            ("encryption_key", "c2hvcnQ=", "AUTH_ENCRYPTION_KEY"),
            (
                "encryption_keys_previous",
                "c2hvcnQ=",
                "AUTH_ENCRYPTION_KEYS_PREVIOUS",
            ),
            ("jwt_algorithm", "none", "AUTH_JWT_ALGORITHM"),
            ("log", "info,[[[", "AUTH_LOG"),
            ("log_format", "xml", "AUTH_LOG_FORMAT"),
            ("access_ttl_secs", "soon", "AUTH_ACCESS_TTL_SECS"),
            ("trusted_proxies", "10.0.0.1,banana", "AUTH_TRUSTED_PROXIES"),
            ("cors_origins", "*", "AUTH_CORS_ORIGINS"),
            ("cors_origins", "https://*.example.org", "AUTH_CORS_ORIGINS"),
            (
                "cors_origins",
                "https://app.example/path",
                "AUTH_CORS_ORIGINS",
            ),
            ("cors_origins", "ftp://app.example", "AUTH_CORS_ORIGINS"),
            ("argon2_memory_kib", "1", "AUTH_ARGON2_MEMORY_KIB"),
            ("rate_limit_ipv6_prefix", "0", "AUTH_RATE_LIMIT_IPV6_PREFIX"),
            (
                "rate_limit_ipv6_prefix",
                "129",
                "AUTH_RATE_LIMIT_IPV6_PREFIX",
            ),
            (
                "rate_limit_ipv6_prefix",
                "/64",
                "AUTH_RATE_LIMIT_IPV6_PREFIX",
            ),
            (
                "mail_per_recipient_per_hour",
                "-1",
                "AUTH_MAIL_PER_RECIPIENT_PER_HOUR",
            ),
            (
                "refresh_rate_per_minute",
                "lots",
                "AUTH_REFRESH_RATE_PER_MINUTE",
            ),
        ] {
            let err = with(key, value).unwrap_err();
            assert_eq!(err.variable, variable, "{key}={value}: {err}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn limit_defaults_and_zero_meaning_off() {
        let number = |key: &str, value: u32| {
            Settings::from_figment(
                Figment::from(Serialized::defaults(RawSettings::default())).merge((key, value)),
            )
        };
        let s = Settings::check(RawSettings::default()).unwrap();
        assert_eq!(s.rate_limit_ipv6_prefix, 64);
        assert_eq!(s.mail_per_recipient_per_hour, 3);
        assert_eq!(s.refresh_rate_per_minute, 60);
        let s = number("rate_limit_ipv6_prefix", 128).unwrap();
        assert_eq!(s.rate_limit_ipv6_prefix, 128);
        let s = number("rate_limit_ipv6_prefix", 1).unwrap();
        assert_eq!(s.rate_limit_ipv6_prefix, 1);
        let s = number("mail_per_recipient_per_hour", 0).unwrap();
        assert_eq!(s.mail_per_recipient_per_hour, 0);
        let s = number("refresh_rate_per_minute", 0).unwrap();
        assert_eq!(s.refresh_rate_per_minute, 0);
    }

    #[test]
    fn retention_days_default_to_a_week_and_ninety_days_and_must_be_at_least_one() {
        let s = Settings::check(RawSettings::default()).unwrap();
        assert_eq!((s.outbox_retention_days, s.audit_retention_days), (7, 90));
        for key in ["outbox_retention_days", "audit_retention_days"] {
            let days = |value: i64| {
                Settings::from_figment(
                    Figment::from(Serialized::defaults(RawSettings::default())).merge((key, value)),
                )
            };
            assert!(days(1).is_ok(), "{key}");
            assert!(days(3650).is_ok(), "{key}");
            for value in [0, -1] {
                let err = days(value).unwrap_err();
                assert_eq!(err.variable, format!("AUTH_{}", key.to_uppercase()));
            }
            let err = with(key, "a week").unwrap_err();
            assert_eq!(err.variable, format!("AUTH_{}", key.to_uppercase()));
        }
        let err = Settings::from_figment(
            Figment::from(Serialized::defaults(RawSettings::default()))
                .merge(("audit_retention_days", 0)),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "AUTH_AUDIT_RETENTION_DAYS: must be at least 1 (days)"
        );
    }

    #[test]
    fn breached_password_screening_is_off_by_default_and_checks_its_settings() {
        let s = Settings::check(RawSettings::default()).unwrap();
        assert!(s.pwned.range_url.is_none());
        assert!(!s.pwned.refuse_when_down);
        let s = Settings::from_figment(
            Figment::from(Serialized::defaults(RawSettings::default()))
                .merge(("pwned_range_url", "https://api.pwnedpasswords.com/range/"))
                .merge(("pwned_when_down", "refuse"))
                .merge(("pwned_timeout_ms", 800)),
        )
        .unwrap();
        assert_eq!(
            s.pwned.range_url.map(|u| u.to_string()).as_deref(),
            Some("https://api.pwnedpasswords.com/range/")
        );
        assert!(s.pwned.refuse_when_down);
        assert_eq!(s.pwned.timeout, Duration::from_millis(800));
        for (key, value) in [
            ("pwned_range_url", "ftp://example.com/range"),
            ("pwned_range_url", "not a url"),
            ("pwned_when_down", "maybe"),
            ("pwned_timeout_ms", "0"),
            ("pwned_timeout_ms", "60000"),
        ] {
            let err = with(key, value).unwrap_err();
            assert_eq!(
                err.variable,
                format!("AUTH_{}", key.to_uppercase()),
                "{value}"
            );
        }
    }

    #[test]
    fn the_data_dir_roots_the_database_and_the_outbox_unless_they_are_set() {
        let s = with("data_dir", "/srv/authd").unwrap();
        assert_eq!(s.database_url, "sqlite:///srv/authd/authd.db?mode=rwc");
        assert_eq!(s.outbox_dir, PathBuf::from("/srv/authd/outbox"));
        let s = Settings::from_figment(
            Figment::from(Serialized::defaults(RawSettings::default()))
                .merge(("data_dir", "/srv/authd"))
                .merge(("database_url", "postgres://db/authd"))
                .merge(("outbox_dir", "/var/mail/authd")),
        )
        .unwrap();
        assert_eq!(s.database_url, "postgres://db/authd");
        assert_eq!(s.outbox_dir, PathBuf::from("/var/mail/authd"));
        let s = Settings::check(RawSettings::default()).unwrap();
        assert_eq!(s.database_url, "sqlite://data/authd.db?mode=rwc");
    }

    #[test]
    fn the_metrics_token_is_long_printable_and_not_beside_a_metrics_bind() {
        let token = "m3tr1cs-0123456789abcdef-0123456789";
        let s = with("metrics_token", token).unwrap();
        assert_eq!(
            s.metrics_token.map(|t| t.0),
            Some(token.as_bytes().to_vec())
        );
        assert!(with("metrics_token", "").unwrap().metrics_token.is_none());
        assert!(
            Settings::check(RawSettings::default())
                .unwrap()
                .metrics_token
                .is_none()
        );
        let short = "s3cret-but-31-characters-long-x";
        let spaced = "a token with spaces that is long enough";
        let unicode = "ü-0123456789abcdef-0123456789abcdef";
        for bad in [short, spaced, unicode] {
            let err = with("metrics_token", bad).unwrap_err();
            assert_eq!(err.variable, "AUTH_METRICS_TOKEN", "{bad}");
            assert!(!err.to_string().contains(bad), "{err}");
            assert!(!err.to_string().contains('\n'));
        }
        let both = Settings::from_figment(
            Figment::from(Serialized::defaults(RawSettings::default()))
                .merge(("metrics_token", token))
                .merge(("metrics_bind", "127.0.0.1:9100")),
        )
        .unwrap_err();
        assert_eq!(both.variable, "AUTH_METRICS_TOKEN");
        assert!(!both.to_string().contains(token), "{both}");
    }

    #[test]
    fn a_refresh_ttl_shorter_than_the_access_ttl_is_refused() {
        let ttls = |access: u64, refresh: u64| {
            Settings::from_figment(
                Figment::from(Serialized::defaults(RawSettings::default()))
                    .merge(("access_ttl_secs", access))
                    .merge(("refresh_ttl_secs", refresh)),
            )
        };
        assert!(ttls(900, 900).is_ok());
        assert!(ttls(900, 86_400).is_ok());
        for (access, refresh) in [(3600, 3599), (3600, 0)] {
            let err = ttls(access, refresh).unwrap_err();
            assert_eq!(err.variable, "AUTH_REFRESH_TTL_SECS");
            assert!(err.to_string().contains("AUTH_ACCESS_TTL_SECS"), "{err}");
        }
        let err = with("refresh_ttl_secs", "60").unwrap_err();
        assert_eq!(err.variable, "AUTH_REFRESH_TTL_SECS");
    }

    #[test]
    fn an_smtp_url_is_one_the_transport_accepts_and_never_shown_in_its_error() {
        for good in [
            "smtp://127.0.0.1:1025",
            "smtp://mail.example?tls=required",
            "smtp://mail.example:587?tls=opportunistic",
            "smtps://mailer%40example.com:hun%3Ater2@smtp.example.com:465",
        ] {
            assert!(with("smtp_url", good).is_ok(), "{good}");
        }
        for bad in [
            "http://mail.example",
            "smtp://",
            "smtp://user:hunter2@mail.example?tls=yes",
            "smtps://user:hunter2%ff@mail.example",
            "mail.example:25",
        ] {
            let err = with("smtp_url", bad).unwrap_err();
            assert_eq!(err.variable, "AUTH_SMTP_URL", "{bad}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s = with("jwt_secret", "0123456789abcdef0123456789abcdef-very-secret").unwrap();
        assert!(!format!("{s:?}").contains("very-secret"));
    }
}
