//! Liveness and readiness.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::OpenApi;

use crate::ApiState;
use crate::error::ApiError;
use crate::outcomes;
use crate::reply::{NoData, Reply};
use crate::tags::ApiTag;

outcomes!(HealthOutcomes: 200, []);
outcomes!(ReadyOutcomes: 200, [503]);

pub struct HealthApi;

#[OpenApi(tag = "ApiTag::Health")]
impl HealthApi {
    /// Liveness
    ///
    /// 200 while the process is up.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Reply<NoData, HealthOutcomes> {
        Reply::message("ok")
    }

    /// Readiness
    ///
    /// 200 when the database answers; 503 otherwise, and from the moment
    /// the node starts shutting down. Redis is not asked:
    /// every request is served without it (see `authd_redis_up`).
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(
        &self,
        state: Data<&Arc<ApiState>>,
    ) -> Result<Reply<NoData, ReadyOutcomes>, ApiError> {
        let unavailable = |what: &str| {
            ApiError::new(
                poem::http::StatusCode::SERVICE_UNAVAILABLE,
                format!("The {what} is not reachable"),
            )
        };
        if state.draining.is_cancelled() {
            return Err(ApiError::new(
                poem::http::StatusCode::SERVICE_UNAVAILABLE,
                "The node is shutting down",
            ));
        }
        if !crate::probes::database_answers(&state.accounts.db).await {
            return Err(unavailable("database"));
        }
        Ok(Reply::message("ready"))
    }
}
