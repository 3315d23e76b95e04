//! Signed webhooks (Standard Webhooks 1.0): the configured endpoints, the
//! `webhook_deliveries` outbox written in the transaction of the change it
//! reports, and the sender that POSTs due rows with leases and retries
//! them on Standard Webhooks' schedule.

pub mod deliveries;
pub mod endpoint;
pub mod entity;
pub mod schedule;
pub mod sender;
pub mod sign;

use std::sync::Arc;

use sea_orm::ConnectionTrait;
use serde::Serialize;
use tokio::sync::Notify;
use uuid::Uuid;

pub use endpoint::{Endpoint, EventType, Subscription, WebhookSecret};
pub use entity::{Model as Delivery, Status};
pub use sender::{Sender, WebhookTuning};

use crate::JobsError;

/// The configured endpoints and the sender's wake-up: what a change needs
/// to queue an event, and what the sender reads to send it.
#[derive(Debug, Clone, Default)]
pub struct Webhooks {
    endpoints: Arc<Vec<Endpoint>>,
    wake: Arc<Notify>,
}

impl Webhooks {
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        Self {
            endpoints: Arc::new(endpoints),
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// Whether any endpoint takes `event`: when none does, a change writes
    /// nothing for it (not even a statement).
    pub fn wanted(&self, event: EventType) -> bool {
        self.endpoints.iter().any(|e| e.takes(event))
    }

    /// Pokes the sender after a commit that queued an event.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn woken(&self) -> &Notify {
        &self.wake
    }
}

/// The body of every webhook: `{"type", "timestamp", "data"}`.
#[derive(Debug, Serialize)]
struct Body<'a, U: Serialize> {
    r#type: &'a str,
    /// When the change happened (RFC 3339, UTC, milliseconds).
    timestamp: String,
    data: Data<'a, U>,
}

#[derive(Debug, Serialize)]
struct Data<'a, U: Serialize> {
    user_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a U>,
}

/// Writes one delivery row per endpoint that takes `event`, on `conn` (the
/// change's transaction), all with one `webhook-id`. `user` is the user
/// object (`None` for `user.deleted`). Whether any row was written (the
/// caller then wakes the sender after its commit).
pub async fn queue<C: ConnectionTrait, U: Serialize>(
    conn: &C,
    webhooks: &Webhooks,
    event: EventType,
    user_id: Uuid,
    user: Option<&U>,
    now_ms: i64,
) -> Result<bool, JobsError> {
    let endpoints: Vec<&Endpoint> = webhooks
        .endpoints
        .iter()
        .filter(|e| e.takes(event))
        .collect();
    if endpoints.is_empty() {
        return Ok(false);
    }
    let body = Body {
        r#type: event.as_str(),
        timestamp: rfc3339_ms(now_ms),
        data: Data { user_id, user },
    };
    let payload = serde_json::to_string(&body).map_err(|e| JobsError::Template(e.to_string()))?;
    let webhook_id = format!("msg_{}", Uuid::now_v7().simple());
    for endpoint in endpoints {
        let row = deliveries::NewDelivery {
            endpoint: endpoint.key(),
            webhook_id: &webhook_id,
            event_type: event.as_str(),
            user_id: Some(user_id),
            payload: &payload,
        };
        deliveries::insert(conn, row, now_ms).await?;
    }
    Ok(true)
}

/// `ms` (Unix milliseconds) as RFC 3339 with milliseconds, UTC.
fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
