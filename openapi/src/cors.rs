//! CORS for browser apps on other origins (`AUTH_CORS_ORIGINS`): exact
//! origins only, credentials allowed. A listed origin gets its preflight
//! answered here and its answers marked readable; an origin not listed gets
//! nothing (no CORS headers, its request handled as any other), so a
//! same-origin caller such as `/docs` never needs to be listed. Written by
//! hand because poem's `Cors` refuses every request from an origin it does
//! not list.

use std::collections::HashSet;
use std::sync::Arc;

use poem::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use poem::http::{HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};

/// Every method an operation is served with (a unit test holds this to
/// the OpenAPI document): a browser app renames a passkey with PATCH and
/// sets its alerts with PUT.
const METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const HEADERS: &str = "authorization, content-type, x-requested-with, x-request-id";
const EXPOSED: &str = "x-request-id, retry-after, www-authenticate";
const MAX_AGE_SECS: &str = "600";

/// The origins that may call from a browser; empty: CORS off.
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins(Arc<HashSet<String>>);

impl AllowedOrigins {
    pub fn new(origins: impl IntoIterator<Item = String>) -> Self {
        Self(Arc::new(origins.into_iter().collect()))
    }

    pub fn allows(&self, origin: &str) -> bool {
        self.0.contains(origin)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Answers preflights of listed origins and marks their answers readable.
pub async fn cors<E: Endpoint>(
    next: Arc<E>,
    req: Request,
    allowed: AllowedOrigins,
) -> poem::Result<Response> {
    // The admin API is never for browsers: no CORS headers at all.
    if allowed.is_empty() || crate::admin::is_admin_path(req.uri().path()) {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let origin = req
        .headers()
        .get(ORIGIN)
        .filter(|o| o.to_str().is_ok_and(|o| allowed.allows(o)))
        .cloned();
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = match (&origin, preflight) {
        (Some(_), true) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            let h = r.headers_mut();
            h.insert(
                ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(METHODS),
            );
            h.insert(
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(HEADERS),
            );
            h.insert(
                ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE_SECS),
            );
            r
        }
        _ => match next.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        },
    };
    let h = resp.headers_mut();
    h.append(VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if !preflight {
            h.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED),
            );
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflights_allow_every_method_of_the_openapi_document() {
        let allowed: Vec<&str> = METHODS.split(", ").collect();
        let mut seen = 0;
        for op in crate::routes::documented(&crate::api_service().spec()) {
            let method = op.method.as_str();
            assert!(allowed.contains(&method), "{method} not in {METHODS}");
            seen += 1;
        }
        assert!(seen > 20, "{seen} operations");
    }
}
