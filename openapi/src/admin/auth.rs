//! `AdminKeyAuth`: the security scheme of the admin API. The checker takes
//! `Authorization: Bearer adm_…`; a failed key (a user's token, an unknown
//! or revoked key) spends the client IP's budget of failed keys, and once
//! that is spent every key from the IP, right ones too, gets 429 for the
//! wait (on this node).

use std::sync::Arc;

use poem::Request;
use poem::http::StatusCode;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use actors::DomainError;
use actors::admin::AdminCaller;

use crate::ApiState;
use crate::error::ApiError;

/// The budget key of failed admin keys (per client IP, the auth quota).
const FAILED_KEYS: &str = "admin-key";

/// An admin key from `authd admin create-key`: `Authorization: Bearer adm_…`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "adm_…", checker = "check_admin_key")]
pub struct AdminKeyAuth(pub AdminCaller);

async fn check_admin_key(req: &Request, bearer: Bearer) -> poem::Result<AdminCaller> {
    let state = req.data::<Arc<ApiState>>().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side",
        )
    })?;
    let ip = crate::client::Client::of(req).ip;
    let limited = |retry: actors::rate_limit::RetryAfter| -> poem::Error {
        ApiError::from(DomainError::RateLimited {
            retry_after_secs: retry.0,
        })
        .into()
    };
    if let Some(limiter) = &state.limiter {
        limiter.refused(FAILED_KEYS, ip).map_err(limited)?;
    }
    match state.admin.authenticate(&bearer.token).await {
        Ok(caller) => Ok(caller),
        Err(DomainError::AdminKeyRefused) => {
            tracing::info!(%ip, "admin key refused");
            if let Some(limiter) = &state.limiter {
                limiter.fail(FAILED_KEYS, ip).await.map_err(limited)?;
            }
            Err(ApiError::from(DomainError::AdminKeyRefused).into())
        }
        Err(e) => Err(ApiError::from(e).into()),
    }
}

/// Whether `path` is one of the admin API's (served only on
/// `AUTH_ADMIN_BIND` when that is set; never given CORS headers).
pub fn is_admin_path(path: &str) -> bool {
    path == "/api/v1/admin" || path.starts_with("/api/v1/admin/")
}
