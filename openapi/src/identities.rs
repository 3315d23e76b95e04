//! The caller's identities at other providers: listed, linked, unlinked.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use tracing::instrument;

use actors::views::Identity;

use crate::ApiState;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::outcomes;
use crate::reply::{NoData, Reply};
use crate::security::BearerAuth;
use crate::tags::ApiTag;
use crate::time::rfc3339;

/// One identity at another provider that logs in to this account.
#[derive(Object, Debug)]
pub struct IdentityView {
    /// The identity's id (for `DELETE /api/v1/auth/identities/{id}/`).
    pub id: uuid::Uuid,
    /// The provider's `id` in the configuration.
    pub provider: String,
    /// The address the provider gave when the identity was linked.
    #[oai(nullable)]
    pub email: Option<String>,
    /// When it was linked (RFC 3339).
    pub created_at: String,
}

/// The caller's identities.
#[derive(Object, Debug)]
pub struct IdentityList {
    /// Oldest first.
    pub identities: Vec<IdentityView>,
}

/// Which provider to link, and where the browser comes back to.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct LinkIdentityRequest {
    /// The provider's `id` from the configuration.
    pub provider: String,
    /// Where the browser goes back to, with `linked=<provider>` or
    /// `error=…` added: a URL on one of `AUTH_OIDC_REDIRECT_ORIGINS`.
    pub redirect_to: String,
}

/// The URL that links an identity.
#[derive(Object, Debug)]
pub struct LinkUrl {
    /// Open it in this browser (not with `fetch`) within 5 minutes; it
    /// works once.
    pub url: String,
}

outcomes!(ListOutcomes: 200, [401, 500, 503]);
outcomes!(LinkOutcomes: 200, [400, 401, 404, 413, 429, 500, 503]);
outcomes!(UnlinkOutcomes: 200, [400, 401, 404, 409, 500, 503]);

pub struct IdentitiesApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTag::Providers")]
impl IdentitiesApi {
    /// List my identities at other providers
    #[oai(
        path = "/auth/identities/",
        method = "get",
        operation_id = "listIdentities"
    )]
    #[instrument(skip_all)]
    async fn list(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
    ) -> Result<Reply<IdentityList, ListOutcomes>, ApiError> {
        let identities = state
            .oidc
            .identities(&auth.0)
            .await?
            .into_iter()
            .map(identity_view)
            .collect();
        Ok(Reply::ok("Linked identities", IdentityList { identities }))
    }

    /// Link an identity at another provider
    ///
    /// Answers a URL to open in this browser: it runs the provider's
    /// sign-in and links the identity to this account, then redirects to
    /// `redirect_to?linked=<provider>` (or `error=identity_taken` when the
    /// identity belongs to another account; the addresses need not match).
    /// Linking adds a way to log in, so it needs a login less than 5
    /// minutes old (401 otherwise: log in again).
    #[oai(
        path = "/auth/identities/link/",
        method = "post",
        operation_id = "linkIdentity"
    )]
    #[instrument(skip_all)]
    async fn link(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        body: JsonBody<LinkIdentityRequest>,
    ) -> Result<Reply<LinkUrl, LinkOutcomes>, ApiError> {
        let b = body.0;
        let url = state
            .oidc
            .link_url(&auth.0, &b.provider, &b.redirect_to)
            .await?;
        Ok(Reply::ok("Open the URL in this browser", LinkUrl { url }))
    }

    /// Unlink an identity
    ///
    /// The identity no longer logs in to this account. Refused (409) when
    /// it is the last way to log in: a password, a passkey or another
    /// identity must remain. Another user's identity, or an unknown id, is
    /// 404.
    #[oai(
        path = "/auth/identities/:id/",
        method = "delete",
        operation_id = "unlinkIdentity"
    )]
    #[instrument(skip_all)]
    async fn unlink(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        /// The identity's id, from the list.
        id: Path<uuid::Uuid>,
    ) -> Result<Reply<NoData, UnlinkOutcomes>, ApiError> {
        state.oidc.unlink(&auth.0, id.0).await?;
        Ok(Reply::message("Identity unlinked"))
    }
}

/// An identity as its owner is shown it.
pub(crate) fn identity_view(i: Identity) -> IdentityView {
    IdentityView {
        id: i.id,
        provider: i.provider,
        email: i.email,
        created_at: rfc3339(i.created_at),
    }
}
