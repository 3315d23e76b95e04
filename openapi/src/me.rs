//! The caller's own account: read it, change the names, delete it, export
//! what is stored about it. One API, as the operations share a path.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use tracing::instrument;

use actors::ProfileChange;

use crate::ApiState;
use crate::account_data::{AccountExport, ReauthRequest, exported};
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::outcomes;
use crate::reply::{NoData, Reply};
use crate::security::BearerAuth;
use crate::tags::ApiTag;
use crate::tokens::UserView;

/// The caller's account.
#[derive(Object)]
pub struct MeData {
    /// The account, with its roles and app metadata (read-only here).
    pub user: UserView,
}

/// Names to change; a field left out (or a name given as `null`) stays as
/// it is. `email`, `roles` and every other field are refused (400).
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    /// New first name: 1 to 100 characters after trimming, no control
    /// characters; `null` leaves it as it is.
    #[oai(nullable, validator(min_length = 1))]
    #[serde(default)]
    pub first_name: MaybeUndefined<String>,
    /// New last name: 1 to 100 characters after trimming, no control
    /// characters; `null` leaves it as it is.
    #[oai(nullable, validator(min_length = 1))]
    #[serde(default)]
    pub last_name: MaybeUndefined<String>,
    /// New company name, at most 200 characters; `null` (or blank) clears
    /// it.
    #[oai(nullable)]
    #[serde(default)]
    pub company_name: MaybeUndefined<String>,
}

outcomes!(GetMeOutcomes: 200, [401, 500, 503]);
outcomes!(UpdateMeOutcomes: 200, [400, 401, 413, 429, 500, 503]);
outcomes!(DeleteOutcomes: 200, [400, 401, 413, 429, 500, 503]);
outcomes!(ExportOutcomes: 200, [400, 401, 413, 429, 500, 503]);

pub struct MeApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTag::Auth")]
impl MeApi {
    /// Get my profile
    ///
    /// The caller's account: names, address, verification and 2FA state,
    /// and the roles and app metadata the app's backend gave it.
    #[oai(path = "/auth/me/", method = "get", operation_id = "getMe")]
    #[instrument(skip_all)]
    async fn get(&self, auth: BearerAuth) -> Reply<MeData, GetMeOutcomes> {
        Reply::ok(
            "Your profile",
            MeData {
                user: auth.0.account().into(),
            },
        )
    }

    /// Change my names
    ///
    /// Changes the caller's first, last or company name (the same rules
    /// as at registration; `company_name: null` clears it) and returns the
    /// account as it is now. Not a credential change: no session ends. The
    /// address is changed with `change-email`; roles and app metadata only
    /// through the admin API.
    #[oai(path = "/auth/me/", method = "patch", operation_id = "updateMe")]
    #[instrument(skip_all)]
    async fn update(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        body: JsonBody<UpdateMeRequest>,
    ) -> Result<Reply<MeData, UpdateMeOutcomes>, ApiError> {
        let b = body.0;
        let given = |field: MaybeUndefined<String>| -> Option<Option<String>> { field.into() };
        let (first, last, company) = (
            given(b.first_name),
            given(b.last_name),
            given(b.company_name),
        );
        let change = ProfileChange::parse(
            first.as_ref().map(Option::as_deref),
            last.as_ref().map(Option::as_deref),
            company.as_ref().map(Option::as_deref),
        )?;
        let account = state.accounts.update_profile(&auth.0, change).await?;
        Ok(Reply::ok(
            "Profile updated",
            MeData {
                user: account.into(),
            },
        ))
    }

    /// Delete my account
    ///
    /// Deletes the caller's account and everything about it (sessions,
    /// refresh tokens, devices, passkeys, 2FA, links, challenges, alert
    /// settings, security events) in one transaction, after
    /// re-authentication: the password (a wrong one counts toward the
    /// lockout), and a TOTP code when 2FA is on. Every access token of the
    /// account is refused from then on, on every node; one mail says the
    /// account was deleted. The address can register again.
    #[oai(path = "/auth/me/", method = "delete", operation_id = "deleteAccount")]
    #[instrument(skip_all)]
    async fn delete(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        body: JsonBody<ReauthRequest>,
    ) -> Result<Reply<NoData, DeleteOutcomes>, ApiError> {
        let b = body.0;
        state
            .account_data
            .delete(&auth.0, b.password.as_deref(), b.totp_code.as_deref())
            .await?;
        Ok(Reply::message("Your account has been deleted."))
    }

    /// Export my data
    ///
    /// Everything stored about the caller that is not a secret, as JSON
    /// (GDPR articles 15 and 20), after the same re-authentication as
    /// deleting the account. Recorded as the security event
    /// `data_exported`.
    #[oai(
        path = "/auth/me/export/",
        method = "post",
        operation_id = "exportAccount"
    )]
    #[instrument(skip_all)]
    async fn export(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        body: JsonBody<ReauthRequest>,
    ) -> Result<Reply<AccountExport, ExportOutcomes>, ApiError> {
        let b = body.0;
        let export = state
            .account_data
            .export(&auth.0, b.password.as_deref(), b.totp_code.as_deref())
            .await?;
        Ok(Reply::ok("Your data", exported(export)))
    }
}
