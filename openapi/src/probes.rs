//! `authd worker`'s listener (on `AUTH_METRICS_BIND`): `/healthz`,
//! `/readyz` (the database answers) and `/metrics`, with the same answers
//! as an API node's, so a worker is probed and scraped like one.

use std::time::Duration;

use poem::http::StatusCode;
use poem::web::Json;
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route, get, handler};
use poem_openapi::types::ToJSON;
use sea_orm::DatabaseConnection;

use crate::envelope::SuccessEnvelope;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::reply::NoData;

/// A database slower than this is not ready.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the database answers a ping within [`PROBE_TIMEOUT`]: what
/// `/readyz` asks, on an API node and on a worker.
pub(crate) async fn database_answers(db: &DatabaseConnection) -> bool {
    tokio::time::timeout(PROBE_TIMEOUT, db.ping())
        .await
        .is_ok_and(|r| r.is_ok())
}

/// The worker's three pages.
pub fn worker(metrics: Metrics) -> impl Endpoint<Output = Response> {
    let db = metrics.db.clone();
    Route::new()
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz).data(db))
        .at("/metrics", metrics.endpoint())
        .map_to_response()
}

fn ok(message: &str) -> Response {
    let body = SuccessEnvelope::<NoData> {
        success: true,
        status_code: 200,
        message: message.to_owned(),
        data: None,
    };
    Json(body.to_json()).into_response()
}

#[handler]
fn healthz() -> Response {
    ok("ok")
}

#[handler]
async fn readyz(db: poem::web::Data<&DatabaseConnection>) -> Response {
    if database_answers(&db).await {
        return ok("ready");
    }
    let error = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "The database is not reachable",
    );
    let body = error.envelope();
    (StatusCode::SERVICE_UNAVAILABLE, Json(body.to_json())).into_response()
}
