//! `BearerAuth`: the security scheme of every authenticated operation. The
//! checker verifies the access token (signature, claims, revocation, user)
//! and hands the handler the authenticated caller.

use std::sync::Arc;

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use actors::auth::Authenticated;

use crate::ApiState;
use crate::error::ApiError;

/// An access token from login or refresh: `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Authenticated);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Authenticated> {
    let state = req.data::<Arc<ApiState>>().ok_or_else(|| {
        ApiError::new(
            poem::http::StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side",
        )
    })?;
    let client = crate::client::Client::of(req);
    state
        .auth
        .authenticate(&bearer.token, &client)
        .await
        .map_err(|e| ApiError::from(e).into())
}
