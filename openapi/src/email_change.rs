//! Moving the account to another address: the request (re-authenticated),
//! the link to the new address, and the link that puts the old one back.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use tracing::instrument;

use crate::ApiState;
use crate::auth::TokenRequest;
use crate::body::JsonBody;
use crate::client::Client;
use crate::error::ApiError;
use crate::outcomes;
use crate::reply::{NoData, Reply};
use crate::security::BearerAuth;
use crate::tags::ApiTag;

/// The password (and a code with 2FA on) and the address to move to.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    /// The account's password now; a wrong one gets 401 and counts toward
    /// the lockout.
    #[oai(write_only)]
    pub password: String,
    /// The address to move the account to: a valid address of at most 254
    /// characters after trimming, not the account's own.
    pub new_email: String,
    /// A current TOTP code: required when 2FA is on (401
    /// naming this field without it), counted toward the lockout when
    /// wrong.
    #[oai(write_only, nullable)]
    #[serde(default)]
    pub totp_code: Option<String>,
}

impl std::fmt::Debug for ChangeEmailRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeEmailRequest").finish_non_exhaustive()
    }
}

outcomes!(ChangeEmailOutcomes: 200, [400, 401, 403, 413, 429, 500, 503]);
outcomes!(ConfirmEmailChangeOutcomes: 200, [400, 409, 413, 429, 500, 503]);
outcomes!(RevertEmailChangeOutcomes: 200, [400, 409, 413, 429, 500, 503]);

/// The one answer to every accepted address change request.
pub const REQUESTED: &str = "If the address can be used, a confirmation link was sent to it";

pub struct EmailChangeApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTag::Auth")]
impl EmailChangeApi {
    /// Change email address
    ///
    /// Checks the password (and with 2FA on a current code) and mails a
    /// single-use link, valid 24 hours, to the new address; if that address
    /// already has an account it gets a notice without a link instead. The
    /// answer is the same either way. Nothing changes until the link is
    /// used; a newer request voids earlier links. Mails to the new address
    /// count in its hourly per-recipient budget.
    #[oai(
        path = "/auth/change-email/",
        method = "post",
        operation_id = "changeEmail"
    )]
    #[instrument(skip_all)]
    async fn change_email(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        body: JsonBody<ChangeEmailRequest>,
    ) -> Result<Reply<NoData, ChangeEmailOutcomes>, ApiError> {
        let b = body.0;
        state
            .email_changes
            .request(&auth.0, &b.password, &b.new_email, b.totp_code.as_deref())
            .await?;
        Ok(Reply::message(REQUESTED))
    }

    /// Confirm an email change
    ///
    /// Moves the account to the address the link was mailed to (now
    /// verified). Every session ends, open MFA logins and reset links stop
    /// working, and known devices are forgotten. The old address is mailed
    /// a link, valid 7 days, that puts it back. 409 when the address got an
    /// account meanwhile; 400 for a bad, used or expired token.
    #[oai(
        path = "/auth/confirm-email-change/",
        method = "post",
        operation_id = "confirmEmailChange"
    )]
    #[instrument(skip_all)]
    async fn confirm_email_change(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        body: JsonBody<TokenRequest>,
    ) -> Result<Reply<NoData, ConfirmEmailChangeOutcomes>, ApiError> {
        state
            .email_changes
            .confirm(&body.0.token, &client.0)
            .await?;
        Ok(Reply::message(
            "Email address changed. Log in with the new address.",
        ))
    }

    /// Revert an email change
    ///
    /// Puts back the address the link was mailed to, ends every session,
    /// forgets every known device, voids pending email changes, and mails
    /// a password reset link to the restored address (the current password
    /// keeps working until it is reset). 409 when the address got an
    /// account meanwhile; 400 for a bad, used or expired token.
    #[oai(
        path = "/auth/revert-email-change/",
        method = "post",
        operation_id = "revertEmailChange"
    )]
    #[instrument(skip_all)]
    async fn revert_email_change(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        body: JsonBody<TokenRequest>,
    ) -> Result<Reply<NoData, RevertEmailChangeOutcomes>, ApiError> {
        state.email_changes.revert(&body.0.token, &client.0).await?;
        Ok(Reply::message(
            "Email address restored. Every session was signed out; a link to choose a new password was sent to it.",
        ))
    }
}
