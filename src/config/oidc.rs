//! Identity providers: `[[oidc_providers]]` tables in `authd.toml`, checked
//! into `actors::oidc::ProviderSettings`. A bad table stops startup with
//! one line naming it (`[[oidc_providers]] #N (id)`); an error never
//! repeats a client secret. `client_secret_file` is read here: absolute,
//! or relative to the configuration file; one trailing newline is ignored.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};
use zeroize::Zeroizing;

use actors::oidc::{ProviderSettings, TokenAuth};

use super::ConfigError;

/// One `[[oidc_providers]]` table as written.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderTable {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub issuer: String,
    pub client_id: String,
    /// Serialised as `<redacted>`: the only serialisation of the settings
    /// is `authd config check`'s listing.
    #[serde(default, serialize_with = "redacted")]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub token_auth_method: Option<String>,
    #[serde(default)]
    pub optional: bool,
}

impl fmt::Debug for OidcProviderTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProviderTable")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| super::redact::REDACTED),
            )
            .field("client_secret_file", &self.client_secret_file)
            .field("scopes", &self.scopes)
            .field("token_auth_method", &self.token_auth_method)
            .field("optional", &self.optional)
            .finish()
    }
}

fn redacted<S: Serializer>(secret: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => s.serialize_str(super::redact::REDACTED),
        None => s.serialize_none(),
    }
}

impl OidcProviderTable {
    /// A relative `client_secret_file` made relative to `dir` (the
    /// configuration file's directory).
    pub(super) fn resolve_against(&mut self, dir: &Path) {
        if let Some(file) = &self.client_secret_file
            && file.is_relative()
        {
            self.client_secret_file = Some(dir.join(file));
        }
    }
}

/// The providers these tables configure.
pub(super) fn providers(
    tables: Vec<OidcProviderTable>,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    let mut providers: Vec<ProviderSettings> = Vec::new();
    for (n, table) in tables.into_iter().enumerate() {
        let at = |problem: String| ConfigError {
            variable: format!("[[oidc_providers]] #{} ({})", n + 1, table.id),
            problem,
        };
        let id = table.id.trim();
        if id.is_empty()
            || id.len() > 32
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(at("id: must be 1 to 32 of a-z, 0-9, - and _".into()));
        }
        if providers.iter().any(|p| p.id == id) {
            return Err(at(format!("id: `{id}` is configured twice")));
        }
        let issuer = issuer(&table.issuer).map_err(&at)?;
        if table.client_id.trim().is_empty() {
            return Err(at("client_id: is required".into()));
        }
        let client_secret = match (&table.client_secret, &table.client_secret_file) {
            (Some(secret), None) if !secret.is_empty() => Zeroizing::new(secret.clone()),
            (None, Some(file)) => read_secret(file).map_err(&at)?,
            (Some(_), Some(_)) => {
                return Err(at(
                    "client_secret and client_secret_file: set one, not both".into(),
                ));
            }
            _ => return Err(at("client_secret or client_secret_file: is required".into())),
        };
        let scopes = table
            .scopes
            .clone()
            .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]);
        if !scopes.iter().any(|s| s == "openid") {
            return Err(at("scopes: must include `openid`".into()));
        }
        if scopes.iter().any(|s| {
            s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        }) {
            return Err(at("scopes: each must be a non-empty scope token".into()));
        }
        let token_auth = match table.token_auth_method.as_deref() {
            None | Some("client_secret_basic") => TokenAuth::ClientSecretBasic,
            Some("client_secret_post") => TokenAuth::ClientSecretPost,
            Some(other) => {
                return Err(at(format!(
                    "token_auth_method: `{other}` is not client_secret_basic or client_secret_post"
                )));
            }
        };
        providers.push(ProviderSettings {
            id: id.to_owned(),
            name: table
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| id.to_owned()),
            issuer,
            client_id: table.client_id.trim().to_owned(),
            client_secret,
            scopes,
            token_auth,
            optional: table.optional,
        });
    }
    Ok(providers)
}

/// An issuer: https, or http to a loopback host (development).
fn issuer(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw.trim()).map_err(|_| format!("issuer: `{raw}` is not a URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(format!(
                "issuer: `{raw}` must be https (http only to a loopback host)"
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "issuer: `{raw}` must have no query, fragment or user"
        ));
    }
    // Discovery compares the document's `issuer` with this string exactly.
    Ok(raw.trim().to_owned())
}

/// A secret file's content without one trailing newline; the error names
/// the file, never the content.
fn read_secret(file: &Path) -> Result<Zeroizing<String>, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(file)
            .map_err(|e| format!("client_secret_file: {} cannot be read: {e}", file.display()))?,
    );
    let secret = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if secret.is_empty() {
        return Err(format!("client_secret_file: {} is empty", file.display()));
    }
    Ok(Zeroizing::new(secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(id: &str, issuer: &str) -> OidcProviderTable {
        OidcProviderTable {
            id: id.into(),
            name: None,
            issuer: issuer.into(),
            client_id: "client".into(),
            client_secret: Some("s3cret-value".into()),
            client_secret_file: None,
            scopes: None,
            token_auth_method: None,
            optional: false,
        }
    }

    #[test]
    fn a_table_gives_a_provider_with_the_default_scopes_and_its_secret() {
        let got = providers(vec![table("google", "https://accounts.google.com")]).unwrap();
        assert_eq!(got[0].scopes, ["openid", "email", "profile"]);
        assert_eq!(got[0].name, "google");
        assert_eq!(got[0].client_secret.as_str(), "s3cret-value");
        assert_eq!(got[0].token_auth, TokenAuth::ClientSecretBasic);
        assert!(!format!("{:?}", got[0]).contains("s3cret"));
        assert!(!format!("{:?}", table("a", "https://x")).contains("s3cret"));
    }

    #[test]
    fn bad_tables_stop_startup_with_one_line_naming_them_and_no_secret() {
        let mut no_openid = table("k", "https://id.example");
        no_openid.scopes = Some(vec!["email".into()]);
        let mut both = table("k", "https://id.example");
        both.client_secret_file = Some("/nope".into());
        let mut missing_file = table("k", "https://id.example");
        missing_file.client_secret = None;
        missing_file.client_secret_file = Some("/does/not/exist".into());
        let mut method = table("k", "https://id.example");
        method.token_auth_method = Some("private_key_jwt".into());
        let cases = [
            (vec![table("Bad Id", "https://id.example")], "id:"),
            (vec![table("k", "http://id.example")], "issuer:"),
            (vec![table("k", "not a url")], "issuer:"),
            (
                vec![
                    table("k", "https://a.example"),
                    table("k", "https://b.example"),
                ],
                "configured twice",
            ),
            (vec![no_openid], "scopes:"),
            (vec![both], "set one, not both"),
            (vec![missing_file], "cannot be read"),
            (vec![method], "token_auth_method:"),
        ];
        for (tables, expected) in cases {
            let e = providers(tables).unwrap_err().to_string();
            assert!(e.starts_with("[[oidc_providers]] #"), "{e}");
            assert!(e.contains(expected), "{e}");
            assert!(!e.contains("s3cret") && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn a_secret_file_loses_one_trailing_newline_and_resolves_against_the_config_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("google.secret"), "from-file\n").unwrap();
        let mut t = table("google", "http://127.0.0.1:9/");
        t.client_secret = None;
        t.client_secret_file = Some("google.secret".into());
        t.resolve_against(dir.path());
        let got = providers(vec![t]).unwrap();
        assert_eq!(got[0].client_secret.as_str(), "from-file");
    }
}
