//! `ApiError`: the one place where domain errors become HTTP answers.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::registry::{MetaResponses, Registry};

use actors::{DomainError, FieldErrors};

use crate::envelope::{ErrorEnvelope, RetryAfter, phrase};

/// The `Retry-After` of a 503 "busy" (a full hashing queue, a hash or an
/// actor not done in time): the overload is usually seconds long.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;
/// How long a client waits before starting a sign-in again with a provider
/// that could not be reached.
pub const PROVIDER_RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub errors: Option<FieldErrors>,
    pub retry_after: Option<u64>,
    /// A rate limit refused the request (not a lockout): marked on the
    /// response for the metrics.
    pub rate_limited: bool,
}

/// Marks a response as a rate-limit refusal (see `metrics::observe`).
#[derive(Debug, Clone, Copy)]
pub struct RateLimited;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: None,
            retry_after: None,
            rate_limited: false,
        }
    }

    pub fn invalid(errors: FieldErrors) -> Self {
        let message = errors
            .iter()
            .next()
            .and_then(|(field, msgs)| msgs.first().map(|m| format!("{} {m}", field_label(field))))
            .unwrap_or_else(|| "Invalid request".to_owned());
        Self {
            errors: Some(errors),
            ..Self::new(StatusCode::BAD_REQUEST, message)
        }
    }

    /// Marks a rate limit's refusal on its response (poem replaces a
    /// response's extensions with its error's, so the middleware that
    /// turns an error into its response marks it again).
    pub fn mark(&self, resp: &mut Response) {
        if self.rate_limited {
            resp.extensions_mut().insert(RateLimited);
        }
    }

    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            success: false,
            status_code: self.status.as_u16(),
            error: phrase(self.status.as_u16()).to_owned(),
            message: self.message.clone(),
            errors: self.errors.clone(),
            data: self
                .retry_after
                .map(|retry_after| RetryAfter { retry_after }),
        }
    }
}

/// `first_name` -> `First name`, for the top-level message.
fn field_label(field: &str) -> String {
    let spaced = field.replace('_', " ");
    let mut chars = spaced.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Validation(errors) => ApiError::invalid(errors),
            DomainError::EmailTaken => ApiError {
                errors: Some(FieldErrors::from([(
                    "email".to_owned(),
                    vec!["is already registered".to_owned()],
                )])),
                ..ApiError::new(StatusCode::CONFLICT, "Email already registered")
            },
            DomainError::InvalidToken => ApiError {
                errors: Some(FieldErrors::from([(
                    "token".to_owned(),
                    vec!["is invalid or expired".to_owned()],
                )])),
                ..ApiError::new(StatusCode::BAD_REQUEST, "Invalid or expired token")
            },
            DomainError::InvalidCredentials => {
                ApiError::new(StatusCode::UNAUTHORIZED, "Invalid email or password")
            }
            DomainError::WrongPassword => ApiError {
                errors: Some(FieldErrors::from([(
                    "current_password".to_owned(),
                    vec!["is incorrect".to_owned()],
                )])),
                ..ApiError::new(StatusCode::UNAUTHORIZED, "Current password is incorrect")
            },
            DomainError::InvalidCode => ApiError {
                errors: Some(FieldErrors::from([(
                    "code".to_owned(),
                    vec!["is invalid or already used".to_owned()],
                )])),
                ..ApiError::new(StatusCode::UNAUTHORIZED, "Invalid code")
            },
            DomainError::MfaTokenInvalid => ApiError {
                errors: Some(FieldErrors::from([(
                    "mfa_token".to_owned(),
                    vec!["is invalid or expired".to_owned()],
                )])),
                ..ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "Invalid or expired MFA token: log in again",
                )
            },
            DomainError::MfaAlreadyEnabled => {
                ApiError::new(StatusCode::CONFLICT, "2FA is already enabled")
            }
            DomainError::MfaNotPending => ApiError::new(
                StatusCode::BAD_REQUEST,
                "No 2FA setup in progress: call 2fa/enable first",
            ),
            DomainError::MfaNotEnabled => {
                ApiError::new(StatusCode::BAD_REQUEST, "2FA is not enabled")
            }
            DomainError::CodeRequired => ApiError {
                errors: Some(FieldErrors::from([(
                    "totp_code".to_owned(),
                    vec!["is required: two-factor authentication is on".to_owned()],
                )])),
                ..ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "A current TOTP code is required: two-factor authentication is on",
                )
            },
            DomainError::EmailNotVerified => ApiError::new(
                StatusCode::FORBIDDEN,
                "Email not verified: use the link we sent, or ask for a new one",
            ),
            DomainError::Locked { retry_after_secs } => ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many failed attempts: the account is locked for a while",
                )
            },
            DomainError::Unauthorized => {
                ApiError::new(StatusCode::UNAUTHORIZED, "Invalid or expired token")
            }
            DomainError::SessionNotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "Session not found")
            }
            DomainError::ChallengeInvalid => ApiError {
                errors: Some(FieldErrors::from([(
                    "challenge_id".to_owned(),
                    vec!["is invalid, used or expired".to_owned()],
                )])),
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "Invalid or expired challenge: start again",
                )
            },
            DomainError::PasskeyRefused => {
                ApiError::new(StatusCode::UNAUTHORIZED, "Passkey not accepted")
            }
            DomainError::PasskeyNotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "Passkey not found")
            }
            DomainError::PasskeysOff => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Passkeys are not configured on this server",
            ),
            DomainError::RateLimited { retry_after_secs } => ApiError {
                retry_after: Some(retry_after_secs),
                rate_limited: true,
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many requests: slow down",
                )
            },
            DomainError::Busy => ApiError {
                retry_after: Some(BUSY_RETRY_AFTER_SECS),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The server is busy; try again shortly",
                )
            },
            DomainError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is not reachable; try again shortly",
                )
            }
            DomainError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side",
                )
            }
            DomainError::StaleLogin => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Log in again to confirm this: the login must be less than 5 minutes old",
            ),
            DomainError::AccountDisabled => {
                ApiError::new(StatusCode::FORBIDDEN, "Account disabled")
            }
            DomainError::AdminKeyRefused => {
                ApiError::new(StatusCode::UNAUTHORIZED, "Invalid or revoked admin key")
            }
            DomainError::ReadOnlyKey => {
                ApiError::new(StatusCode::FORBIDDEN, "This admin key is read-only")
            }
            DomainError::DeliveryNotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "Webhook delivery not found")
            }
            DomainError::DeliveryNotFailed => ApiError::new(
                StatusCode::CONFLICT,
                "Only a failed delivery can be retried: this one is pending or delivered",
            ),
            DomainError::UserNotFound => ApiError::new(StatusCode::NOT_FOUND, "User not found"),
            DomainError::UserDisabled => ApiError::new(StatusCode::CONFLICT, "Account disabled"),
            DomainError::ProviderNotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "Identity provider not found")
            }
            DomainError::ProviderUnavailable => ApiError {
                retry_after: Some(PROVIDER_RETRY_AFTER_SECS),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The identity provider cannot be reached; try again shortly",
                )
            },
            DomainError::InvalidState => ApiError::new(
                StatusCode::BAD_REQUEST,
                "This sign-in was not started in this browser, or is unknown: start again",
            ),
            DomainError::IdentityNotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "Identity not found")
            }
            DomainError::LastLoginMethod => ApiError::new(
                StatusCode::CONFLICT,
                "This is the account's last way to log in: set a password, add a passkey or link another identity first",
            ),
        }
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let body = serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(&self.envelope()))
            .unwrap_or_default();
        let mut resp = Response::builder()
            .status(self.status)
            .content_type("application/json; charset=utf-8")
            .body(body);
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        self.mark(&mut resp);
        resp
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}

/// Error statuses are documented per operation by `Reply`, so this adds none.
impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses { responses: vec![] }
    }

    fn register(_registry: &mut Registry) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_message_names_the_first_field() {
        let e = ApiError::invalid(FieldErrors::from([(
            "password".to_owned(),
            vec!["must contain an uppercase letter".to_owned()],
        )]));
        assert_eq!(e.message, "Password must contain an uppercase letter");
        assert_eq!(field_label("first_name"), "First name");
    }

    #[test]
    fn internal_errors_say_nothing_internal() {
        let e = ApiError::from(DomainError::Internal(
            "SELECT * FROM users; /src/x.rs".into(),
        ));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("SELECT"));
    }
}
