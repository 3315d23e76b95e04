//! What the admin API gives about webhook deliveries: one delivery (never
//! its body or signature), a page of them, and the retried one.

use poem_openapi::Object;

use actors::admin::AdminDelivery;
use jobs::webhooks::Status;

use crate::error::ApiError;
use crate::time::rfc3339_ms;

/// One webhook event for one endpoint, and how its sending went.
#[derive(Object, Debug)]
pub struct DeliveryView {
    /// The delivery's id (what `retry` takes).
    pub id: String,
    /// The event type (`user.created` ...).
    #[oai(rename = "type")]
    pub event_type: String,
    /// The `webhook-id` header of every attempt (the same on a retry by
    /// hand): what a receiver deduplicates on.
    pub webhook_id: String,
    /// `pending` (to be sent, or waiting for its next attempt),
    /// `delivered` (answered 2xx) or `failed` (refused through the whole
    /// schedule).
    pub status: String,
    /// Attempts so far (counted again from 0 after a retry by hand).
    pub attempts: i32,
    /// When the last attempt started (RFC 3339), if any was made.
    #[oai(nullable)]
    pub last_attempt_at: Option<String>,
    /// The receiver's HTTP status at the last attempt; null when none was
    /// made or the receiver did not answer (refused, timed out).
    #[oai(nullable)]
    pub last_response_status: Option<i32>,
    /// The endpoint's URL without its query or fragment (which may carry
    /// a receiver's token); null when the endpoint is no longer
    /// configured.
    #[oai(nullable)]
    pub endpoint: Option<String>,
}

impl From<AdminDelivery> for DeliveryView {
    fn from(d: AdminDelivery) -> Self {
        let status = match d.status {
            Status::Pending => "pending",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
        };
        Self {
            id: d.id.to_string(),
            event_type: d.event_type,
            webhook_id: d.webhook_id,
            status: status.to_owned(),
            attempts: d.attempts,
            last_attempt_at: d.last_attempt_at.map(rfc3339_ms),
            last_response_status: d.last_response_status,
            endpoint: d.endpoint,
        }
    }
}

/// A page of deliveries.
#[derive(Object, Debug)]
pub struct DeliveryPage {
    /// Newest first.
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; null at the end.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// One delivery.
#[derive(Object, Debug)]
pub struct DeliveryData {
    /// The delivery as it is now.
    pub delivery: DeliveryView,
}

/// A delivery id from the path: one that is not a UUID names no delivery
/// (404).
pub(crate) fn delivery_id(id: &str) -> Result<uuid::Uuid, ApiError> {
    id.parse::<uuid::Uuid>()
        .map_err(|_| ApiError::from(actors::DomainError::DeliveryNotFound))
}
