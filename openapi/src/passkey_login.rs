//! Logging in with a passkey: without a password (named or discoverable),
//! or as the second factor after one.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;

use actors::passkeys::Started;
use actors::passkeys::webauthn::{PublicKeyCredential, RequestChallengeResponse};

use crate::ApiState;
use crate::auth::parse_email;
use crate::body::JsonBody;
use crate::client::Client;
use crate::error::ApiError;
use crate::outcomes;
use crate::passkeys::{credential, public_key};
use crate::reply::Reply;
use crate::tags::ApiTag;
use crate::tokens::LoginData;

/// Who is logging in, if the client knows.
#[derive(Object, Deserialize, Default)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct LoginStartRequest {
    /// The account's address, to be offered its passkeys, when the server
    /// allows login by address (`AUTH_PASSKEY_LOGIN_BY_ADDRESS=on`; off by
    /// default, as the offer tells that the address has an account).
    /// Otherwise, or without it (or `null`), any passkey of this site the
    /// authenticator holds can answer (discoverable credentials, autofill).
    #[oai(nullable)]
    pub email: Option<String>,
}

/// The options for `navigator.credentials.get()`.
#[derive(Object)]
pub struct LoginOptions {
    /// Send back with the assertion to `auth/passkey/finish`: single use,
    /// valid 5 minutes (for `auth/passkey/start`, dropped sooner when the
    /// server holds `AUTH_PASSKEY_OPEN_LOGINS` newer unfinished passkey
    /// logins: start again).
    pub challenge_id: String,
    /// The `publicKey` member of `navigator.credentials.get()`'s argument,
    /// in its JSON form (binary fields base64url):
    /// `PublicKeyCredential.parseRequestOptionsFromJSON(public_key)`.
    pub public_key: Value,
    /// `conditional` when no address was given (use it as the `mediation`
    /// of `navigator.credentials.get()` for autofill), else `null`.
    #[oai(nullable)]
    pub mediation: Option<String>,
}

/// A passkey's answer to a login challenge.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct LoginFinishRequest {
    /// The `challenge_id` from `auth/passkey/start`.
    #[oai(write_only)]
    pub challenge_id: String,
    /// The credential `navigator.credentials.get()` returned, as its
    /// `toJSON()` (`id`, `rawId`, `type`, `response.authenticatorData`,
    /// `response.clientDataJSON`, `response.signature`,
    /// `response.userHandle`, base64url).
    #[oai(write_only)]
    pub credential: Value,
    /// The `device_token` of an earlier completed login of this account,
    /// if the client has one: this login then has that device's own
    /// failure budget and is not refused because failures from elsewhere
    /// locked the account (as for `login`).
    #[oai(write_only, nullable)]
    #[serde(default)]
    pub device_token: Option<String>,
}

/// The second login step with a passkey: the `mfa_token`.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct MfaPasskeyStartRequest {
    /// The `mfa_token` from `login`.
    #[oai(write_only)]
    pub mfa_token: String,
}

/// The second login step with a passkey: its answer.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct MfaPasskeyFinishRequest {
    /// The `mfa_token` from `login`.
    #[oai(write_only)]
    pub mfa_token: String,
    /// The `challenge_id` from `auth/mfa/passkey/start`.
    #[oai(write_only)]
    pub challenge_id: String,
    /// The credential `navigator.credentials.get()` returned, as its
    /// `toJSON()`.
    #[oai(write_only)]
    pub credential: Value,
}

fn login_options(started: Started<RequestChallengeResponse>) -> Result<LoginOptions, ApiError> {
    let mediation = started
        .options
        .mediation
        .as_ref()
        .and_then(|m| serde_json::to_value(m).ok())
        .and_then(|m| m.as_str().map(str::to_owned));
    Ok(LoginOptions {
        challenge_id: started.challenge_id.to_string(),
        public_key: public_key(&started.options)?,
        mediation,
    })
}

outcomes!(LoginStartOutcomes: 200, [400, 413, 429, 500, 503]);
outcomes!(LoginFinishOutcomes: 200, [400, 401, 403, 413, 429, 500, 503]);
outcomes!(MfaStartOutcomes: 200, [400, 401, 413, 429, 500, 503]);

pub struct PasskeyLoginApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTag::Passkeys")]
impl PasskeyLoginApi {
    /// Log in with a passkey: start
    ///
    /// Returns the options for `navigator.credentials.get()` and a
    /// `challenge_id`. With an `email`, and login by address allowed
    /// (`AUTH_PASSKEY_LOGIN_BY_ADDRESS=on`), the account's passkeys are
    /// offered; otherwise any discoverable passkey of this site can
    /// answer, and the answer is the same whatever the address.
    #[oai(
        path = "/auth/passkey/start/",
        method = "post",
        operation_id = "passkeyLoginStart"
    )]
    #[instrument(skip_all)]
    async fn start(
        &self,
        state: Data<&Arc<ApiState>>,
        body: JsonBody<LoginStartRequest>,
    ) -> Result<Reply<LoginOptions, LoginStartOutcomes>, ApiError> {
        let email = body.0.email.as_deref().map(parse_email).transpose()?;
        let started = state.passkeys.start_login(email.as_ref()).await?;
        Ok(Reply::ok(
            "Sign the challenge with your passkey",
            login_options(started)?,
        ))
    }

    /// Log in with a passkey: finish
    ///
    /// Checks the passkey's assertion and completes the login with the
    /// same data as `login` (a passkey verifies the user: no TOTP step).
    /// A refused assertion of a known passkey counts toward the account
    /// lockout like a wrong password; a signature counter that went back
    /// (a cloned authenticator) is refused and recorded.
    #[oai(
        path = "/auth/passkey/finish/",
        method = "post",
        operation_id = "passkeyLoginFinish"
    )]
    #[instrument(skip_all)]
    async fn finish(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        body: JsonBody<LoginFinishRequest>,
    ) -> Result<Reply<LoginData, LoginFinishOutcomes>, ApiError> {
        let b = body.0;
        let cred: PublicKeyCredential = credential(b.credential)?;
        let done = state
            .passkeys
            .finish_login(&b.challenge_id, cred, b.device_token.as_deref(), &client.0)
            .await?;
        let cookie = state.refresh_cookie.set(&done.tokens.refresh_token);
        Ok(Reply::ok("Login successful", LoginData::from(done)).with_cookie(cookie))
    }

    /// Log in: second step with a passkey
    ///
    /// For a login that answered `mfa_required` with `passkey` among its
    /// `factors`: the options for `navigator.credentials.get()` offering
    /// the account's passkeys, and a `challenge_id`.
    #[oai(
        path = "/auth/mfa/passkey/start/",
        method = "post",
        operation_id = "mfaPasskeyStart"
    )]
    #[instrument(skip_all)]
    async fn mfa_start(
        &self,
        state: Data<&Arc<ApiState>>,
        body: JsonBody<MfaPasskeyStartRequest>,
    ) -> Result<Reply<LoginOptions, MfaStartOutcomes>, ApiError> {
        let started = state
            .passkeys
            .start_second_factor(&body.0.mfa_token)
            .await?;
        Ok(Reply::ok(
            "Sign the challenge with your passkey",
            login_options(started)?,
        ))
    }

    /// Log in: finish the second step with a passkey
    ///
    /// Completes a login that answered `mfa_required` with the passkey's
    /// answer to `auth/mfa/passkey/start`'s challenge: the same data as
    /// `login`. A refused answer counts toward the account lockout and
    /// toward the five failures that void the `mfa_token`.
    #[oai(
        path = "/auth/mfa/passkey/finish/",
        method = "post",
        operation_id = "mfaPasskeyFinish"
    )]
    #[instrument(skip_all)]
    async fn mfa_finish(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        body: JsonBody<MfaPasskeyFinishRequest>,
    ) -> Result<Reply<LoginData, LoginFinishOutcomes>, ApiError> {
        let b = body.0;
        let cred: PublicKeyCredential = credential(b.credential)?;
        let done = state
            .passkeys
            .finish_second_factor(&b.mfa_token, &b.challenge_id, cred, &client.0)
            .await?;
        let cookie = state.refresh_cookie.set(&done.tokens.refresh_token);
        Ok(Reply::ok("Login successful", LoginData::from(done)).with_cookie(cookie))
    }
}
