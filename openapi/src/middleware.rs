//! HTTP middleware: request ids and the per-request span, the headers every
//! `/api` answer carries, the error envelope on every non-2xx answer, the
//! 64 KiB body limit and JSON-only bodies, and paths served with and
//! without a trailing slash (with `Allow` on a 405).

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, X_CONTENT_TYPE_OPTIONS};
use poem::http::{HeaderValue, StatusCode, Uri};
use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::{Instrument, debug, info, info_span};

use crate::envelope::phrase;
use crate::error::ApiError;
use crate::routes::Routes;

pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// A client that does not finish sending its body within this is refused.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
const REQUEST_ID: &str = "x-request-id";

/// The request's id, as echoed in `X-Request-Id`; in the request's
/// extensions for the layers inside.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Echoes a sane `X-Request-Id` or makes one; runs the request in a span
/// that carries it (and the client IP, once the edge has worked it out),
/// and logs one line per request (path only, no query; health probes at
/// DEBUG).
pub async fn request_id<E: Endpoint>(next: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let id = req
        .header(REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    // Health probes come every few seconds, and verify-token is asked by
    // other services on every call they get: logged at DEBUG only (a
    // refused verify-token too; its outcome is in authd_http_requests_total).
    let quiet = matches!(
        req.uri().path().trim_end_matches('/'),
        "/healthz" | "/readyz" | "/api/v1/auth/verify-token"
    );
    let span = info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        ip = tracing::field::Empty,
    );
    async move {
        let started = Instant::now();
        let mut resp = match next.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => error_response(e),
        };
        let status = resp.status().as_u16();
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        if quiet {
            debug!(status, elapsed_ms, "request finished");
        } else {
            info!(status, elapsed_ms, "request finished");
        }
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(REQUEST_ID, v);
        }
        Ok(resp)
    }
    .instrument(span)
    .await
}

/// Every answer under `/api` (errors included) may not be stored by a cache
/// (tokens and user data travel in bodies) and may not be sniffed as
/// another type than it says; the second holds for every answer.
pub async fn api_headers<E: Endpoint>(next: Arc<E>, req: Request) -> poem::Result<Response> {
    let path = req.uri().path();
    let api = path == "/api" || path.starts_with("/api/");
    let mut resp = match next.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => error_response(e),
    };
    let headers = resp.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if api {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(resp)
}

/// Every error, from any layer, leaves as the JSON error envelope.
pub async fn envelope<E: Endpoint>(next: Arc<E>, req: Request) -> poem::Result<Response> {
    let resp = match next.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => error_response(e),
    };
    Ok(ensure_envelope(resp))
}

fn error_response(err: poem::Error) -> Response {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        let api = api.clone();
        let mut resp = err.into_response();
        api.mark(&mut resp);
        return resp;
    }
    let status = err.status();
    let message = if status.is_client_error() {
        client_message(status, &err.to_string())
    } else {
        "Something went wrong on our side".to_owned()
    };
    ApiError::new(status, message).into_response()
}

fn client_message(status: StatusCode, detail: &str) -> String {
    match status.as_u16() {
        404 => "No such endpoint".to_owned(),
        405 => "This endpoint does not accept that method".to_owned(),
        413 => format!(
            "The request body is larger than {} KiB",
            MAX_BODY_BYTES / 1024
        ),
        _ if !detail.is_empty() && detail.len() <= 300 => detail.to_owned(),
        _ => phrase(status.as_u16()).to_owned(),
    }
}

/// A response that is an error but not JSON (a framework default) is
/// replaced by the envelope for its status; a 5xx body is never passed on.
fn ensure_envelope(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .content_type()
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let message = if status.is_client_error() {
        client_message(status, "")
    } else {
        "Something went wrong on our side".to_owned()
    };
    let mut out = ApiError::new(status, message).into_response();
    for (name, value) in resp.headers() {
        if name == poem::http::header::RETRY_AFTER || name == poem::http::header::ALLOW {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// Reads the whole body up to 64 KiB before anything else sees it: 413 for
/// more (by `Content-Length` or, for chunked bodies, by counting), 400 for a
/// body that stalls, 415 for a body that is not sent as JSON (whatever the
/// method and path).
pub async fn body_limit<E: Endpoint>(next: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            client_message(StatusCode::PAYLOAD_TOO_LARGE, ""),
        )
    };
    if let Some(len) = req.headers().get(CONTENT_LENGTH) {
        match len.to_str().ok().and_then(|v| v.parse::<u64>().ok()) {
            Some(n) if n > MAX_BODY_BYTES as u64 => return Err(too_large().into()),
            Some(_) => {}
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "Invalid Content-Length header",
                )
                .into());
            }
        }
    }
    let body = req.take_body();
    let bytes = match tokio::time::timeout(BODY_READ_TIMEOUT, body.into_bytes_limit(MAX_BODY_BYTES))
        .await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(poem::error::ReadBodyError::PayloadTooLarge)) => return Err(too_large().into()),
        Ok(Err(_)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "The request body could not be read",
            )
            .into());
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "The request body took too long to arrive",
            )
            .into());
        }
    };
    crate::body::require_json(req.content_type(), &bytes)?;
    req.set_body(bytes);
    next.call(req).await.map(IntoResponse::into_response)
}

/// The documented spelling of `path`, when `path` is the other spelling
/// (with or without the trailing slash) of a served path.
fn canonical(routes: &Routes, path: &str) -> Option<String> {
    if routes.serves(path) {
        return None;
    }
    let other = match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed.to_owned(),
        Some(_) => return None,
        None => format!("{path}/"),
    };
    routes.serves(&other).then_some(other)
}

/// Serves every path of `routes` with and without its trailing slash by
/// rewriting the request to the documented form, and names the methods a
/// path is served for in the `Allow` header of a 405.
pub async fn normalize_slash<E: Endpoint>(
    next: Arc<E>,
    mut req: Request,
    routes: Routes,
) -> poem::Result<Response> {
    if let Some(path) = canonical(&routes, req.uri().path()) {
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        if let Ok(uri) = Uri::builder().path_and_query(path_and_query).build() {
            *req.uri_mut() = uri;
        }
    }
    let allow = routes.allow(req.uri().path());
    let mut resp = match next.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) if e.status() == StatusCode::METHOD_NOT_ALLOWED => e.into_response(),
        Err(e) => return Err(e),
    };
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && !resp.headers().contains_key(ALLOW)
        && let Some(allow) = allow
    {
        resp.headers_mut().insert(ALLOW, allow);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use poem::http::Method;

    use super::*;
    use crate::routes::Operation;

    fn routes(paths: &[&str]) -> Routes {
        Routes::new(paths.iter().map(|p| Operation::new(p, Method::POST, p)))
    }

    #[test]
    fn known_paths_map_both_spellings_to_the_documented_one() {
        let known = routes(&["/api/v1/auth/login/", "/api/v1/2fa/enable"]);
        assert_eq!(
            canonical(&known, "/api/v1/auth/login").as_deref(),
            Some("/api/v1/auth/login/")
        );
        assert_eq!(canonical(&known, "/api/v1/auth/login/"), None);
        assert_eq!(
            canonical(&known, "/api/v1/2fa/enable/").as_deref(),
            Some("/api/v1/2fa/enable")
        );
        assert_eq!(canonical(&known, "/nope/"), None);
        assert_eq!(canonical(&known, "/"), None);
        let templated = routes(&["/api/v1/auth/sessions/{id}"]);
        assert_eq!(
            canonical(&templated, "/api/v1/auth/sessions/0b6a/").as_deref(),
            Some("/api/v1/auth/sessions/0b6a")
        );
        assert_eq!(canonical(&templated, "/api/v1/auth/sessions/0b6a"), None);
        assert_eq!(canonical(&templated, "/api/v1/auth/sessions/a/b/"), None);
        let both = routes(&["/api/v1/auth/sessions", "/api/v1/auth/sessions/{id}"]);
        assert_eq!(
            canonical(&both, "/api/v1/auth/sessions/").as_deref(),
            Some("/api/v1/auth/sessions")
        );
    }
}
