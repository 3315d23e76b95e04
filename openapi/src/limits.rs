//! The edge of the API: each request's [`RequestContext`] is extracted once,
//! and the per-IP rate limit of its operation is counted before the body is
//! read or the caller authenticated, so a malformed or unauthenticated
//! request spends budget too.

mod keys;

pub use keys::{Budget, Limited};

use std::sync::Arc;

use poem::http::Method;
use poem::{Endpoint, IntoResponse, Request, Response};

use actors::DomainError;
use actors::rate_limit::RateLimiter;

use crate::ApiState;
use crate::client;
use crate::error::ApiError;
use crate::routes::Routes;

/// The rate-limited operation a request is for, found by method and path
/// in `routes`: both spellings of a path (with and without the trailing
/// slash) are one operation; anything else is not limited here
/// (verify-token, logout, reads, unknown paths).
pub fn limited(routes: &Routes, method: &Method, path: &str) -> Option<Limited> {
    Limited::of(&routes.operation(method, path)?.id)
}

/// Puts the [`RequestContext`] in the request's extensions, then counts the
/// request against its client's budget for its operation: 429 with
/// `retry_after` when spent.
pub async fn edge<E: Endpoint>(
    next: Arc<E>,
    mut req: Request,
    state: Arc<ApiState>,
    routes: Routes,
) -> poem::Result<Response> {
    let ctx = client::extract(&state.proxies, &req);
    tracing::Span::current().record("ip", tracing::field::display(ctx.ip));
    let ip = ctx.ip;
    req.extensions_mut().insert(ctx);
    if let Some(limited) = limited(&routes, req.method(), req.uri().path()) {
        let endpoint = limited.as_str();
        let limiter: Option<&RateLimiter> = match limited.budget() {
            Budget::Auth => state.limiter.as_ref(),
            Budget::Refresh => state.refresh_limiter.as_ref(),
        };
        if let Some(limiter) = limiter
            && let Err(retry) = limiter.check(endpoint, ip).await
        {
            tracing::info!(%ip, endpoint, "rate limited");
            return Err(ApiError::from(DomainError::RateLimited {
                retry_after_secs: retry.0,
            })
            .into());
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes;

    fn documented() -> Routes {
        Routes::new(routes::documented(&crate::api_service().spec()))
    }

    #[test]
    fn both_spellings_are_one_operation_and_other_methods_none() {
        let routes = documented();
        let limited = |m: Method, p: &str| limited(&routes, &m, p);
        for path in ["/api/v1/auth/login", "/api/v1/auth/login/"] {
            assert_eq!(limited(Method::POST, path), Some(Limited::Login));
        }
        assert_eq!(
            limited(Method::POST, "/api/v1/2fa/enable/"),
            Some(Limited::MfaEnable)
        );
        assert_eq!(
            limited(Method::POST, "/api/v1/auth/token/refresh/"),
            Some(Limited::RefreshToken)
        );
        assert_eq!(
            limited(Method::DELETE, "/api/v1/passkeys/0b6a/"),
            Some(Limited::RemovePasskey)
        );
        assert_eq!(limited(Method::PATCH, "/api/v1/passkeys/0b6a"), None);
        assert_eq!(limited(Method::GET, "/api/v1/auth/login/"), None);
        assert_eq!(limited(Method::GET, "/api/v1/auth/verify-token/"), None);
        assert_eq!(limited(Method::POST, "/api/v1/auth/logout/"), None);
        assert_eq!(limited(Method::POST, "/api/v1/auth/log%69n"), None);
    }

    /// Every documented POST of API.md's limited list that this server
    /// serves is limited, and every `/api/v1/2fa/*` operation is: a new
    /// endpoint under 2fa/ cannot be added without a budget; nor can a
    /// passkey operation that is not a read or a rename.
    #[test]
    fn every_served_auth_and_2fa_operation_has_a_budget() {
        let routes = documented();
        let spec: serde_json::Value = serde_json::from_str(&crate::spec_json()).unwrap_or_default();
        let paths = spec["paths"].as_object().cloned().unwrap_or_default();
        let limited_auth = [
            "register",
            "verify-email",
            "resend-verification",
            "login",
            "mfa/verify",
            "password-reset",
            "password-reset-confirm",
            "change-password",
            "logout-all",
            "token/refresh",
            "change-email",
            "confirm-email-change",
            "revert-email-change",
        ];
        let mut seen = 0;
        for (path, item) in &paths {
            let is_2fa = path.starts_with("/api/v1/2fa/");
            let is_listed = limited_auth
                .iter()
                .any(|p| path == &format!("/api/v1/auth/{p}/"));
            for method in item.as_object().map(|o| o.keys()).into_iter().flatten() {
                let method: Method = method.to_uppercase().parse().unwrap_or(Method::GET);
                let limited = limited(&routes, &method, path).is_some();
                let is_passkey = (path.starts_with("/api/v1/passkeys/")
                    || path.starts_with("/api/v1/auth/passkey/")
                    || path.starts_with("/api/v1/auth/mfa/passkey/"))
                    && (method == Method::POST || method == Method::DELETE);
                let is_alerts_set = path == "/api/v1/auth/alerts/" && method == Method::PUT;
                // Every write to the caller's own account (PATCH, DELETE),
                // and its export.
                let is_own_data = (path == "/api/v1/auth/me/" && method != Method::GET)
                    || path == "/api/v1/auth/me/export/";
                // Every OIDC endpoint, and linking an identity.
                let is_oidc = path.starts_with("/api/v1/auth/oidc/")
                    || path == "/api/v1/auth/identities/link/";
                assert_eq!(
                    limited,
                    is_2fa || is_listed || is_passkey || is_alerts_set || is_own_data || is_oidc,
                    "{method} {path}"
                );
                seen += usize::from(limited);
            }
        }
        assert_eq!(seen, Limited::ALL.len(), "{seen} limited operations found");
    }
}
