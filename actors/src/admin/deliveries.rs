//! Webhook deliveries as an admin sees them: listed (newest first, by
//! status), and a failed one sent again by hand. The rows and every write
//! to them are `jobs::webhooks::deliveries`'; this only reads a page and
//! asks for the retry. A retry is an operator's act on the outbox, not a
//! change of an account: it is logged with the key's name, and records no
//! security event of any user.

use jobs::webhooks::{Delivery, Endpoint, Status, deliveries};
use tracing::instrument;
use uuid::Uuid;

use super::{Admin, AdminCaller, UserCursor};
use crate::DomainError;
use crate::domain::page;

/// Where a page of deliveries starts: strictly older than this row, by
/// (`created_at`, `id`), the same position a page of users uses.
pub type DeliveryCursor = UserCursor;

/// A delivery as an admin sees it: never its body or signature.
#[derive(Debug, Clone)]
pub struct AdminDelivery {
    pub id: Uuid,
    /// The event type's name (`user.created` ...).
    pub event_type: String,
    /// The `webhook-id` every attempt carries.
    pub webhook_id: String,
    pub status: Status,
    /// Attempts since it was queued (or since it was last retried by hand).
    pub attempts: i32,
    pub last_attempt_at: Option<i64>,
    /// The receiver's HTTP status at the last attempt (`None`: no answer).
    pub last_response_status: Option<i32>,
    /// The endpoint's URL without its query (`None`: the endpoint is no
    /// longer configured).
    pub endpoint: Option<String>,
}

/// One of `pending`, `delivered`, `failed`.
pub fn parse_delivery_status(text: &str) -> Result<Status, DomainError> {
    match text {
        "pending" => Ok(Status::Pending),
        "delivered" => Ok(Status::Delivered),
        "failed" => Ok(Status::Failed),
        _ => Err(DomainError::field(
            "status",
            "must be one of pending, delivered, failed",
        )),
    }
}

impl Admin {
    /// Up to `limit` deliveries (of `status` if given), newest first, and
    /// the cursor of the next page (`None` at the end).
    #[instrument(skip_all, err(level = "info", Display))]
    pub async fn deliveries(
        &self,
        status: Option<Status>,
        cursor: Option<DeliveryCursor>,
        limit: u64,
    ) -> Result<(Vec<AdminDelivery>, Option<DeliveryCursor>), DomainError> {
        let after = cursor.map(|c| (c.created_at, c.id));
        let rows = deliveries::page(&self.db, status, after, limit + 1).await?;
        let (rows, next) = page::cut(rows, limit, |d| DeliveryCursor {
            created_at: d.created_at,
            id: d.id,
        });
        Ok((rows.into_iter().map(|d| self.view(d)).collect(), next))
    }

    /// Sends a failed delivery again, now, with the whole schedule ahead
    /// of it: `DeliveryNotFound` for an unknown id, `DeliveryNotFailed`
    /// for a pending or delivered one (and for all but one of admins
    /// retrying it at once).
    #[instrument(skip_all, fields(%id, admin = %caller.name), err(level = "info", Display))]
    pub async fn retry_delivery(
        &self,
        caller: &AdminCaller,
        id: Uuid,
    ) -> Result<AdminDelivery, DomainError> {
        caller.may_write()?;
        let now_ms = self.clock.now_ms();
        let Some(row) = deliveries::retry_failed(&self.db, id, now_ms).await? else {
            return match deliveries::get(&self.db, id).await? {
                Some(_) => Err(DomainError::DeliveryNotFailed),
                None => Err(DomainError::DeliveryNotFound),
            };
        };
        self.after.webhooks.wake();
        tracing::info!(webhook_id = %row.webhook_id, r#type = %row.r#type,
            "webhook delivery retried by an admin");
        Ok(self.view(row))
    }

    fn view(&self, d: Delivery) -> AdminDelivery {
        let endpoint = self
            .after
            .webhooks
            .endpoints()
            .iter()
            .find(|e| e.key() == d.endpoint)
            .map(Endpoint::shown_url);
        AdminDelivery {
            id: d.id,
            event_type: d.r#type,
            webhook_id: d.webhook_id,
            status: d.status,
            attempts: d.attempts,
            last_attempt_at: d.last_attempt_at,
            last_response_status: d.last_response_status,
            endpoint,
        }
    }
}
