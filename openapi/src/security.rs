//! `BearerAuth`: the security scheme of every authenticated operation. The
//! checker verifies the access token (signature, claims, revocation, user)
//! and hands the handler the authenticated caller; every 401 of an operation
//! that takes the token carries the Bearer challenge.

use std::sync::Arc;

use poem::http::header::WWW_AUTHENTICATE;
use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use actors::auth::Authenticated;

use crate::ApiState;
use crate::error::ApiError;
use crate::routes::Routes;

/// An access token from login or refresh: `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Authenticated);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Authenticated> {
    let state = req.data::<Arc<ApiState>>().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
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

/// Adds the Bearer challenge (RFC 6750) to a 401 from an operation that
/// takes a Bearer token. Runs inside slash normalisation, so the path is the one
/// poem-openapi routes on.
pub async fn bearer_challenge<E: Endpoint>(
    next: Arc<E>,
    req: Request,
    routes: Routes,
) -> poem::Result<Response> {
    let takes_bearer = routes
        .operation(req.method(), req.uri().path())
        .is_some_and(|op| op.bearer);
    let challenge = |mut resp: Response| {
        if resp.status() == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    };
    match next.call(req).await {
        Ok(resp) if takes_bearer => Ok(challenge(resp.into_response())),
        Err(e) if takes_bearer && e.status() == StatusCode::UNAUTHORIZED => {
            Ok(challenge(e.into_response()))
        }
        other => other.map(IntoResponse::into_response),
    }
}
