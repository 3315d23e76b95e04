//! The HTTP API: poem-openapi operations (thin: parse, ask the domain, map
//! the answer), the envelopes, the middleware, and the OpenAPI document.

pub mod account_data;
pub mod admin;
pub mod alerts;
pub mod auth;
pub mod body;
pub mod client;
pub mod cors;
pub mod docs;
pub mod email_change;
pub mod envelope;
pub mod error;
pub mod events;
pub mod health;
pub mod identities;
pub mod limits;
pub mod me;
pub mod metrics;
pub mod mfa;
pub mod middleware;
pub mod oidc;
pub mod passkey_login;
pub mod passkeys;
pub mod password;
pub mod probes;
mod redact;
pub mod redirect;
pub mod refresh_cookie;
pub mod reply;
pub mod routes;
pub mod security;
pub mod sessions;
mod spec;
pub mod tags;
pub mod time;
pub mod tokens;
pub mod untrusted_forward;

use std::sync::Arc;

use poem::endpoint::make_sync;
use poem::http::Method;
use poem::middleware::CatchPanic;
use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;

use actors::auth::Auth;
use actors::rate_limit::{RateLimiter, TrustedProxies};
use actors::{AccountData, Accounts, EmailChanges, Mfa, Passkeys, Passwords};

pub use error::ApiError;

/// What the handlers reach through `Data<&Arc<ApiState>>`.
#[derive(Debug)]
pub struct ApiState {
    pub accounts: Accounts,
    pub auth: Auth,
    pub passwords: Passwords,
    pub mfa: Mfa,
    pub passkeys: Passkeys,
    /// Deleting and exporting the caller's account.
    pub account_data: AccountData,
    /// Moving an account to another address and back.
    pub email_changes: EmailChanges,
    /// The admin API: keys checked, users read and changed.
    pub admin: actors::admin::Admin,
    /// Sign-in with other identity providers, and linked identities.
    pub oidc: actors::oidc::Oidc,
    /// Per client IP and endpoint: the auth endpoints
    /// (`AUTH_RATE_LIMIT_PER_MINUTE`); `None`: off (0, for development).
    pub limiter: Option<RateLimiter>,
    /// Per client IP on `token/refresh` (`AUTH_REFRESH_RATE_PER_MINUTE`);
    /// `None`: off.
    pub refresh_limiter: Option<RateLimiter>,
    pub proxies: TrustedProxies,
    /// Origins that get CORS headers (`AUTH_CORS_ORIGINS`).
    pub cors: cors::AllowedOrigins,
    /// Whether refresh tokens also travel as a cookie (`AUTH_REFRESH_COOKIE`).
    pub refresh_cookie: refresh_cookie::RefreshCookie,
    /// `/docs` and `/openapi.json` are served (`AUTH_DOCS`).
    pub docs: bool,
    /// Cancelled when the node starts shutting down: `/readyz` answers 503
    /// from then on, while requests are still served.
    pub draining: tokio_util::sync::CancellationToken,
}

type Apis = (
    auth::AuthApi,
    tokens::TokenApi,
    sessions::SessionsApi,
    events::EventsApi,
    me::MeApi,
    alerts::AlertsApi,
    password::PasswordApi,
    mfa::MfaApi,
    passkeys::PasskeysApi,
    passkey_login::PasskeyLoginApi,
    tokens::KeysApi,
    health::HealthApi,
    email_change::EmailChangeApi,
    admin::AdminApi,
    oidc::OidcApi,
    identities::IdentitiesApi,
);

pub fn api_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            auth::AuthApi,
            tokens::TokenApi,
            sessions::SessionsApi,
            events::EventsApi,
            me::MeApi,
            alerts::AlertsApi,
            password::PasswordApi,
            mfa::MfaApi,
            passkeys::PasskeysApi,
            passkey_login::PasskeyLoginApi,
            tokens::KeysApi,
            health::HealthApi,
            email_change::EmailChangeApi,
            admin::AdminApi,
            oidc::OidcApi,
            identities::IdentitiesApi,
        ),
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
    spec::finish(&api_service().spec())
}

/// The pages outside the OpenAPI document, with their metrics labels.
const PAGES: [(&str, &str); 3] = [
    ("/openapi.json", "openapi_json"),
    ("/docs", "docs"),
    ("/metrics", "metrics"),
];

/// Which of the operations a listener serves: the admin API is on
/// `AUTH_BIND` unless `AUTH_ADMIN_BIND` gives it a listener of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serves {
    /// Everything (no `AUTH_ADMIN_BIND`).
    All,
    /// Everything but the admin API (`AUTH_BIND` beside `AUTH_ADMIN_BIND`).
    AllButAdmin,
    /// The admin API only (`AUTH_ADMIN_BIND`).
    AdminOnly,
}

impl Serves {
    fn serves(self, path: &str) -> bool {
        match self {
            Serves::All => true,
            Serves::AllButAdmin => !admin::is_admin_path(path),
            Serves::AdminOnly => admin::is_admin_path(path),
        }
    }
}

/// 404 for a path this listener does not serve.
async fn only_served<E: Endpoint>(
    next: Arc<E>,
    req: poem::Request,
    serves: Serves,
) -> poem::Result<poem::Response> {
    use poem::IntoResponse;
    if !serves.serves(req.uri().path()) {
        return Err(ApiError::new(poem::http::StatusCode::NOT_FOUND, "Not found").into());
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// The whole HTTP application; `/metrics` is served when `metrics` is
/// given (not when it has a listener of its own), to the scrapes its
/// [`metrics::Access`] lets in.
pub fn app(
    state: Arc<ApiState>,
    metrics: Option<(metrics::Metrics, metrics::Access)>,
    serves: Serves,
) -> impl Endpoint<Output = poem::Response> {
    let service = api_service();
    let raw_spec = service.spec();
    let spec = spec::finish(&raw_spec);
    // Requests are routed on poem-openapi's own (slash-less) paths.
    let mut ops = routes::documented(&raw_spec);
    let docs = state.docs;
    for (page, label) in PAGES {
        let served = match page {
            "/metrics" => metrics.is_some(),
            _ => docs,
        };
        if served {
            ops.push(routes::Operation::new(page, Method::GET, label));
        }
    }
    let table = routes::Routes::new(ops);
    let docs_html = service.swagger_ui_html().replace(&raw_spec, &spec);
    let mut routes = Route::new();
    if let Some((metrics, access)) = metrics {
        routes = routes.at("/metrics", access.guard(metrics.endpoint()));
    }
    if docs {
        routes = routes.at("/docs", docs::page(docs_html)).at(
            "/openapi.json",
            poem::get(make_sync(move |_| {
                poem::Response::builder()
                    .content_type("application/json; charset=utf-8")
                    .body(spec.clone())
            })),
        );
    }
    let routes = routes.nest("/", service);
    let (bearer, limited) = (table.clone(), table.clone());
    let edge_state = state.clone();
    let origins = state.cors.clone();
    let routes = routes
        .data(state)
        .around(move |ep, req| security::bearer_challenge(ep, req, bearer.clone()))
        .around(move |ep, req| only_served(ep, req, serves));
    let inner = inner_middleware(routes, table.clone())
        .around(move |ep, req| limits::edge(ep, req, edge_state.clone(), limited.clone()));
    outer_middleware(inner, origins)
        .around(move |ep, req| metrics::observe(ep, req, table.clone()))
        .boxed()
}

/// The middleware every request goes through, outermost last: slash
/// normalisation (and `Allow` on a 405), the body limit, panic catching,
/// the error envelope, CORS, the headers every `/api` answer carries, and the
/// request id with its span. [`app`] adds the edge (request context and
/// per-IP limits) between the body limit and panic catching, so a request is
/// counted before its body is read.
pub fn with_middleware<E>(
    routes: E,
    table: routes::Routes,
) -> impl Endpoint<Output = poem::Response>
where
    E: Endpoint + 'static,
{
    outer_middleware(
        inner_middleware(routes, table),
        cors::AllowedOrigins::default(),
    )
}

fn inner_middleware<E>(routes: E, table: routes::Routes) -> impl Endpoint<Output = poem::Response>
where
    E: Endpoint + 'static,
{
    routes
        .around(move |ep, req| middleware::normalize_slash(ep, req, table.clone()))
        .around(middleware::body_limit)
        .boxed()
}

fn outer_middleware<E>(
    inner: E,
    origins: cors::AllowedOrigins,
) -> impl Endpoint<Output = poem::Response>
where
    E: Endpoint<Output = poem::Response> + 'static,
{
    // Boxing between the layers keeps the endpoint's type shallow: nested
    // `Around` types overflow rustc's query depth on a clean build.
    inner
        .boxed()
        .with(CatchPanic::new())
        .boxed()
        .around(middleware::envelope)
        .around(move |ep, req| cors::cors(ep, req, origins.clone()))
        .boxed()
        .around(middleware::api_headers)
        .around(middleware::request_id)
        .boxed()
}
