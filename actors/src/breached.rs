//! Breached-password screening with the k-anonymity range protocol of Have I
//! Been Pwned: only the first 5 hex characters of the password's SHA-1 leave
//! authd; the answer lists the suffixes of every breached password in that
//! range, and the comparison happens here. Off unless `AUTH_PWNED_RANGE_URL`
//! is set. The one owner of "is this new password known to be breached".

use std::sync::Arc;
use std::time::Duration;

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use tracing::{instrument, warn};
use zeroize::Zeroizing;

use crate::DomainError;
use crate::domain::Password;

/// The message a breached password gets, on the field that carried it.
pub const BREACHED: &str = "has appeared in a data breach; choose another password";
/// The largest range answer read; a real one is about 40 KB.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// How the range service is reached and what a failure of it means.
#[derive(Debug, Clone)]
pub struct PwnedSettings {
    /// The range endpoint; the 5-character prefix is appended as the last
    /// path segment (`https://api.pwnedpasswords.com/range` gives
    /// `.../range/ABCDE`). `None`: screening is off.
    pub range_url: Option<url::Url>,
    /// Refuse a new password (503) when the service cannot answer in time;
    /// `false` (the default) accepts it and logs a warning.
    pub refuse_when_down: bool,
    /// How long one range request may take, connection included.
    pub timeout: Duration,
}

impl Default for PwnedSettings {
    fn default() -> Self {
        Self {
            range_url: None,
            refuse_when_down: false,
            timeout: Duration::from_millis(1500),
        }
    }
}

/// Screens new passwords; cheap to clone.
#[derive(Clone, Default)]
pub struct BreachedPasswords {
    service: Option<Arc<RangeService>>,
}

impl std::fmt::Debug for BreachedPasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.service.is_some() {
            "BreachedPasswords(on)"
        } else {
            "BreachedPasswords(off)"
        })
    }
}

struct RangeService {
    client: reqwest::Client,
    base: String,
    refuse_when_down: bool,
}

/// What the range service said of one password.
enum Verdict {
    Clean,
    Breached,
}

impl BreachedPasswords {
    pub fn new(settings: &PwnedSettings) -> Result<Self, String> {
        let Some(url) = &settings.range_url else {
            return Ok(Self::default());
        };
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // A redirect could send the prefix elsewhere: follow none.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("authd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            service: Some(Arc::new(RangeService {
                client,
                base: url.as_str().trim_end_matches('/').to_owned(),
                refuse_when_down: settings.refuse_when_down,
            })),
        })
    }

    /// `Ok` when the password is not known breached, or screening is off, or
    /// the service is down and the policy accepts. A breached password is a
    /// validation error on `field`; a down service under the refusing
    /// policy is `Unavailable` (503).
    #[instrument(skip_all, fields(outcome))]
    pub(crate) async fn screen(&self, password: &Password, field: &str) -> Result<(), DomainError> {
        let Some(service) = &self.service else {
            return Ok(());
        };
        let outcome = service.ask(password.expose()).await;
        let label = match &outcome {
            Ok(Verdict::Clean) => "clean",
            Ok(Verdict::Breached) => "breached",
            Err(_) => "unavailable",
        };
        tracing::Span::current().record("outcome", label);
        metrics::counter!("authd_pwned_checks_total", "outcome" => label).increment(1);
        match outcome {
            Ok(Verdict::Clean) => Ok(()),
            Ok(Verdict::Breached) => Err(DomainError::field(field, BREACHED)),
            Err(problem) if service.refuse_when_down => {
                warn!(%problem, "breached-password service unavailable; new password refused");
                Err(DomainError::Unavailable(
                    "breached-password service".to_owned(),
                ))
            }
            Err(problem) => {
                warn!(%problem, "breached-password service unavailable; new password accepted unchecked");
                Ok(())
            }
        }
    }
}

impl RangeService {
    async fn ask(&self, password: &str) -> Result<Verdict, String> {
        let digest = Zeroizing::new(hex::encode_upper(Sha1::digest(password.as_bytes())));
        let (prefix, suffix) = digest.split_at(5);
        let mut response = self
            .client
            .get(format!("{}/{prefix}", self.base))
            .header("Add-Padding", "true")
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| e.without_url().to_string())?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err("answer too large".to_owned());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(if listed(&body, suffix.as_bytes()) {
            Verdict::Breached
        } else {
            Verdict::Clean
        })
    }
}

/// Whether `suffix` (35 upper-case hex characters) is on a range answer's
/// `SUFFIX:COUNT` lines with a count above 0 (padding lines count 0).
fn listed(answer: &[u8], suffix: &[u8]) -> bool {
    let mut found = false;
    for line in answer.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (candidate, count) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        let same = candidate.len() == suffix.len()
            && bool::from(candidate.to_ascii_uppercase().ct_eq(suffix));
        let count = std::str::from_utf8(count)
            .ok()
            .and_then(|c| c.parse::<u64>().ok());
        found |= same && count.is_some_and(|c| c > 0);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUFFIX: &[u8] = b"1E4C9B93F3F0682250B6CF8331B7EE68FD8";

    #[test]
    fn a_listed_suffix_with_a_count_is_breached_in_any_case_and_line_ending() {
        let answer = b"0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n1e4c9b93f3f0682250b6cf8331b7ee68fd8:3730471\r\n";
        assert!(listed(answer, SUFFIX));
    }

    #[test]
    fn padding_lines_and_other_suffixes_are_not_breached() {
        let answer =
            b"1E4C9B93F3F0682250B6CF8331B7EE68FD8:0\r\n00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2\r\n";
        assert!(!listed(answer, SUFFIX));
        assert!(!listed(b"", SUFFIX));
        assert!(!listed(b"garbage\n:\n1E4C9B93:5\n", SUFFIX));
    }

    #[tokio::test]
    async fn screening_is_off_without_a_url() {
        let off = BreachedPasswords::new(&PwnedSettings::default()).unwrap();
        let password = Password::parse("Password123!x", None).unwrap();
        assert!(off.screen(&password, "password").await.is_ok());
    }
}
