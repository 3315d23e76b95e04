//! Passkeys (WebAuthn): registering, listing, renaming and removing them
//! (logging in with one is `passkey_login`). The options objects are webauthn-rs's JSON,
//! the `publicKey` member of `navigator.credentials.create/get`'s argument
//! (`PublicKeyCredential.parseCreationOptionsFromJSON` /
//! `parseRequestOptionsFromJSON` read them as they are); the credential the
//! browser returns goes back as its `toJSON()`.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::instrument;

use actors::PasskeyId;
use actors::passkeys::webauthn::RegisterPublicKeyCredential;
use actors::views::Passkey;

use crate::ApiState;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::mfa::PasswordRequest;
use crate::outcomes;
use crate::reply::{NoData, Reply};
use crate::security::BearerAuth;
use crate::tags::ApiTag;
use crate::time::rfc3339;

/// The options for `navigator.credentials.create()`.
#[derive(Object)]
pub struct RegistrationOptions {
    /// Send back with the new credential to `passkeys/register/finish`:
    /// single use, valid 5 minutes, only in the session that started it.
    pub challenge_id: String,
    /// The `publicKey` member of `navigator.credentials.create()`'s
    /// argument, in its JSON form (binary fields base64url):
    /// `PublicKeyCredential.parseCreationOptionsFromJSON(public_key)`.
    pub public_key: Value,
}

/// What adding a passkey asks for: a passkey logs in on its own, so it
/// takes what the strongest factor takes.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct RegisterStartRequest {
    /// The account's password; a wrong one counts toward the lockout.
    #[oai(write_only)]
    pub password: String,
    /// With 2FA on, required: the 6-digit code the app shows now (a
    /// backup code is not accepted, as for new backup codes); each code
    /// works once, and a wrong one counts toward the lockout. Missing (or
    /// `null`) with 2FA on: 400. Ignored with 2FA off.
    #[oai(write_only, nullable)]
    #[serde(default)]
    pub totp_code: Option<String>,
}

/// A new passkey to store.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct RegisterFinishRequest {
    /// The `challenge_id` from `passkeys/register/start`.
    #[oai(write_only)]
    pub challenge_id: String,
    /// A name for the passkey ("Laptop"): 1 to 100 characters after
    /// trimming, no control characters.
    #[oai(validator(min_length = 1))]
    pub name: String,
    /// The credential `navigator.credentials.create()` returned, as its
    /// `toJSON()` (`id`, `rawId`, `type`, `response.attestationObject`,
    /// `response.clientDataJSON`, base64url).
    #[oai(write_only)]
    pub credential: Value,
}

/// A new name for a passkey.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    /// 1 to 100 characters after trimming, no control characters.
    #[oai(validator(min_length = 1))]
    pub name: String,
}

/// One of my passkeys.
#[derive(Object)]
pub struct PasskeyView {
    /// The passkey's id (not the credential id).
    pub id: uuid::Uuid,
    /// Its name.
    pub name: String,
    /// When it was registered (RFC 3339).
    pub created_at: String,
    /// When it last logged in (RFC 3339), or `null` if never.
    #[oai(nullable)]
    pub last_used_at: Option<String>,
}

/// My passkeys.
#[derive(Object)]
pub struct PasskeyList {
    /// Every one of them (at most 20 can be added), oldest first.
    pub passkeys: Vec<PasskeyView>,
}

/// A credential in the browser's JSON form; 400 naming `credential` if it
/// is not one.
pub(crate) fn credential<T: DeserializeOwned>(raw: Value) -> Result<T, ApiError> {
    serde_json::from_value(raw).map_err(|_| {
        ApiError::invalid(actors::FieldErrors::from([(
            "credential".to_owned(),
            vec!["is not a WebAuthn credential in its JSON form".to_owned()],
        )]))
    })
}

/// The `publicKey` options as JSON.
pub(crate) fn public_key<T: serde::Serialize>(options: &T) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(options)
        .map_err(|e| ApiError::from(actors::DomainError::Internal(format!("options: {e}"))))?;
    Ok(v["publicKey"].take())
}

/// A passkey as answered.
pub(crate) fn view(p: Passkey) -> PasskeyView {
    PasskeyView {
        id: p.id.0,
        name: p.name,
        created_at: rfc3339(p.created_at),
        last_used_at: p.last_used_at.map(rfc3339),
    }
}

outcomes!(RegisterStartOutcomes: 200, [400, 401, 403, 413, 429, 500, 503]);
outcomes!(RegisterFinishOutcomes: 201, [400, 401, 413, 429, 500, 503]);
outcomes!(ListOutcomes: 200, [401, 500, 503]);
outcomes!(RenameOutcomes: 200, [400, 401, 404, 413, 500, 503]);
outcomes!(RemoveOutcomes: 200, [400, 401, 403, 404, 413, 429, 500, 503]);

pub struct PasskeysApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTag::Passkeys")]
impl PasskeysApi {
    /// Start registering a passkey
    ///
    /// Checks the password and, with 2FA on, a current TOTP code (a wrong
    /// one is 401 and counts toward the lockout; a missing code is 400),
    /// and returns the options for `navigator.credentials.create()` with a
    /// `challenge_id`.
    #[oai(
        path = "/passkeys/register/start/",
        method = "post",
        operation_id = "passkeyRegisterStart"
    )]
    #[instrument(skip_all)]
    async fn register_start(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        body: JsonBody<RegisterStartRequest>,
    ) -> Result<Reply<RegistrationOptions, RegisterStartOutcomes>, ApiError> {
        let b = body.0;
        let started = state
            .passkeys
            .start_registration(&auth.0, &b.password, b.totp_code.as_deref())
            .await?;
        Ok(Reply::ok(
            "Create the passkey on your device",
            RegistrationOptions {
                challenge_id: started.challenge_id.to_string(),
                public_key: public_key(&started.options)?,
            },
        ))
    }

    /// Finish registering a passkey
    ///
    /// Stores the credential the authenticator created for the challenge
    /// this session started. Like every credential change it ends every
    /// other session of the account and emails its owner. A credential the
    /// server does not accept (a bad attestation, one registered already,
    /// to this account or another) is 400 naming `credential`.
    #[oai(
        path = "/passkeys/register/finish/",
        method = "post",
        operation_id = "passkeyRegisterFinish"
    )]
    #[instrument(skip_all)]
    async fn register_finish(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        body: JsonBody<RegisterFinishRequest>,
    ) -> Result<Reply<PasskeyView, RegisterFinishOutcomes>, ApiError> {
        let b = body.0;
        let cred: RegisterPublicKeyCredential = credential(b.credential)?;
        let added = state
            .passkeys
            .finish_registration(&auth.0, &b.challenge_id, &b.name, &cred)
            .await?;
        Ok(Reply::ok("Passkey added", view(added)))
    }

    /// List my passkeys
    #[oai(path = "/passkeys/", method = "get", operation_id = "listPasskeys")]
    #[instrument(skip_all)]
    async fn list(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
    ) -> Result<Reply<PasskeyList, ListOutcomes>, ApiError> {
        let passkeys = state.passkeys.list(&auth.0).await?;
        Ok(Reply::ok(
            "Passkeys",
            PasskeyList {
                passkeys: passkeys.into_iter().map(view).collect(),
            },
        ))
    }

    /// Rename one of my passkeys
    #[oai(
        path = "/passkeys/:id/",
        method = "patch",
        operation_id = "renamePasskey"
    )]
    #[instrument(skip_all)]
    async fn rename(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        /// The passkey's id, from the list.
        id: Path<uuid::Uuid>,
        body: JsonBody<RenameRequest>,
    ) -> Result<Reply<NoData, RenameOutcomes>, ApiError> {
        state
            .passkeys
            .rename(&auth.0, PasskeyId(id.0), &body.0.name)
            .await?;
        Ok(Reply::message("Passkey renamed"))
    }

    /// Remove one of my passkeys
    ///
    /// Needs the password (a wrong one is 401 and counts toward the
    /// lockout). The passkey can no longer log in; every other session of
    /// the account ends and its owner is emailed. Another user's passkey is
    /// 404.
    #[oai(
        path = "/passkeys/:id/",
        method = "delete",
        operation_id = "removePasskey"
    )]
    #[instrument(skip_all)]
    async fn remove(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        /// The passkey's id, from the list.
        id: Path<uuid::Uuid>,
        body: JsonBody<PasswordRequest>,
    ) -> Result<Reply<NoData, RemoveOutcomes>, ApiError> {
        state
            .passkeys
            .remove(&auth.0, PasskeyId(id.0), &body.0.password)
            .await?;
        Ok(Reply::message("Passkey removed"))
    }
}
