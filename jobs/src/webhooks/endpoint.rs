//! The configured endpoints, parsed at startup: a URL that is https (or
//! http to a loopback host), secrets in the Standard Webhooks format
//! (`whsec_` + base64 of at least 24 bytes), and the event types it takes.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use url::{Host, Url};
use zeroize::Zeroizing;

/// Every event type a webhook can report, by its name on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    UserCreated,
    UserEmailVerified,
    UserUpdated,
    UserEmailChanged,
    UserPasswordChanged,
    UserMfaEnabled,
    UserMfaDisabled,
    UserDisabled,
    UserEnabled,
    UserDeleted,
    UserLoggedIn,
}

impl EventType {
    /// Every type, in the order API.md lists them.
    pub const ALL: [EventType; 11] = [
        Self::UserCreated,
        Self::UserEmailVerified,
        Self::UserUpdated,
        Self::UserEmailChanged,
        Self::UserPasswordChanged,
        Self::UserMfaEnabled,
        Self::UserMfaDisabled,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserDeleted,
        Self::UserLoggedIn,
    ];

    /// The name on the wire (`user.created` ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user.created",
            Self::UserEmailVerified => "user.email_verified",
            Self::UserUpdated => "user.updated",
            Self::UserEmailChanged => "user.email_changed",
            Self::UserPasswordChanged => "user.password_changed",
            Self::UserMfaEnabled => "user.mfa_enabled",
            Self::UserMfaDisabled => "user.mfa_disabled",
            Self::UserDisabled => "user.disabled",
            Self::UserEnabled => "user.enabled",
            Self::UserDeleted => "user.deleted",
            Self::UserLoggedIn => "user.logged_in",
        }
    }

    /// The type named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// A signing secret: the decoded bytes of `whsec_<base64>`. Never printed.
#[derive(Clone)]
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// The fewest random bytes a secret carries.
pub const MIN_SECRET_BYTES: usize = 24;

impl WebhookSecret {
    /// `whsec_` + standard base64 of at least 24 bytes. The error never
    /// repeats the value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(encoded) = text.trim().strip_prefix("whsec_") else {
            return Err("a secret must start with `whsec_`".into());
        };
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| "a secret must be `whsec_` followed by base64".to_owned())?;
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "a secret must carry at least {MIN_SECRET_BYTES} bytes (base64 of 24 random bytes)"
            ));
        }
        Ok(Self(Zeroizing::new(bytes)))
    }

    /// The key HMAC-SHA256 signs with.
    pub fn key(&self) -> &[u8] {
        &self.0
    }
}

/// Which types an endpoint takes: all of them (`*`), or these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    All,
    Only(Vec<EventType>),
}

impl Subscription {
    /// Names of types, or `*` alone; an unknown name or none is refused.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let names: Vec<&str> = names
            .into_iter()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        if names == ["*"] {
            return Ok(Self::All);
        }
        if names.is_empty() {
            return Err("name at least one event type, or `*`".into());
        }
        let mut types = Vec::new();
        for name in names {
            let t = EventType::parse(name).ok_or_else(|| {
                format!("`{name}` is not an event type (`*` or e.g. `user.created`)")
            })?;
            if !types.contains(&t) {
                types.push(t);
            }
        }
        Ok(Self::Only(types))
    }

    pub fn takes(&self, event: EventType) -> bool {
        match self {
            Self::All => true,
            Self::Only(types) => types.contains(&event),
        }
    }
}

/// One endpoint events are POSTed to. `Debug` shows its URL as
/// [`Endpoint::shown_url`] does and no secret.
#[derive(Clone)]
pub struct Endpoint {
    url: Url,
    /// Each signs every attempt (more than one while rotating).
    secrets: Vec<WebhookSecret>,
    events: Subscription,
    key: String,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.shown_url())
            .field("secrets", &self.secrets.len())
            .field("events", &self.events)
            .field("key", &self.key)
            .finish()
    }
}

impl Endpoint {
    /// Checks the URL (https, or http to a loopback host; no credentials in
    /// it) and takes the parsed secrets and subscription.
    pub fn new(
        url: &str,
        secrets: Vec<WebhookSecret>,
        events: Subscription,
    ) -> Result<Self, String> {
        let url = receiver_url(url)?;
        if secrets.is_empty() {
            return Err("an endpoint needs a secret".into());
        }
        let key = hex::encode(&Sha256::digest(url.as_str().as_bytes())[..16]);
        Ok(Self {
            url,
            secrets,
            events,
            key,
        })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL as it may be shown (logs, the admin API): without its query
    /// and fragment, which may carry a receiver's token (a URL with a user
    /// or password is refused at startup).
    pub fn shown_url(&self) -> String {
        let mut shown = self.url.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        shown.into()
    }

    pub fn secrets(&self) -> &[WebhookSecret] {
        &self.secrets
    }

    pub fn takes(&self, event: EventType) -> bool {
        self.events.takes(event)
    }

    /// The name a delivery row gives its endpoint: a hash of the URL, so a
    /// reordered configuration still finds it (and no URL is stored).
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// A receiver's URL: https, or http only to 127.0.0.0/8, ::1 or localhost.
fn receiver_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|_| format!("`{text}` is not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a webhook URL carries no credentials (the secret signs)".into());
    }
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err(format!("`{url}` has no host")),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!(
            "`{url}` must be https (http only to a loopback host: 127.0.0.0/8, ::1, localhost)"
        )),
        _ => Err(format!("`{url}` is not an https URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_https_or_loopback_http() {
        for ok in [
            "https://hooks.example.com/authd",
            "http://127.0.0.1:9000/h",
            "http://127.8.9.10/h",
            "http://[::1]:80/h",
            "http://localhost:3000/h",
        ] {
            assert!(receiver_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://hooks.example.com/h",
            "http://10.0.0.1/h",
            "http://[::ffff:10.0.0.1]/h",
            "ftp://127.0.0.1/h",
            "https://user:pw@example.com/h",
            "not a url",
        ] {
            assert!(receiver_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_whsec_and_at_least_24_bytes_and_never_echoed() {
        let good = format!("whsec_{}", STANDARD.encode([7u8; 24]));
        assert_eq!(WebhookSecret::parse(&good).unwrap().key(), &[7u8; 24]);
        let short = format!("whsec_{}", STANDARD.encode([7u8; 23]));
        for bad in [
            short.as_str(),
            "whsec_!!!notbase64",
            "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",
        ] {
            let e = WebhookSecret::parse(bad).unwrap_err();
            assert!(!e.contains(bad), "{e}");
        }
        assert!(!format!("{:?}", WebhookSecret::parse(&good).unwrap()).contains(&good));
    }

    #[test]
    fn a_shown_url_has_no_query_or_fragment() {
        let secret = WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([7u8; 24])));
        let e = Endpoint::new(
            "https://hooks.example.com/in?token=s3cret#frag",
            vec![secret.unwrap()],
            Subscription::All,
        )
        .unwrap();
        assert_eq!(e.shown_url(), "https://hooks.example.com/in");
        assert!(!format!("{e:?}").contains("s3cret"));
    }

    #[test]
    fn subscriptions_are_types_or_star() {
        assert_eq!(Subscription::parse(["*"]).unwrap(), Subscription::All);
        let s = Subscription::parse(["user.created", " user.deleted "]).unwrap();
        assert!(s.takes(EventType::UserDeleted) && !s.takes(EventType::UserLoggedIn));
        assert!(Subscription::parse(["user.exploded"]).is_err());
        assert!(Subscription::parse(Vec::<&str>::new()).is_err());
        assert!(Subscription::parse(["*", "user.created"]).is_err());
    }
}
