//! Webhook endpoints: `[[webhooks]]` tables in `authd.toml` and the one
//! endpoint of `AUTH_WEBHOOK_URL` / `_SECRET` / `_EVENTS`, checked into
//! `jobs::webhooks::Endpoint`s. A bad URL (not https, and http not to a
//! loopback host), a secret not in the Standard Webhooks format or an
//! unknown event type stops startup; an error never repeats a secret.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

use jobs::webhooks::{Endpoint, Subscription, WebhookSecret};

use super::{ConfigError, bad};

/// One `[[webhooks]]` table as written.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTable {
    pub url: String,
    /// Serialised as `<redacted>`: the only serialisation of the settings
    /// is `authd config check`'s listing.
    #[serde(serialize_with = "redacted")]
    pub secret: Secrets,
    /// Event types, or `["*"]`; missing: every type.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// One secret, or several while rotating (each signs).
#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Secrets {
    One(String),
    Many(Vec<String>),
}

impl fmt::Debug for WebhookTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookTable")
            .field("url", &super::redact::redact_url(&self.url))
            .field("secret", &super::redact::REDACTED)
            .field("events", &self.events)
            .finish()
    }
}

fn redacted<S: Serializer>(_: &Secrets, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(super::redact::REDACTED)
}

/// The endpoints these settings configure, the environment's first.
pub(super) fn endpoints(
    url: Option<String>,
    secret: Option<String>,
    events: Option<String>,
    tables: Vec<WebhookTable>,
) -> Result<Vec<Endpoint>, ConfigError> {
    let mut endpoints = Vec::new();
    let url = url.filter(|u| !u.trim().is_empty());
    let secret = secret.filter(|s| !s.trim().is_empty());
    match (url, secret) {
        (Some(url), Some(secret)) => {
            let secrets = secret
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(WebhookSecret::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad("webhook_secret", e))?;
            let subscription = match events.as_deref().map(str::trim) {
                None | Some("") => Subscription::All,
                Some(list) => {
                    Subscription::parse(list.split(',')).map_err(|e| bad("webhook_events", e))?
                }
            };
            endpoints.push(
                Endpoint::new(&url, secrets, subscription).map_err(|e| bad("webhook_url", e))?,
            );
        }
        (Some(_), None) => return Err(bad("webhook_secret", "must be set with AUTH_WEBHOOK_URL")),
        (None, Some(_)) => return Err(bad("webhook_url", "must be set with AUTH_WEBHOOK_SECRET")),
        (None, None) if events.is_some_and(|e| !e.trim().is_empty()) => {
            return Err(bad("webhook_events", "must be set with AUTH_WEBHOOK_URL"));
        }
        (None, None) => {}
    }
    for (n, table) in tables.into_iter().enumerate() {
        let at = |problem: String| ConfigError {
            variable: format!("[[webhooks]] #{}", n + 1),
            problem,
        };
        let secrets = match table.secret {
            Secrets::One(s) => vec![s],
            Secrets::Many(list) => list,
        };
        let secrets = secrets
            .iter()
            .map(|s| WebhookSecret::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| at(format!("secret: {e}")))?;
        let subscription = match &table.events {
            None => Subscription::All,
            Some(names) => Subscription::parse(names.iter().map(String::as_str))
                .map_err(|e| at(format!("events: {e}")))?,
        };
        let endpoint = Endpoint::new(&table.url, secrets, subscription).map_err(at)?;
        if endpoints
            .iter()
            .any(|e: &Endpoint| e.url() == endpoint.url())
        {
            return Err(at(format!("`{}` is configured twice", endpoint.url())));
        }
        endpoints.push(endpoint);
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn table(url: &str, secret: Secrets, events: Option<Vec<&str>>) -> WebhookTable {
        WebhookTable {
            url: url.into(),
            secret,
            events: events.map(|e| e.into_iter().map(String::from).collect()),
        }
    }

    #[test]
    fn the_environment_and_the_tables_give_endpoints() {
        let tables = vec![table(
            "https://hooks.example.com/a",
            Secrets::Many(vec![SECRET.into(), SECRET.into()]),
            Some(vec!["user.created"]),
        )];
        let got = endpoints(
            Some("http://127.0.0.1:9/h".into()),
            Some(SECRET.into()),
            Some("user.created, user.deleted".into()),
            tables,
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].secrets().len(), 2);
    }

    #[test]
    fn bad_endpoints_stop_startup_with_one_line_naming_them() {
        let cases = [
            (
                endpoints(
                    Some("http://hooks.example.com/h".into()),
                    Some(SECRET.into()),
                    None,
                    vec![],
                ),
                "AUTH_WEBHOOK_URL: ",
            ),
            (
                endpoints(
                    Some("https://h.example/".into()),
                    Some("whsec_c2hvcnQ=".into()),
                    None,
                    vec![],
                ),
                "AUTH_WEBHOOK_SECRET: ",
            ),
            (
                endpoints(
                    Some("https://h.example/".into()),
                    Some(SECRET.into()),
                    Some("user.nope".into()),
                    vec![],
                ),
                "AUTH_WEBHOOK_EVENTS: ",
            ),
            (
                endpoints(Some("https://h.example/".into()), None, None, vec![]),
                "AUTH_WEBHOOK_SECRET: ",
            ),
            (
                endpoints(
                    None,
                    None,
                    None,
                    vec![table(
                        "http://10.1.2.3/h",
                        Secrets::One(SECRET.into()),
                        None,
                    )],
                ),
                "[[webhooks]] #1: ",
            ),
            (
                endpoints(
                    None,
                    None,
                    None,
                    vec![table(
                        "https://h.example/",
                        Secrets::One("hunter2".into()),
                        None,
                    )],
                ),
                "[[webhooks]] #1: secret",
            ),
        ];
        for (got, start) in cases {
            let e = got.unwrap_err().to_string();
            assert!(e.starts_with(start), "{e}");
            assert!(
                !e.contains('\n') && !e.contains("hunter2") && !e.contains(SECRET),
                "{e}"
            );
        }
    }

    #[test]
    fn a_table_shows_no_secret() {
        let t = table("https://h.example/", Secrets::One(SECRET.into()), None);
        assert!(!format!("{t:?}").contains(SECRET));
        assert!(!serde_json::to_string(&t).unwrap().contains(SECRET));
    }
}
