//! The caller's alert settings: which security emails may be turned off.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use tracing::instrument;

use actors::alerts;

use crate::ApiState;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::outcomes;
use crate::reply::Reply;
use crate::security::BearerAuth;
use crate::tags::ApiTag;

/// Which security emails the caller gets.
#[derive(Object, Debug)]
pub struct AlertSettings {
    /// Mail me when my account is signed in to from a device it has not
    /// seen before (informational; on unless turned off).
    pub new_device: bool,
    /// Alerts that cannot be turned off: refresh_token_reused,
    /// account_locked, password_changed, mfa_enabled, mfa_disabled.
    pub always_on: Vec<String>,
}

/// The optional alerts to turn on or off. Turning one off asks for what
/// the account's strongest factor asks: the password, and with 2FA on a
/// current TOTP (or backup) code.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct AlertSettingsRequest {
    /// Mail me when my account is signed in to from a new device.
    pub new_device: bool,
    /// The current password: required to turn an alert off (400 without
    /// it, 401 when wrong, counted toward the lockout).
    #[oai(write_only, nullable)]
    #[serde(default)]
    pub password: Option<String>,
    /// A current TOTP or backup code: required with the password to turn
    /// an alert off when 2FA is on.
    #[oai(write_only, nullable)]
    #[serde(default)]
    pub totp_code: Option<String>,
}

impl std::fmt::Debug for AlertSettingsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSettingsRequest")
            .field("new_device", &self.new_device)
            .finish_non_exhaustive()
    }
}

outcomes!(GetOutcomes: 200, [401, 500, 503]);
outcomes!(SetOutcomes: 200, [400, 401, 413, 429, 500, 503]);

pub struct AlertsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTag::Auth")]
impl AlertsApi {
    /// My alert settings
    ///
    /// Which security emails the caller gets. Alerts about changes to
    /// credentials and signs of an attack are always sent.
    #[oai(
        path = "/auth/alerts/",
        method = "get",
        operation_id = "getAlertSettings"
    )]
    #[instrument(skip_all)]
    async fn get(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
    ) -> Result<Reply<AlertSettings, GetOutcomes>, ApiError> {
        let on = alerts::new_device_on(&state.accounts.db, &auth.0).await?;
        Ok(Reply::ok("Alert settings", settings(on)))
    }

    /// Change my alert settings
    ///
    /// Turns the informational new-device email on or off; recorded in
    /// the caller's security events as `alerts_changed`. Turning it off
    /// needs the password (and a TOTP code with 2FA on) and mails the
    /// owner that it was turned off.
    #[oai(
        path = "/auth/alerts/",
        method = "put",
        operation_id = "setAlertSettings"
    )]
    #[instrument(skip_all)]
    async fn set(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        body: JsonBody<AlertSettingsRequest>,
    ) -> Result<Reply<AlertSettings, SetOutcomes>, ApiError> {
        let body = body.0;
        let on = body.new_device;
        let stepped_up = match (on, body.password.as_deref()) {
            (false, Some(password)) => Some(
                state
                    .mfa
                    .step_up(&auth.0, password, body.totp_code.as_deref())
                    .await?,
            ),
            _ => None,
        };
        let now = state.auth.clock.now_ms();
        state
            .auth
            .sessions
            .alerts
            .set_new_device(
                &state.accounts.db,
                &auth.0,
                on,
                stepped_up,
                &state.auth.after_commit(),
                now,
            )
            .await?;
        Ok(Reply::ok("Alert settings saved", settings(on)))
    }
}

/// The settings as answered, with `new_device` as stored.
pub(crate) fn settings(new_device: bool) -> AlertSettings {
    AlertSettings {
        new_device,
        always_on: alerts::ALWAYS_ON.iter().map(|s| (*s).to_owned()).collect(),
    }
}
