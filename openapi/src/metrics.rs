//! `GET /metrics` (Prometheus text) and the HTTP series: every request is
//! counted and timed under its operation (the OpenAPI operation id, or the
//! page's name), never under its raw path, so random paths cannot add label
//! values; whatever matches no operation is `unknown`. Who may scrape is
//! [`Access`]'s business.

mod access;

pub use access::{Access, is_loopback};

use std::sync::Arc;
use std::time::Instant;

use metrics_exporter_prometheus::PrometheusHandle;
use poem::http::Method;
use poem::{Endpoint, IntoResponse, Request, Response};
use sea_orm::DatabaseConnection;

use crate::error::RateLimited;
use crate::routes::Routes;

/// What `/metrics` renders: the process's recorder, and the database the
/// outbox backlog is read from at each scrape.
#[derive(Clone)]
pub struct Metrics {
    pub handle: PrometheusHandle,
    pub db: DatabaseConnection,
}

impl Metrics {
    /// The `GET /metrics` endpoint.
    pub fn endpoint(self) -> impl Endpoint<Output = Response> {
        poem::get(poem::endpoint::make(move |_| {
            let metrics = self.clone();
            async move { metrics.render().await }
        }))
    }

    async fn render(&self) -> Response {
        use jobs::outbox::Status;
        let gauges = [
            ("authd_email_outbox_backlog", Status::Pending),
            ("authd_email_outbox_failed", Status::Failed),
        ];
        for (gauge, status) in gauges {
            match jobs::outbox::count_with_status(&self.db, status).await {
                #[allow(clippy::cast_precision_loss)]
                Ok(n) => metrics::gauge!(gauge).set(n as f64),
                Err(e) => tracing::warn!(error = %e, gauge, "cannot count outbox rows"),
            }
        }
        let (held, idle) = match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            sea_orm::DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => (0, 0),
        };
        metrics::gauge!("authd_db_pool_connections").set(f64::from(held));
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("authd_db_pool_idle").set(idle as f64);
        Response::builder()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(self.handle.render())
    }
}

/// The label a request is counted under: its operation's id (HEAD as
/// the GET it answers like), or `unknown`.
fn label<'a>(routes: &'a Routes, method: &Method, path: &str) -> &'a str {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    routes
        .operation(method, path)
        .map_or("unknown", |op| op.id.as_str())
}

/// Counts and times each request under its operation and status; a
/// refusal by a rate limit (not a lockout's 429) is also counted as rate
/// limited.
pub async fn observe<E: Endpoint>(
    next: Arc<E>,
    req: Request,
    routes: Routes,
) -> poem::Result<Response> {
    let operation = label(&routes, req.method(), req.uri().path()).to_owned();
    let started = Instant::now();
    let resp = next.call(req).await?.into_response();
    let status = resp.status();
    metrics::counter!(
        "authd_http_requests_total",
        "operation" => operation.clone(),
        "status" => status.as_u16().to_string()
    )
    .increment(1);
    metrics::histogram!("authd_http_request_duration_seconds", "operation" => operation.clone())
        .record(started.elapsed().as_secs_f64());
    if resp.extensions().get::<RateLimited>().is_some() {
        metrics::counter!("authd_rate_limited_total", "operation" => operation).increment(1);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes;

    #[test]
    fn requests_are_labelled_by_operation_never_by_raw_path() {
        let routes = Routes::new(routes::documented(&crate::api_service().spec()));
        let label = |m: Method, p: &str| label(&routes, &m, p);
        assert_eq!(label(Method::POST, "/api/v1/auth/login/"), "login");
        assert_eq!(label(Method::POST, "/api/v1/auth/login"), "login");
        assert_eq!(
            label(Method::DELETE, "/api/v1/auth/sessions/abc/"),
            "endSession"
        );
        assert_eq!(label(Method::HEAD, "/healthz"), "healthz");
        assert_eq!(label(Method::GET, "/api/v1/auth/login"), "unknown");
        assert_eq!(label(Method::GET, "/x9f8e7"), "unknown");
        assert_eq!(label(Method::GET, "/"), "unknown");
    }
}
