//! HTTP middleware: request ids and the per-request span, the headers every
//! `/api` answer carries, the error envelope on every non-2xx answer, the
//! 64 KiB body limit and JSON-only bodies, and paths served with and
//! without a trailing slash (with `Allow` on a 405).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, X_CONTENT_TYPE_OPTIONS};
use poem::http::{HeaderValue, Method, StatusCode, Uri};
use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::{Instrument, debug, info, info_span};

use crate::envelope::phrase;
use crate::error::ApiError;

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
    // Health probes come every few seconds: logged at DEBUG only.
    let probe = matches!(req.uri().path(), "/healthz" | "/readyz");
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
        if probe {
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

/// Serves every known path with and without its trailing slash by rewriting
/// the request to the documented form, and names the methods a path is
/// served for in the `Allow` header of a 405.
#[derive(Clone)]
pub struct KnownPaths(Arc<HashMap<String, HeaderValue>>);

impl KnownPaths {
    /// Paths whose methods are not known: a 405 on them has no `Allow`.
    pub fn new(paths: impl IntoIterator<Item = String>) -> Self {
        Self::with_methods(paths.into_iter().map(|p| (p, Vec::new())))
    }

    /// Paths (`{name}` matches one segment) and the methods each is served for.
    pub fn with_methods(paths: impl IntoIterator<Item = (String, Vec<Method>)>) -> Self {
        let paths = paths
            .into_iter()
            .map(|(path, methods)| {
                let allow = methods
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                let allow = HeaderValue::from_str(&allow).unwrap_or(HeaderValue::from_static(""));
                (path, allow)
            })
            .collect();
        Self(Arc::new(paths))
    }

    fn canonical(&self, path: &str) -> Option<String> {
        if self.serves(path) {
            return None;
        }
        let other = match path.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() => trimmed.to_owned(),
            Some(_) => return None,
            None => format!("{path}/"),
        };
        self.serves(&other).then_some(other)
    }

    /// Whether `path` is a known path, or matches a known template.
    fn serves(&self, path: &str) -> bool {
        self.0.contains_key(path)
            || self
                .0
                .keys()
                .any(|known| known.contains('{') && same_template(known, path))
    }

    /// The `Allow` value for `path`, in either spelling.
    fn allow(&self, path: &str) -> Option<HeaderValue> {
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let found = self.0.get(path).or_else(|| {
            self.0.iter().find_map(|(known, allow)| {
                let known = known.strip_suffix('/').unwrap_or(known);
                same_template(known, trimmed).then_some(allow)
            })
        })?;
        (!found.is_empty()).then(|| found.clone())
    }
}

/// Whether `path` matches `template`, where a `{name}` segment matches any
/// one non-empty segment.
pub(crate) fn same_template(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(a), Some(b))
                if a == b || (!b.is_empty() && a.starts_with('{') && a.ends_with('}')) => {}
            _ => return false,
        }
    }
}

pub async fn normalize_slash<E: Endpoint>(
    next: Arc<E>,
    mut req: Request,
    known: KnownPaths,
) -> poem::Result<Response> {
    if let Some(path) = known.canonical(req.uri().path()) {
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        if let Ok(uri) = Uri::builder().path_and_query(path_and_query).build() {
            *req.uri_mut() = uri;
        }
    }
    let allow = known.allow(req.uri().path());
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
    use super::*;

    #[test]
    fn known_paths_map_both_spellings_to_the_documented_one() {
        let known = KnownPaths::new([
            "/api/v1/auth/login/".to_owned(),
            "/api/v1/2fa/enable".to_owned(),
        ]);
        assert_eq!(
            known.canonical("/api/v1/auth/login").as_deref(),
            Some("/api/v1/auth/login/")
        );
        assert_eq!(known.canonical("/api/v1/auth/login/"), None);
        assert_eq!(
            known.canonical("/api/v1/2fa/enable/").as_deref(),
            Some("/api/v1/2fa/enable")
        );
        assert_eq!(known.canonical("/nope/"), None);
        assert_eq!(known.canonical("/"), None);
        let templated = KnownPaths::new(["/api/v1/auth/sessions/{id}".to_owned()]);
        assert_eq!(
            templated
                .canonical("/api/v1/auth/sessions/0b6a/")
                .as_deref(),
            Some("/api/v1/auth/sessions/0b6a")
        );
        assert_eq!(templated.canonical("/api/v1/auth/sessions/0b6a"), None);
        assert_eq!(templated.canonical("/api/v1/auth/sessions/a/b/"), None);
        let both = KnownPaths::new([
            "/api/v1/auth/sessions".to_owned(),
            "/api/v1/auth/sessions/{id}".to_owned(),
        ]);
        assert_eq!(
            both.canonical("/api/v1/auth/sessions/").as_deref(),
            Some("/api/v1/auth/sessions")
        );
    }

    #[test]
    fn allow_names_the_methods_of_a_path_in_either_spelling_and_with_parameters() {
        let known = KnownPaths::with_methods([
            ("/api/v1/auth/login".to_owned(), vec![Method::POST]),
            ("/healthz".to_owned(), vec![Method::GET, Method::HEAD]),
            (
                "/api/v1/auth/sessions/{id}".to_owned(),
                vec![Method::DELETE],
            ),
        ]);
        let allow = |p: &str| known.allow(p).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(allow("/api/v1/auth/login").as_deref(), Some("POST"));
        assert_eq!(allow("/api/v1/auth/login/").as_deref(), Some("POST"));
        assert_eq!(allow("/healthz").as_deref(), Some("GET, HEAD"));
        assert_eq!(
            allow("/api/v1/auth/sessions/0b6a/").as_deref(),
            Some("DELETE")
        );
        assert_eq!(allow("/api/v1/auth/sessions"), None);
        assert_eq!(allow("/nope"), None);
        assert_eq!(KnownPaths::new(["/boom".to_owned()]).allow("/boom"), None);
    }
}
