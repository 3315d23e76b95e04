//! Password reset by email and password change.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use tracing::instrument;

use crate::ApiState;
use crate::auth::{EmailRequest, parse_email};
use crate::body::JsonBody;
use crate::client::Client;
use crate::error::ApiError;
use crate::outcomes;
use crate::reply::{NoData, Reply};
use crate::security::BearerAuth;
use crate::tags::ApiTag;

/// A reset token from the email and the new password.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmRequest {
    /// The `token` query parameter of the emailed link; works once, for
    /// 24 hours, and only the newest one requested.
    #[oai(write_only)]
    pub token: String,
    /// 8 to 128 characters with a lowercase letter, an uppercase letter and
    /// a digit; not a commonly used password; not the email address; not the
    /// current password.
    #[oai(write_only, validator(min_length = 8, max_length = 128))]
    pub new_password: String,
}

/// The current password and the new one.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The account's password now; a wrong one counts toward the lockout.
    #[oai(write_only)]
    pub current_password: String,
    /// 8 to 128 characters with a lowercase letter, an uppercase letter and
    /// a digit; not a commonly used password; not the email address; not the
    /// current password.
    #[oai(write_only, validator(min_length = 8, max_length = 128))]
    pub new_password: String,
}

outcomes!(ResetOutcomes: 200, [400, 413, 429, 500, 503]);
outcomes!(ResetConfirmOutcomes: 200, [400, 413, 429, 500, 503]);
outcomes!(ChangePasswordOutcomes: 200, [400, 401, 403, 413, 429, 500, 503]);

pub struct PasswordApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTag::Auth")]
impl PasswordApi {
    /// Request a password reset
    ///
    /// Emails a reset link to the account with this address, if there is
    /// one; earlier reset links stop working. The answer is the same, in the
    /// same time, whatever the address.
    #[oai(
        path = "/auth/password-reset/",
        method = "post",
        operation_id = "passwordReset"
    )]
    #[instrument(skip_all)]
    async fn password_reset(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        body: JsonBody<EmailRequest>,
    ) -> Result<Reply<NoData, ResetOutcomes>, ApiError> {
        let email = parse_email(&body.0.email)?;
        state.passwords.request_reset(email, &client.0);
        Ok(Reply::message(
            "If that address belongs to an account, a password reset link is on its way.",
        ))
    }

    /// Set a new password with a reset token
    ///
    /// Sets the password, marks the email verified, clears a lockout, and
    /// signs the account out everywhere: every refresh token and every
    /// access token issued before now stops working.
    #[oai(
        path = "/auth/password-reset-confirm/",
        method = "post",
        operation_id = "passwordResetConfirm"
    )]
    #[instrument(skip_all)]
    async fn password_reset_confirm(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        body: JsonBody<ResetConfirmRequest>,
    ) -> Result<Reply<NoData, ResetConfirmOutcomes>, ApiError> {
        let b = body.0;
        state
            .passwords
            .confirm_reset(&b.token, &b.new_password, &client.0)
            .await?;
        Ok(Reply::message(
            "Password has been reset. You can now log in with the new password.",
        ))
    }

    /// Change password
    ///
    /// Changes the caller's password. A wrong current password gets 401 and
    /// counts as a failed attempt toward the lockout. Every other session of
    /// the user is signed out; this one stays valid.
    #[oai(
        path = "/auth/change-password/",
        method = "post",
        operation_id = "changePassword"
    )]
    #[instrument(skip_all)]
    async fn change_password(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        body: JsonBody<ChangePasswordRequest>,
    ) -> Result<Reply<NoData, ChangePasswordOutcomes>, ApiError> {
        let b = body.0;
        state
            .passwords
            .change(&auth.0, &b.current_password, &b.new_password)
            .await?;
        Ok(Reply::message(
            "Password changed. Other sessions have been signed out.",
        ))
    }
}
