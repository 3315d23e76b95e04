//! Signing keys: loading the configured key, generating Ed25519 keys, and the
//! public half that is published (key id and JWK).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use super::{JwtError, SigningKey};
use crate::fingerprint::fingerprint;

/// What an HS256 secret's fingerprint is computed for.
const HS256_PURPOSE: &str = "jwt hs256 secret";

/// Shortest HS256 secret accepted, in bytes (the size of the HMAC output).
pub(crate) const MIN_HS256_SECRET_LEN: usize = 32;

/// The keys and their public description, ready to sign and verify.
pub(super) struct KeyMaterial {
    pub(super) algorithm: Algorithm,
    pub(super) encoding: EncodingKey,
    pub(super) decoding: DecodingKey,
    /// The `kid` header: for HS256 the secret's fingerprint, for EdDSA the
    /// RFC 7638 thumbprint of the public key.
    pub(super) kid: Option<String>,
    /// What the database and the logs know the key by (it reveals
    /// nothing): for HS256 the `kid`, for EdDSA one of the public key.
    pub(super) fingerprint: String,
    /// `Some` for EdDSA: the public JWK.
    pub(super) jwk: Option<serde_json::Value>,
}

/// Builds the signing and verifying keys from the configured key.
pub(super) fn load(key: &SigningKey) -> Result<KeyMaterial, JwtError> {
    match key {
        SigningKey::Hs256(secret) => {
            if secret.len() < MIN_HS256_SECRET_LEN {
                return Err(JwtError::Key(format!(
                    "HS256 secret must be at least {MIN_HS256_SECRET_LEN} bytes"
                )));
            }
            Ok(KeyMaterial {
                algorithm: Algorithm::HS256,
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
                kid: Some(fingerprint(HS256_PURPOSE, secret)),
                fingerprint: fingerprint(HS256_PURPOSE, secret),
                jwk: None,
            })
        }
        SigningKey::EdDsa { pkcs8_pem } => {
            let encoding = EncodingKey::from_ed_pem(pkcs8_pem).map_err(|_| {
                JwtError::Key("EdDSA key is not a PKCS#8 PEM Ed25519 private key".to_owned())
            })?;
            let pair = Ed25519KeyPair::from_pkcs8(encoding.as_bytes())
                .map_err(|_| JwtError::Key("EdDSA key is not a valid Ed25519 key".to_owned()))?;
            let public = pair.public_key().as_ref();
            let x = URL_SAFE_NO_PAD.encode(public);
            let kid = thumbprint(&x);
            let jwk = serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": x,
                "kid": kid,
                "alg": "EdDSA",
                "use": "sig",
            });
            Ok(KeyMaterial {
                algorithm: Algorithm::EdDSA,
                encoding,
                decoding: DecodingKey::from_ed_der(public),
                kid: Some(kid),
                fingerprint: fingerprint("jwt eddsa public key", public),
                jwk: Some(jwk),
            })
        }
    }
}

/// RFC 7638 JWK thumbprint of an Ed25519 public key given as base64url `x`:
/// stable across restarts, and the same for anyone who computes it from the
/// published JWK.
fn thumbprint(x: &str) -> String {
    // Required members only, in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A new Ed25519 signing key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
///
/// The document is PKCS#8 v1 (what `openssl genpkey -algorithm ED25519`
/// writes), which both aws-lc-rs and jsonwebtoken accept.
pub fn generate_ed25519_pem() -> Result<Vec<u8>, JwtError> {
    let document = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
        .map_err(|_| JwtError::Key("could not generate an Ed25519 key".to_owned()))?;
    let pem = pem::Pem::new("PRIVATE KEY", document.as_ref().to_vec());
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    let text = pem::encode_config(&pem, config);
    pem.into_contents().zeroize();
    Ok(text.into_bytes())
}
