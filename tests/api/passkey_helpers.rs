//! A software authenticator for the passkey tests: one ES256 credential
//! (P-256 key from crypto-glue, the crate webauthn-rs itself uses), "none"
//! attestation, user verification, a signature counter, and a user handle
//! (so it also answers discoverable logins). It is `Clone`: a clone that
//! falls behind is a cloned authenticator. The browser's part (the
//! clientDataJSON with its origin) is here too, so a test can lie about
//! the origin. Plus the requests of the passkey endpoints.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use crypto_glue::ecdsa_p256::{
    self, EcdsaP256PrivateKey, EcdsaP256PublicSec1Point, EcdsaP256Signature, EcdsaP256SigningKey,
};
use crypto_glue::traits::Signer;
use reqwest::StatusCode;
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use crate::helpers::{PASSWORD, TestApp, read, remember_secret, tokens_of};
use crate::mfa_helpers::MfaUser;

/// The origin of the test apps (`AUTH_PUBLIC_URL`'s default).
pub const ORIGIN: &str = "http://localhost:3000";

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;
const BE: u8 = 0x08;
const BS: u8 = 0x10;

#[derive(Clone)]
pub struct SoftKey {
    /// SEC1 DER of the private key.
    key: Vec<u8>,
    pub credential_id: Vec<u8>,
    pub user_handle: Vec<u8>,
    pub counter: u32,
    /// The origin the "browser" puts in clientDataJSON.
    pub origin: String,
    /// The backup flags it reports (eligible, backed up).
    pub backup: (bool, bool),
}

fn text(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {v}"))
        .to_owned()
}

fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false
    }))
    .unwrap()
}

impl SoftKey {
    /// Creates a credential for the `publicKey` creation options: the
    /// credential JSON the browser would send (its `toJSON()`).
    pub fn create(options: &Value) -> (SoftKey, Value) {
        let secret = ecdsa_p256::new_key();
        let key = secret.to_sec1_der().unwrap().to_vec();
        let credential_id: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
        remember_secret(&B64.encode(&credential_id));
        let soft = SoftKey {
            key,
            credential_id,
            user_handle: B64.decode(text(&options["user"], "id")).unwrap(),
            counter: 0,
            origin: ORIGIN.to_owned(),
            backup: (false, false),
        };
        let credential = soft.attest(options);
        (soft, credential)
    }

    /// This credential's registration answer to the creation options.
    pub fn attest(&self, options: &Value) -> Value {
        let secret = EcdsaP256PrivateKey::from_sec1_der(&self.key).unwrap();
        let point = EcdsaP256PublicSec1Point::from(secret.public_key());
        let (x, y) = (point.x().unwrap().to_vec(), point.y().unwrap().to_vec());
        let rp_id = text(&options["rp"], "id");
        let cose = Cbor::Map(BTreeMap::from([
            (Cbor::Integer(1), Cbor::Integer(2)),
            (Cbor::Integer(3), Cbor::Integer(-7)),
            (Cbor::Integer(-1), Cbor::Integer(1)),
            (Cbor::Integer(-2), Cbor::Bytes(x)),
            (Cbor::Integer(-3), Cbor::Bytes(y)),
        ]));
        let id = &self.credential_id;
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(UP | UV | AT | self.backup_flags());
        auth_data.extend(0u32.to_be_bytes());
        auth_data.extend([0u8; 16]);
        auth_data.extend((id.len() as u16).to_be_bytes());
        auth_data.extend(id);
        auth_data.extend(serde_cbor_2::to_vec(&cose).unwrap());
        let attestation = Cbor::Map(BTreeMap::from([
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(BTreeMap::new())),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]));
        let challenge = text(options, "challenge");
        json!({
            "id": B64.encode(id),
            "rawId": B64.encode(id),
            "type": "public-key",
            "response": {
                "attestationObject": B64.encode(serde_cbor_2::to_vec(&attestation).unwrap()),
                "clientDataJSON": B64.encode(client_data("webauthn.create", &challenge, ORIGIN)),
            },
            "clientExtensionResults": {}
        })
    }

    fn backup_flags(&self) -> u8 {
        let (eligible, backed_up) = self.backup;
        (if eligible { BE } else { 0 }) | (if backed_up { BS } else { 0 })
    }

    /// Signs the `publicKey` request options: the assertion JSON.
    pub fn get(&mut self, options: &Value) -> Value {
        self.counter += 1;
        let rp_id = text(options, "rpId");
        let challenge = text(options, "challenge");
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(UP | UV | self.backup_flags());
        auth_data.extend(self.counter.to_be_bytes());
        let client = client_data("webauthn.get", &challenge, &self.origin);
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client));
        let secret = EcdsaP256PrivateKey::from_sec1_der(&self.key).unwrap();
        let signer = EcdsaP256SigningKey::from(&secret);
        let signature: EcdsaP256Signature = signer.try_sign(&signed).unwrap();
        json!({
            "id": B64.encode(&self.credential_id),
            "rawId": B64.encode(&self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(&auth_data),
                "clientDataJSON": B64.encode(&client),
                "signature": B64.encode(signature.to_der().to_bytes()),
                "userHandle": B64.encode(&self.user_handle),
            },
            "clientExtensionResults": {}
        })
    }
}

impl TestApp {
    /// Sends a JSON request with an optional bearer token.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        read(req.send().await.expect("request failed")).await
    }

    /// `passkeys/register/start` with `body` (the password, and a code
    /// with 2FA on).
    pub async fn start_registration(&self, access: &str, body: &Value) -> (StatusCode, Value) {
        let (status, body) = self
            .post_bearer("/api/v1/passkeys/register/start/", access, body)
            .await;
        if status == StatusCode::OK {
            remember_options(&body["data"]);
        }
        (status, body)
    }

    /// `passkeys/register/start` with the test password: the options.
    pub async fn passkey_options(&self, access: &str) -> Value {
        let (status, body) = self
            .start_registration(access, &json!({ "password": PASSWORD }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].clone()
    }

    /// `passkeys/register/start` for a user with 2FA on: the password and
    /// the current code (the clock then moves to the next code).
    pub async fn mfa_passkey_options(&self, user: &MfaUser) -> Value {
        let code = self.code_now(&user.secret);
        let (status, body) = self
            .start_registration(
                &user.access,
                &json!({ "password": PASSWORD, "totp_code": code }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        self.next_step();
        body["data"].clone()
    }

    pub async fn finish_registration(
        &self,
        access: &str,
        challenge_id: &str,
        name: &str,
        credential: &Value,
    ) -> (StatusCode, Value) {
        let body = json!({ "challenge_id": challenge_id, "name": name, "credential": credential });
        self.post_bearer("/api/v1/passkeys/register/finish/", access, &body)
            .await
    }

    /// Registers a new soft passkey named `name` (it must succeed).
    pub async fn add_passkey(&self, access: &str, name: &str) -> (SoftKey, Value) {
        let options = self.passkey_options(access).await;
        self.add_passkey_with(access, &options, name).await
    }

    /// Registers a new soft passkey for a user with 2FA on.
    pub async fn add_mfa_passkey(&self, user: &MfaUser, name: &str) -> (SoftKey, Value) {
        let options = self.mfa_passkey_options(user).await;
        self.add_passkey_with(&user.access, &options, name).await
    }

    /// Finishes the registration `options` started (it must succeed).
    async fn add_passkey_with(
        &self,
        access: &str,
        options: &Value,
        name: &str,
    ) -> (SoftKey, Value) {
        let (key, credential) = SoftKey::create(&options["public_key"]);
        let challenge = text(options, "challenge_id");
        let (status, body) = self
            .finish_registration(access, &challenge, name, &credential)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (key, body["data"].clone())
    }

    /// `auth/passkey/start`, for `email` or (none) any passkey.
    pub async fn passkey_login_options(&self, email: Option<&str>) -> Value {
        let (status, body) = self
            .post("/api/v1/auth/passkey/start/", &json!({ "email": email }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        remember_options(&body["data"]);
        body["data"].clone()
    }

    pub async fn finish_passkey_login(
        &self,
        challenge_id: &str,
        assertion: &Value,
    ) -> (StatusCode, Value) {
        let body = json!({ "challenge_id": challenge_id, "credential": assertion });
        let (status, body) = self.post("/api/v1/auth/passkey/finish/", &body).await;
        if status == StatusCode::OK {
            tokens_of(&body);
        }
        (status, body)
    }

    /// A whole passkey login with `key` (for `email`, or discoverable).
    pub async fn passkey_login(
        &self,
        key: &mut SoftKey,
        email: Option<&str>,
    ) -> (StatusCode, Value) {
        let options = self.passkey_login_options(email).await;
        let assertion = key.get(&options["public_key"]);
        self.finish_passkey_login(&text(&options, "challenge_id"), &assertion)
            .await
    }

    pub async fn passkeys_of(&self, access: &str) -> Vec<Value> {
        let (status, body) = self.get_bearer("/api/v1/passkeys/", access).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"]["passkeys"].as_array().unwrap().clone()
    }
}

/// The challenge id and the WebAuthn challenge are secrets the logs must
/// not show.
fn remember_options(data: &Value) {
    remember_secret(&text(data, "challenge_id"));
    remember_secret(&text(&data["public_key"], "challenge"));
}

pub fn challenge_of(options: &Value) -> String {
    text(options, "challenge_id")
}
