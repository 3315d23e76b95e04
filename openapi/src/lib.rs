//! The HTTP API: poem-openapi operations (thin: parse, ask the domain, map
//! the answer), the envelopes, the middleware, and the OpenAPI document.

pub mod auth;
pub mod body;
pub mod envelope;
pub mod error;
pub mod health;
pub mod middleware;
pub mod reply;

use std::sync::Arc;

use poem::middleware::CatchPanic;
use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;

use actors::Accounts;
use jobs::Queue;

pub use error::ApiError;

/// What the handlers reach through `Data<&Arc<ApiState>>`.
#[derive(Debug)]
pub struct ApiState {
    pub accounts: Accounts,
    /// Checked by `/readyz` (set when the queue is an external service).
    pub readiness_queue: Option<Queue>,
}

type Apis = (auth::AuthApi, health::HealthApi);

pub fn api_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (auth::AuthApi, health::HealthApi),
        "authd",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Authentication server. Every answer is a JSON envelope: \
         `{success, status_code, message, data}` on success, \
         `{success, status_code, error, message, errors?}` on failure. \
         Every path is served with and without a trailing slash.",
    )
}

/// The OpenAPI document, as committed in `openapi/openapi.json`.
pub fn spec_json() -> String {
    api_service().spec()
}

fn documented_paths(spec: &str) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(spec)
        .ok()
        .and_then(|v| {
            v.get("paths")
                .and_then(|p| p.as_object())
                .map(|o| o.keys().cloned().collect())
        })
        .unwrap_or_default()
}

/// The whole HTTP application.
pub fn app(state: Arc<ApiState>) -> impl Endpoint<Output = poem::Response> {
    let service = api_service();
    let mut paths = documented_paths(&service.spec());
    paths.extend(["/openapi.json".to_owned(), "/docs".to_owned()]);
    let known = middleware::KnownPaths::new(paths);
    let routes = Route::new()
        .nest("/docs", service.swagger_ui())
        .at("/openapi.json", service.spec_endpoint())
        .nest("/", service);
    routes
        .data(state)
        .around(move |ep, req| middleware::normalize_slash(ep, req, known.clone()))
        .around(middleware::body_limit)
        .with(CatchPanic::new())
        .around(middleware::envelope)
        .around(middleware::request_id)
}
