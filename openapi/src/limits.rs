//! The edge of the API: each request's [`RequestContext`] is extracted once,
//! and the per-IP rate limit of its operation is counted before the body is
//! read or the caller authenticated, so a malformed or unauthenticated
//! request spends budget too.

use std::sync::Arc;

use poem::http::Method;
use poem::{Endpoint, IntoResponse, Request, Response};

use actors::DomainError;
use actors::rate_limit::RateLimiter;

use crate::ApiState;
use crate::client;
use crate::error::ApiError;

/// Which per-IP budget an operation spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// `AUTH_RATE_LIMIT_PER_MINUTE`: the auth endpoints of API.md.
    Auth,
    /// `AUTH_REFRESH_RATE_PER_MINUTE`: `token/refresh`.
    Refresh,
}

/// The rate-limited operation a request is for: its endpoint name (the
/// budget key) and which budget. Both spellings of a path (with and without
/// the trailing slash) are one operation; anything else is not limited
/// here (verify-token, logout, reads, unknown paths).
pub fn operation(method: &Method, path: &str) -> Option<(&'static str, Budget)> {
    let path = path.strip_suffix('/').unwrap_or(path);
    // Removing a passkey checks the password.
    if method == Method::DELETE && path.starts_with("/api/v1/passkeys/") {
        return Some(("passkey-delete", Budget::Auth));
    }
    // Turning an alert off checks the password.
    if method == Method::PUT && path == "/api/v1/auth/alerts" {
        return Some(("alerts-set", Budget::Auth));
    }
    if method != Method::POST {
        return None;
    }
    let name = match path {
        "/api/v1/auth/register" => "register",
        "/api/v1/auth/verify-email" => "verify-email",
        "/api/v1/auth/resend-verification" => "resend-verification",
        "/api/v1/auth/login" => "login",
        "/api/v1/auth/mfa/verify" => "mfa-verify",
        "/api/v1/auth/password-reset" => "password-reset",
        "/api/v1/auth/password-reset-confirm" => "password-reset-confirm",
        "/api/v1/auth/change-password" => "change-password",
        "/api/v1/auth/logout-all" => "logout-all",
        "/api/v1/2fa/enable" => "2fa-enable",
        "/api/v1/2fa/verify" => "2fa-verify",
        "/api/v1/2fa/disable" => "2fa-disable",
        "/api/v1/2fa/backup-codes" => "2fa-backup-codes",
        "/api/v1/2fa/recover" => "2fa-recover",
        "/api/v1/passkeys/register/start" => "passkey-register-start",
        "/api/v1/passkeys/register/finish" => "passkey-register-finish",
        "/api/v1/auth/passkey/start" => "passkey-login-start",
        "/api/v1/auth/passkey/finish" => "passkey-login-finish",
        "/api/v1/auth/mfa/passkey/start" => "mfa-passkey-start",
        "/api/v1/auth/mfa/passkey/finish" => "mfa-passkey-finish",
        "/api/v1/auth/token/refresh" => return Some(("token-refresh", Budget::Refresh)),
        _ => return None,
    };
    Some((name, Budget::Auth))
}

/// Puts the [`RequestContext`] in the request's extensions, then counts the
/// request against its client's budget for its operation: 429 with
/// `retry_after` when spent.
pub async fn edge<E: Endpoint>(
    next: Arc<E>,
    mut req: Request,
    state: Arc<ApiState>,
) -> poem::Result<Response> {
    let ctx = client::extract(&state.proxies, &req);
    tracing::Span::current().record("ip", tracing::field::display(ctx.ip));
    let ip = ctx.ip;
    req.extensions_mut().insert(ctx);
    if let Some((endpoint, budget)) = operation(req.method(), req.uri().path()) {
        let limiter: Option<&RateLimiter> = match budget {
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

    #[test]
    fn both_spellings_are_one_operation_and_other_methods_none() {
        for path in ["/api/v1/auth/login", "/api/v1/auth/login/"] {
            assert_eq!(
                operation(&Method::POST, path),
                Some(("login", Budget::Auth))
            );
        }
        assert_eq!(
            operation(&Method::POST, "/api/v1/2fa/enable/"),
            Some(("2fa-enable", Budget::Auth))
        );
        assert_eq!(
            operation(&Method::POST, "/api/v1/auth/token/refresh/"),
            Some(("token-refresh", Budget::Refresh))
        );
        assert_eq!(operation(&Method::GET, "/api/v1/auth/login/"), None);
        assert_eq!(operation(&Method::GET, "/api/v1/auth/verify-token/"), None);
        assert_eq!(operation(&Method::POST, "/api/v1/auth/logout/"), None);
        assert_eq!(operation(&Method::POST, "/api/v1/auth/log%69n"), None);
    }

    /// Every documented POST of API.md's limited list that this server
    /// serves is limited, and every `/api/v1/2fa/*` operation is: a new
    /// endpoint under 2fa/ cannot be added without a budget; nor can a
    /// passkey operation that is not a read or a rename.
    #[test]
    fn every_served_auth_and_2fa_operation_has_a_budget() {
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
        ];
        let mut seen = 0;
        for (path, item) in &paths {
            let is_2fa = path.starts_with("/api/v1/2fa/");
            let is_listed = limited_auth
                .iter()
                .any(|p| path == &format!("/api/v1/auth/{p}/"));
            for method in item.as_object().map(|o| o.keys()).into_iter().flatten() {
                let method: Method = method.to_uppercase().parse().unwrap_or(Method::GET);
                let limited = operation(&method, path).is_some();
                let is_passkey = (path.starts_with("/api/v1/passkeys/")
                    || path.starts_with("/api/v1/auth/passkey/")
                    || path.starts_with("/api/v1/auth/mfa/passkey/"))
                    && (method == Method::POST || method == Method::DELETE);
                let is_alerts_set = path == "/api/v1/auth/alerts/" && method == Method::PUT;
                assert_eq!(
                    limited,
                    is_2fa || is_listed || is_passkey || is_alerts_set,
                    "{method} {path}"
                );
                seen += usize::from(limited);
            }
        }
        assert!(seen >= 14, "{seen} limited operations found");
    }
}
