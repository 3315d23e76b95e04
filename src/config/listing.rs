//! The settings as `authd config check` lists them: one `name = value` a
//! line, in the order declared, as in `authd.toml` (strings quoted, numbers
//! bare); a secret shows as `<redacted>`, a URL without its credentials,
//! an unset setting as `(unset)`.

use serde_json::Value;

use super::redact::{REDACTED, redact_url};
use super::{DECLARED, RawSettings, Shown};

impl RawSettings {
    /// Every setting, one `name = value` a line, nothing secret shown.
    pub fn listing(&self) -> String {
        let values = match serde_json::to_value(self) {
            Ok(Value::Object(values)) => values,
            _ => Default::default(),
        };
        DECLARED
            .iter()
            .map(|setting| {
                let value = values.get(setting.name).unwrap_or(&Value::Null);
                format!("{} = {}", setting.name, shown(setting.shown, value))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A value as the listing shows it.
fn shown(how: Shown, value: &Value) -> String {
    match (how, value) {
        (_, Value::Null) => "(unset)".into(),
        (Shown::Secret, _) => REDACTED.into(),
        (Shown::Url, Value::String(url)) => Value::String(redact_url(url)).to_string(),
        (Shown::Url, _) => REDACTED.into(),
        (Shown::Plain, value) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_listed_and_no_secret_shows() {
        let raw = RawSettings {
            database_url: Some("postgres://authd:hunter2@db.internal:5432/authd".into()),
            jwt_secret: Some("hunter2-hunter2-hunter2-hunter2-hunter2".into()),
            metrics_token: Some("hunter2-hunter2-hunter2-hunter2-hunter2".into()),
            ..RawSettings::default()
        };
        let listing = raw.listing();
        assert!(!listing.contains("hunter2"), "{listing}");
        assert_eq!(listing.lines().count(), DECLARED.len());
        for line in [
            "bind = \"127.0.0.1:8080\"",
            "database_url = \"postgres://***@db.internal:5432/authd\"",
            "smtp_url = (unset)",
            "jwt_secret = <redacted>",
            "encryption_key = (unset)",
            "access_ttl_secs = 3600",
        ] {
            assert!(
                listing.lines().any(|l| l == line),
                "{line} not in {listing}"
            );
        }
    }
}
