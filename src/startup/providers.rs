//! Identity providers at startup: each `[[oidc_providers]]` discovered
//! (issuer, endpoints, keys); one that cannot be stops startup with one line
//! naming it, unless it is `optional`, which is tried again on use.

use std::net::SocketAddr;
use std::sync::Arc;

use actors::Accounts;
use actors::auth::Auth;
use actors::oidc::{Oidc, OidcSettings, Provider};
use jobs::SharedClock;

use crate::config::Settings;

/// The relying party for `settings`' providers. `bound` is the address
/// the main listener got (the default `AUTH_EXTERNAL_URL`).
pub(super) async fn identity_providers(
    settings: &Settings,
    bound: SocketAddr,
    clock: &SharedClock,
    accounts: Accounts,
    auth: Auth,
) -> anyhow::Result<Oidc> {
    let http = actors::oidc::http_client().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut providers: Vec<Arc<Provider>> = Vec::new();
    for p in &settings.oidc_providers {
        let id = p.id.clone();
        let issuer = p.issuer.clone();
        let provider = Provider::discover(p.clone(), &http, clock)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "[[oidc_providers]] {id}: discovery of {issuer} failed ({e}); \
                     fix the issuer or set optional = true to start without it"
                )
            })?;
        providers.push(provider);
    }
    let external_url = match &settings.external_url {
        Some(url) => url.clone(),
        None => url::Url::parse(&format!("http://{bound}"))?,
    };
    let oidc_settings = OidcSettings {
        external_url,
        redirect_origins: settings.oidc_redirect_origins.clone(),
    };
    Ok(Oidc::new(providers, oidc_settings, http, accounts, auth))
}
