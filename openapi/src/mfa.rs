//! TOTP two-factor authentication: setup, the second login step, backup
//! codes, turning it off.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use tracing::instrument;
use zeroize::Zeroizing;

use actors::mfa::codes::Factor;

use crate::ApiState;
use crate::body::JsonBody;
use crate::client::Client;
use crate::error::ApiError;
use crate::outcomes;
use crate::reply::{NoData, Reply};
use crate::security::BearerAuth;
use crate::tags::ApiTag;
use crate::tokens::LoginData;

/// The account's password.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    /// The account's password; a wrong one counts toward the lockout.
    #[oai(write_only)]
    pub password: String,
}

/// A code from the authenticator app.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct TotpRequest {
    /// The 6-digit code the app shows now; each code works once.
    #[oai(write_only)]
    pub totp_code: String,
}

/// The password and a current code.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct PasswordAndCodeRequest {
    /// The account's password; a wrong one counts toward the lockout.
    #[oai(write_only)]
    pub password: String,
    /// The 6-digit code the app shows now; each code works once.
    #[oai(write_only)]
    pub totp_code: String,
}

/// The second login step with a code from the app.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct MfaVerifyRequest {
    /// The `mfa_token` from `login`.
    #[oai(write_only)]
    pub mfa_token: String,
    /// The 6-digit code the app shows now; each code works once.
    #[oai(write_only)]
    pub code: String,
}

/// The second login step with a backup code.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// The `mfa_token` from `login`.
    #[oai(write_only)]
    pub mfa_token: String,
    /// One of the backup codes (`XXXXX-XXXXX`; any case, with or without
    /// the dash); each works once.
    #[oai(write_only)]
    pub backup_code: String,
}

/// A new TOTP secret to add to an authenticator app.
#[derive(Object)]
pub struct Enrollment {
    /// The secret in base32, for typing into the app.
    pub secret_key: String,
    /// `otpauth://totp/authd:<email>?secret=...&issuer=authd`.
    pub otpauth_url: String,
    /// The same URL as a QR code, a PNG data URI rendered by this server.
    pub qr_code_url: String,
    /// 10 single-use backup codes; shown only here.
    pub backup_codes: Vec<String>,
}

/// A new set of backup codes.
#[derive(Object)]
pub struct BackupCodes {
    /// 10 single-use backup codes; shown only here. Earlier codes no longer
    /// work.
    pub backup_codes: Vec<String>,
}

fn plain(codes: Vec<Zeroizing<String>>) -> Vec<String> {
    codes.iter().map(|c| c.to_string()).collect()
}

outcomes!(EnableOutcomes: 200, [400, 401, 403, 409, 413, 429, 500, 503]);
outcomes!(SetupOutcomes: 200, [400, 401, 413, 429, 500, 503]);
outcomes!(ReauthOutcomes: 200, [400, 401, 403, 413, 429, 500, 503]);
outcomes!(SecondStepOutcomes: 200, [400, 401, 413, 429, 500, 503]);

pub struct MfaApi;

/// Completes a login with its second factor: the tokens, and the refresh
/// cookie in cookie mode.
async fn second_step(
    state: &ApiState,
    client: &Client,
    mfa_token: &str,
    factor: Factor,
) -> Result<Reply<LoginData, SecondStepOutcomes>, ApiError> {
    let done = state
        .mfa
        .complete_login(mfa_token, factor, &client.0)
        .await?;
    let cookie = state.refresh_cookie.set(&done.tokens.refresh_token);
    Ok(Reply::ok("Login successful", LoginData::from(done)).with_cookie(cookie))
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTag::TwoFactor")]
impl MfaApi {
    /// Log in: second step with a TOTP code
    ///
    /// Completes a login that answered `mfa_required`, with the code the
    /// authenticator app shows. Wrong codes count toward the account
    /// lockout; five void the `mfa_token`.
    #[oai(
        path = "/auth/mfa/verify/",
        method = "post",
        operation_id = "mfaVerify"
    )]
    #[instrument(skip_all)]
    async fn mfa_verify(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        body: JsonBody<MfaVerifyRequest>,
    ) -> Result<Reply<LoginData, SecondStepOutcomes>, ApiError> {
        let b = body.0;
        let factor = Factor::Totp(Zeroizing::new(b.code));
        second_step(&state, &client, &b.mfa_token, factor).await
    }

    /// Log in: second step with a backup code
    ///
    /// Completes a login that answered `mfa_required` with one of the
    /// backup codes instead of a TOTP code. Each backup code works once.
    #[oai(path = "/2fa/recover", method = "post", operation_id = "mfaRecover")]
    #[instrument(skip_all)]
    async fn recover(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        body: JsonBody<RecoverRequest>,
    ) -> Result<Reply<LoginData, SecondStepOutcomes>, ApiError> {
        let b = body.0;
        let factor = Factor::Backup(Zeroizing::new(b.backup_code));
        second_step(&state, &client, &b.mfa_token, factor).await
    }

    /// Start 2FA setup
    ///
    /// Checks the password and returns a new TOTP secret (also as an
    /// `otpauth://` URL and a QR code) and 10 backup codes. 2FA stays off
    /// until `2fa/verify` confirms a first code; calling this again before
    /// then replaces the secret and the codes.
    #[oai(path = "/2fa/enable", method = "post", operation_id = "mfaEnable")]
    #[instrument(skip_all)]
    async fn enable(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        body: JsonBody<PasswordRequest>,
    ) -> Result<Reply<Enrollment, EnableOutcomes>, ApiError> {
        let e = state.mfa.enable(&auth.0, &body.0.password).await?;
        Ok(Reply::ok(
            "Scan the QR code, then confirm with a code from the app",
            Enrollment {
                secret_key: e.secret_key.to_string(),
                otpauth_url: e.otpauth_url.to_string(),
                qr_code_url: e.qr_code_url,
                backup_codes: plain(e.backup_codes),
            },
        ))
    }

    /// Confirm 2FA setup
    ///
    /// Turns 2FA on with a first code from the app for the pending secret.
    #[oai(path = "/2fa/verify", method = "post", operation_id = "mfaConfirm")]
    #[instrument(skip_all)]
    async fn verify(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        body: JsonBody<TotpRequest>,
    ) -> Result<Reply<NoData, SetupOutcomes>, ApiError> {
        state.mfa.confirm(&auth.0, &body.0.totp_code).await?;
        Ok(Reply::message("2FA verified and enabled"))
    }

    /// Turn 2FA off
    ///
    /// Needs the password and a current code; removes the secret and every
    /// backup code.
    #[oai(path = "/2fa/disable", method = "post", operation_id = "mfaDisable")]
    #[instrument(skip_all)]
    async fn disable(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        body: JsonBody<PasswordAndCodeRequest>,
    ) -> Result<Reply<NoData, ReauthOutcomes>, ApiError> {
        let b = body.0;
        state
            .mfa
            .disable(&auth.0, &b.password, &b.totp_code)
            .await?;
        Ok(Reply::message("2FA has been disabled"))
    }

    /// New backup codes
    ///
    /// Needs the password and a current code; returns 10 new backup codes
    /// and voids every earlier one.
    #[oai(
        path = "/2fa/backup-codes",
        method = "post",
        operation_id = "mfaBackupCodes"
    )]
    #[instrument(skip_all)]
    async fn backup_codes(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        body: JsonBody<PasswordAndCodeRequest>,
    ) -> Result<Reply<BackupCodes, ReauthOutcomes>, ApiError> {
        let b = body.0;
        let codes = state
            .mfa
            .new_backup_codes(&auth.0, &b.password, &b.totp_code)
            .await?;
        Ok(Reply::ok(
            "New backup codes: earlier ones no longer work",
            BackupCodes {
                backup_codes: plain(codes),
            },
        ))
    }
}
