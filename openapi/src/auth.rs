//! Registration and email verification endpoints.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use tracing::instrument;

use actors::RegisterInput;
use actors::domain::Email;

use crate::ApiState;
use crate::body::JsonBody;
use crate::client::Client;
use crate::error::ApiError;
use crate::outcomes;
use crate::reply::{NoData, Reply};
use crate::tags::ApiTag;

/// A new account.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// A valid email address (no display name), at most 254 characters
    /// after trimming. Compared case-insensitively: one account per address.
    /// (Limits of trimmed fields are in the text, not in `maxLength`, which
    /// would count the whitespace the server trims away.)
    pub email: String,
    /// 8 to 128 characters with a lowercase letter, an uppercase letter and
    /// a digit; not a commonly used password; not the email address.
    #[oai(write_only, validator(min_length = 8, max_length = 128))]
    pub password: String,
    /// 1 to 100 characters after trimming, no control characters.
    #[oai(validator(min_length = 1))]
    pub first_name: String,
    /// 1 to 100 characters after trimming, no control characters.
    #[oai(validator(min_length = 1))]
    pub last_name: String,
    /// Optional, at most 200 characters after trimming, no control
    /// characters; blank is the same as absent.
    #[oai(nullable)]
    pub company_name: Option<String>,
}

/// The account just created.
#[derive(Object, Debug)]
pub struct RegisteredUser {
    /// The new user's id.
    pub user_id: uuid::Uuid,
}

/// A token from a verification email.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The `token` query parameter of the emailed link.
    #[oai(write_only)]
    pub token: String,
}

/// An email address.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    /// The address the account was registered with (any letter case), at
    /// most 254 characters after trimming.
    pub email: String,
}

/// An address typed in a request: 400 naming `email` when malformed.
pub fn parse_email(raw: &str) -> Result<Email, ApiError> {
    Email::parse(raw)
        .map_err(|m| ApiError::invalid(actors::FieldErrors::from([("email".to_owned(), m)])))
}

outcomes!(RegisterOutcomes: 201, [400, 409, 413, 429, 500, 503]);
outcomes!(VerifyEmailOutcomes: 200, [400, 413, 429, 500, 503]);
outcomes!(ResendOutcomes: 200, [400, 413, 429, 500, 503]);

pub struct AuthApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTag::Auth")]
impl AuthApi {
    /// Register
    ///
    /// Creates an inactive account and emails a verification link to it.
    /// The account cannot log in until the link is used.
    #[oai(path = "/auth/register/", method = "post", operation_id = "register")]
    #[instrument(skip_all)]
    async fn register(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        body: JsonBody<RegisterRequest>,
    ) -> Result<Reply<RegisteredUser, RegisterOutcomes>, ApiError> {
        let b = body.0;
        let input = RegisterInput::parse(
            &b.email,
            &b.password,
            &b.first_name,
            &b.last_name,
            b.company_name.as_deref(),
        )?;
        let user_id = state.accounts.register(input, &client.0).await?;
        Ok(Reply::ok(
            "Registration successful. Check your email to verify your account.",
            RegisteredUser { user_id: user_id.0 },
        ))
    }

    /// Verify email
    ///
    /// Activates the account with the token from the verification email.
    /// Each token works once and expires after 48 hours.
    #[oai(
        path = "/auth/verify-email/",
        method = "post",
        operation_id = "verifyEmail"
    )]
    #[instrument(skip_all)]
    async fn verify_email(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        body: JsonBody<TokenRequest>,
    ) -> Result<Reply<NoData, VerifyEmailOutcomes>, ApiError> {
        state
            .accounts
            .verify_email(&body.0.token, &client.0)
            .await?;
        Ok(Reply::message("Email verified. You can now log in."))
    }

    /// Resend verification email
    ///
    /// Emails a new verification link if the address belongs to an
    /// unverified account; earlier links stop working. The answer is the
    /// same whatever the address.
    #[oai(
        path = "/auth/resend-verification/",
        method = "post",
        operation_id = "resendVerification"
    )]
    #[instrument(skip_all)]
    async fn resend_verification(
        &self,
        state: Data<&Arc<ApiState>>,
        body: JsonBody<EmailRequest>,
    ) -> Result<Reply<NoData, ResendOutcomes>, ApiError> {
        let email = parse_email(&body.0.email)?;
        state.accounts.request_resend(email);
        Ok(Reply::message(
            "If that address belongs to an unverified account, a new verification link is on its way.",
        ))
    }
}
