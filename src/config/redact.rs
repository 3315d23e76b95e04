//! `Debug` for the settings: secrets show as `<redacted>`, and URLs that may
//! carry credentials lose their user, password and secret-looking query
//! values but keep scheme, host, port and path, so logs stay useful. Which
//! raw setting is which is declared with it (`raw.rs`); the checked
//! `Settings` hold secrets as `Secret` and are destructured in full here, so
//! a new field does not compile until it is listed. The tests set every
//! declared secret and URL and look for it in both views.

use std::fmt;

use super::Settings;

pub(super) const REDACTED: &str = "<redacted>";
/// What replaces a URL's credentials (unescaped in every part of a URL).
const HIDDEN: &str = "***";

/// A URL as it may be shown: without userinfo or secret query values.
pub(super) fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        // Not a URL we can take apart: with an `@` in it, show no more
        // than its scheme.
        return match (raw.split_once("://"), raw.contains('@')) {
            (Some((scheme, _)), true) => format!("{scheme}://{HIDDEN}"),
            (_, true) => REDACTED.to_owned(),
            _ => raw.to_owned(),
        };
    };
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_password(None);
        let _ = url.set_username(HIDDEN);
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let key = k.to_ascii_lowercase();
                let secret = ["pass", "secret", "token", "key", "auth", "cred"]
                    .iter()
                    .any(|s| key.contains(s));
                let value = if secret {
                    HIDDEN.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// A URL that shows without its credentials.
pub(super) struct Url<'a>(&'a str);

impl fmt::Debug for Url<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&redact_url(self.0), f)
    }
}

/// A secret setting as the view shows it.
pub(super) fn secret(value: &Option<String>) -> Option<&'static str> {
    value.as_ref().map(|_| REDACTED)
}

/// A URL setting as the view shows it.
pub(super) fn url(value: &Option<String>) -> Option<Url<'_>> {
    value.as_deref().map(Url)
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Settings {
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
            jwt_private_key_file,
            jwt_issuer,
            jwt_audience,
            encryption_key,
            encryption_keys_previous,
            access_ttl_secs,
            refresh_ttl_secs,
            rate_limit_per_minute,
            rate_limit_ipv6_prefix,
            mail_per_recipient_per_hour,
            refresh_rate_per_minute,
            lockout_threshold,
            trusted_proxies,
            cors_origins,
            refresh_cookie,
            hash_cost,
            log_filter,
            log_json,
            data_dir,
            delivery,
            queue_name,
            gate_idle,
            metrics_bind,
            admin_bind,
            metrics_token,
            webauthn_rp_id,
            passkey_login_by_address,
            migrate_on_start,
            database_pool_size,
            docs,
            shutdown_delay_secs,
            passkey_open_logins,
            outbox_retention_days,
            audit_retention_days,
            pwned,
            janitor,
            webhooks,
            webhook_tuning,
            external_url,
            oidc_redirect_origins,
            oidc_providers,
        } = self;
        f.debug_struct("Settings")
            .field("bind", bind)
            .field("database_url", &Url(database_url))
            .field("redis_url", &redis_url.as_ref().map(|u| Url(u.as_str())))
            .field("smtp_url", &smtp_url.as_deref().map(Url))
            .field("outbox_dir", outbox_dir)
            .field("mail_from", mail_from)
            .field("public_url", &Url(public_url.as_str()))
            .field("jwt_secret", jwt_secret)
            .field("jwt_secret_previous", jwt_secret_previous)
            .field("jwt_algorithm", jwt_algorithm)
            .field("jwt_private_key_file", jwt_private_key_file)
            .field("jwt_issuer", jwt_issuer)
            .field("jwt_audience", jwt_audience)
            .field("encryption_key", encryption_key)
            .field("encryption_keys_previous", encryption_keys_previous)
            .field("access_ttl_secs", access_ttl_secs)
            .field("refresh_ttl_secs", refresh_ttl_secs)
            .field("rate_limit_per_minute", rate_limit_per_minute)
            .field("rate_limit_ipv6_prefix", rate_limit_ipv6_prefix)
            .field("mail_per_recipient_per_hour", mail_per_recipient_per_hour)
            .field("refresh_rate_per_minute", refresh_rate_per_minute)
            .field("lockout_threshold", lockout_threshold)
            .field("trusted_proxies", trusted_proxies)
            .field("cors_origins", cors_origins)
            .field("refresh_cookie", refresh_cookie)
            .field("hash_cost", hash_cost)
            .field("log_filter", log_filter)
            .field("log_json", log_json)
            .field("data_dir", data_dir)
            .field("delivery", delivery)
            .field("queue_name", queue_name)
            .field("gate_idle", gate_idle)
            .field("metrics_bind", metrics_bind)
            .field("admin_bind", admin_bind)
            .field("metrics_token", metrics_token)
            .field("webauthn_rp_id", webauthn_rp_id)
            .field("passkey_login_by_address", passkey_login_by_address)
            .field("migrate_on_start", migrate_on_start)
            .field("database_pool_size", database_pool_size)
            .field("docs", docs)
            .field("shutdown_delay_secs", shutdown_delay_secs)
            .field("passkey_open_logins", passkey_open_logins)
            .field("outbox_retention_days", outbox_retention_days)
            .field("audit_retention_days", audit_retention_days)
            .field(
                "pwned_range_url",
                &pwned.range_url.as_ref().map(|u| Url(u.as_str())),
            )
            .field("pwned_refuse_when_down", &pwned.refuse_when_down)
            .field("pwned_timeout", &pwned.timeout)
            .field("janitor", janitor)
            .field("webhooks", webhooks)
            .field("webhook_tuning", webhook_tuning)
            .field(
                "external_url",
                &external_url.as_ref().map(|u| Url(u.as_str())),
            )
            .field("oidc_redirect_origins", oidc_redirect_origins)
            .field("oidc_providers", oidc_providers)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawSettings;

    #[test]
    fn a_url_keeps_its_host_port_and_path_and_loses_its_credentials() {
        for (raw, shown) in [
            (
                "postgres://authd:hunter2@db.internal:5432/authd?sslmode=require&password=hunter3",
                "postgres://***@db.internal:5432/authd?sslmode=require&password=***",
            ),
            (
                "redis://:hunter2@redis.internal:6379/0",
                "redis://***@redis.internal:6379/0",
            ),
            (
                "smtps://mailer%40example.com:hun%3Ater2@smtp.example.com:465",
                "smtps://***@smtp.example.com:465",
            ),
            (
                "sqlite://data/authd.db?mode=rwc",
                "sqlite://data/authd.db?mode=rwc",
            ),
            ("smtp://127.0.0.1:1025", "smtp://127.0.0.1:1025"),
            ("not a url:hunter2@x", "<redacted>"),
        ] {
            assert_eq!(redact_url(raw), shown, "{raw}");
        }
    }

    fn raw() -> RawSettings {
        RawSettings {
            database_url: Some("postgres://authd:db-hunter2@db.internal:5432/authd".into()),
            redis_url: Some("rediss://default:redis-hunter2@redis.internal:6380".into()),
            smtp_url: Some("smtps://mailer:smtp-hunter2@smtp.example.com:465".into()),
            jwt_secret: Some("jwt-hunter2-jwt-hunter2-jwt-hunter2-jwt".into()),
            jwt_secret_previous: Some("old-hunter2-old-hunter2-old-hunter2-old".into()),
            encryption_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
            encryption_keys_previous: Some("AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
            metrics_token: Some("metrics-hunter2-metrics-hunter2-metrics".into()),
            ..RawSettings::default()
        }
    }

    #[test]
    fn debug_of_the_settings_hides_every_secret_and_keeps_the_hosts() {
        let raw = raw();
        let checked = Settings::check(raw.clone()).unwrap();
        for text in [
            format!("{raw:?}"),
            format!("{raw:#?}"),
            format!("{checked:?}"),
            format!("{checked:#?}"),
        ] {
            for secret in [
                "hunter2", "AAECAwQF", "AQECAwQF", "mailer", "authd:", "default:",
            ] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
            for kept in [
                "db.internal:5432/authd",
                "redis.internal:6380",
                "smtp.example.com:465",
                "http://localhost:3000",
            ] {
                assert!(text.contains(kept), "{kept} not in {text}");
            }
        }
    }

    /// Values a secret or URL setting may take, each hiding `hunter2` (the
    /// key is `hunter2-hunter2-hunter2-hunter2!` in base64).
    const SAMPLES: [&str; 8] = [
        "hunter2-hunter2-hunter2-hunter2-hunter2",
        "aHVudGVyMi1odW50ZXIyLWh1bnRlcjItaHVudGVyMiE=",
        "whsec_aHVudGVyMi1odW50ZXIyLWh1bnRlcjItaHVudGVyMiE=",
        "https://hooks.example/h?token=hunter2",
        "postgres://authd:hunter2@db.internal:5432/authd",
        "rediss://default:hunter2@redis.internal:6380",
        "smtps://mailer:hunter2@smtp.example.com:465",
        "https://range:hunter2@range.example/range/",
    ];

    #[test]
    fn every_declared_secret_and_url_is_hidden_in_both_views() {
        use figment::Figment;
        use figment::providers::Serialized;

        use crate::config::{DECLARED, Shown};

        let hidden = DECLARED.iter().filter(|s| s.shown != Shown::Plain);
        assert!(
            hidden.clone().count() >= 8,
            "a secret or a URL is declared Plain"
        );
        for setting in hidden {
            let variable = setting.variable();
            // A webhook's URL and secret are valid only together.
            let partner = match setting.name {
                "webhook_url" => Some(("webhook_secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
                "webhook_secret" => Some(("webhook_url", "https://hooks.example/h")),
                _ => None,
            };
            let (raw, checked) = SAMPLES
                .iter()
                .find_map(|value| {
                    let mut base = Figment::from(Serialized::defaults(RawSettings::default()));
                    if let Some(partner) = partner {
                        base = base.merge(partner);
                    }
                    let raw: RawSettings = base.merge((setting.name, *value)).extract().ok()?;
                    let checked = Settings::check(raw.clone()).ok()?;
                    Some((raw, checked))
                })
                .unwrap_or_else(|| panic!("{variable}: no sample is a valid value; add one"));
            let raw = format!("{raw:?}");
            assert!(raw.contains(&format!("{}: Some(", setting.name)), "{raw}");
            for text in [raw, format!("{checked:?}"), format!("{checked:#?}")] {
                for secret in ["hunter2", "aHVudGVyMi1"] {
                    assert!(!text.contains(secret), "{variable} shown in {text}");
                }
            }
        }
    }
}
