//! The two JSON envelopes every answer is wrapped in.

use poem_openapi::Object;
use poem_openapi::types::{ParseFromJSON, ToJSON, Type};

use actors::FieldErrors;

/// Every 2xx answer.
#[derive(Object, Debug)]
pub struct SuccessEnvelope<T: Type + ParseFromJSON + ToJSON> {
    /// Always `true`.
    pub success: bool,
    /// The HTTP status code, repeated.
    pub status_code: u16,
    /// A human-readable summary.
    pub message: String,
    /// The result; absent when there is nothing to return.
    #[oai(skip_serializing_if_is_none)]
    pub data: Option<T>,
}

/// Every 4xx and 5xx answer.
#[derive(Object, Debug)]
pub struct ErrorEnvelope {
    /// Always `false`.
    pub success: bool,
    /// The HTTP status code, repeated.
    pub status_code: u16,
    /// A short fixed phrase per status, e.g. `Invalid request`.
    pub error: String,
    /// What went wrong, in a sentence a user can read.
    pub message: String,
    /// Field name -> messages, on validation failures.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<FieldErrors>,
    /// On 429: when to try again.
    #[oai(skip_serializing_if_is_none)]
    pub data: Option<RetryAfter>,
}

/// When a refused request may be tried again.
#[derive(Object, Debug, Clone, Copy)]
pub struct RetryAfter {
    /// Whole seconds to wait (also in the `Retry-After` header).
    pub retry_after: u64,
}

/// The fixed phrase for a status in the error envelope.
pub fn phrase(status: u16) -> &'static str {
    match status {
        400 => "Invalid request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not found",
        405 => "Method not allowed",
        409 => "Conflict",
        413 => "Payload too large",
        415 => "Unsupported media type",
        429 => "Too many requests",
        503 => "Service unavailable",
        500..=599 => "Internal server error",
        _ => "Request failed",
    }
}
