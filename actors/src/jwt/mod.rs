//! Access tokens (API.md): short-lived JWTs naming the user (`sub`) and the
//! login session (`sid`), signed HS256 by default or EdDSA (Ed25519, with
//! the public key published as a JWKS). The `kid` header names the key: the
//! secret's fingerprint for HS256, the key's thumbprint for EdDSA. Keys of
//! before a rotation (`previous`) verify the tokens they signed, and sign
//! nothing.
//!
//! The time is always passed in (`now_secs`, unix seconds); nothing here reads
//! the clock. Errors never carry key material or tokens.

mod keys;
#[cfg(test)]
mod tests;
mod verified;

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroize;

use crate::domain::{AppMetadata, Roles, SessionId, UserId};

pub use keys::generate_ed25519_pem;
pub(crate) use verified::VerifiedTokens;

/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 5;
/// Longest token accepted; anything longer is refused before any parsing.
pub(crate) const MAX_TOKEN_LEN: usize = 4096;
/// The `typ` claim of access tokens.
pub(crate) const ACCESS_TYP: &str = "access";

/// The key access tokens are signed with. Its `Debug` hides the key, and the
/// key bytes are wiped when it is dropped.
#[derive(Clone)]
pub enum SigningKey {
    /// HMAC-SHA256 with a shared secret of at least 32 bytes.
    Hs256(Vec<u8>),
    /// Ed25519 (EdDSA) with a private key.
    EdDsa {
        /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
        pkcs8_pem: Vec<u8>,
    },
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hs256(_) => f.write_str("Hs256(<redacted>)"),
            Self::EdDsa { .. } => f.write_str("EdDsa(<redacted>)"),
        }
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        match self {
            Self::Hs256(secret) => secret.zeroize(),
            Self::EdDsa { pkcs8_pem } => pkcs8_pem.zeroize(),
        }
    }
}

/// Everything needed to issue and verify access tokens.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// The signing key; it also fixes the only algorithm accepted.
    pub key: SigningKey,
    /// Keys of before a rotation, of the same algorithm: a token naming one
    /// of them (`kid`) is verified with it. They never sign.
    pub previous: Vec<SigningKey>,
    /// `iss` written and required.
    pub issuer: String,
    /// `aud` written and required.
    pub audience: String,
    /// Lifetime of an access token, in seconds (> 0).
    pub access_ttl_secs: i64,
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    /// The user id (uuid).
    pub sub: String,
    /// The token id (uuid).
    pub(crate) jti: String,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expires at, unix seconds.
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Always `"access"`.
    pub typ: String,
    /// The login session id (uuid).
    pub sid: String,
    /// The user's roles (admin API); omitted when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The user's app metadata (admin API); omitted when empty.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub app_metadata: serde_json::Map<String, serde_json::Value>,
}

/// Whom an access token is for: the user, and the roles and app metadata
/// its claims carry (as stored when the token is issued).
#[derive(Debug, Clone)]
pub struct Subject {
    pub id: UserId,
    pub roles: Roles,
    pub app_metadata: AppMetadata,
}

impl AccessClaims {
    /// `sub` as a uuid.
    pub fn user_id(&self) -> Result<UserId, JwtError> {
        parse_uuid(&self.sub).map(UserId)
    }

    /// `sid` as a uuid.
    pub fn session_id(&self) -> Result<SessionId, JwtError> {
        parse_uuid(&self.sid).map(SessionId)
    }

    /// `jti` as a uuid.
    pub(crate) fn token_id(&self) -> Result<Uuid, JwtError> {
        parse_uuid(&self.jti)
    }
}

fn parse_uuid(value: &str) -> Result<Uuid, JwtError> {
    Uuid::parse_str(value).map_err(|_| JwtError::Invalid("claim is not a uuid"))
}

/// A freshly signed access token. Its `Debug` hides the token.
#[derive(Clone)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Its `jti`.
    pub(crate) jti: Uuid,
    /// Its `iat`, unix seconds.
    pub(crate) issued_at: i64,
    /// Its `exp`, unix seconds.
    pub expires_at: i64,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("jti", &self.jti)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why a token or a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// A presented token is refused. The reason is for logs only; it never
    /// contains token or key material.
    #[error("invalid access token: {0}")]
    Invalid(&'static str),
    /// The configured key or settings are unusable, or signing failed.
    #[error("jwt configuration: {0}")]
    Key(String),
}

impl JwtError {
    /// The `reason` label of `authd_tokens_rejected_total` for a refused
    /// token: `signature`, `expired`, `unknown_key` or `malformed` (any
    /// other refusal: a claim, the algorithm, the encoding).
    pub(crate) fn rejection_label(&self) -> &'static str {
        match self {
            Self::Invalid("bad signature") => "signature",
            Self::Invalid("expired") => "expired",
            Self::Invalid("unknown key id") => "unknown_key",
            _ => "malformed",
        }
    }
}

/// Issues and verifies access tokens with one pinned algorithm and key.
/// Cheap to clone; its `Debug` shows no key material.
#[derive(Clone)]
pub struct Jwt {
    inner: Arc<Inner>,
}

struct Inner {
    keys: keys::KeyMaterial,
    previous: Vec<keys::KeyMaterial>,
    algorithm_name: &'static str,
    validation: Validation,
    issuer: String,
    audience: String,
    access_ttl_secs: i64,
    jwks: serde_json::Value,
}

impl fmt::Debug for Jwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Jwt")
            .field("algorithm", &inner.algorithm_name)
            .field("kid", &inner.keys.kid)
            .field("issuer", &inner.issuer)
            .field("audience", &inner.audience)
            .field("access_ttl_secs", &inner.access_ttl_secs)
            .finish_non_exhaustive()
    }
}

impl Jwt {
    /// Loads the key and fixes algorithm, issuer, audience and lifetime.
    pub fn new(settings: JwtSettings) -> Result<Self, JwtError> {
        if settings.issuer.is_empty() || settings.audience.is_empty() {
            return Err(JwtError::Key(
                "issuer and audience must not be empty".to_owned(),
            ));
        }
        if settings.access_ttl_secs <= 0 {
            return Err(JwtError::Key(
                "access token lifetime must be positive".to_owned(),
            ));
        }
        let keys = keys::load(&settings.key)?;
        let previous = settings
            .previous
            .iter()
            .map(keys::load)
            .collect::<Result<Vec<_>, _>>()?;
        if previous.iter().any(|p| p.algorithm != keys.algorithm) {
            return Err(JwtError::Key(
                "previous keys must be of the signing key's algorithm".to_owned(),
            ));
        }
        let algorithm_name = match keys.algorithm {
            Algorithm::HS256 => "HS256",
            _ => "EdDSA",
        };

        let mut validation = Validation::new(keys.algorithm);
        validation.algorithms = vec![keys.algorithm];
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Time is checked in `verify` against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = true;
        validation.leeway = LEEWAY_SECS.unsigned_abs();

        let jwks = serde_json::json!({ "keys": keys.jwk.iter().collect::<Vec<_>>() });
        Ok(Self {
            inner: Arc::new(Inner {
                keys,
                previous,
                algorithm_name,
                validation,
                issuer: settings.issuer,
                audience: settings.audience,
                access_ttl_secs: settings.access_ttl_secs,
                jwks,
            }),
        })
    }

    /// [`Jwt::issue_for`] a user without roles or app metadata.
    #[cfg(test)]
    pub(crate) fn issue(
        &self,
        user_id: UserId,
        session_id: SessionId,
        now_secs: i64,
    ) -> Result<IssuedToken, JwtError> {
        let subject = Subject {
            id: user_id,
            roles: Roles::default(),
            app_metadata: AppMetadata::default(),
        };
        self.issue_for(&subject, session_id, now_secs)
    }

    /// Signs a new access token for `subject` (its id, roles and app
    /// metadata as claims) in login session `session_id`, valid from
    /// `now_secs` for the configured lifetime.
    pub fn issue_for(
        &self,
        subject: &Subject,
        session_id: SessionId,
        now_secs: i64,
    ) -> Result<IssuedToken, JwtError> {
        let inner = &self.inner;
        let jti = Uuid::new_v4();
        let expires_at = now_secs
            .checked_add(inner.access_ttl_secs)
            .ok_or_else(|| JwtError::Key("token expiry out of range".to_owned()))?;
        let claims = AccessClaims {
            sub: subject.id.to_string(),
            jti: jti.to_string(),
            iat: now_secs,
            exp: expires_at,
            iss: inner.issuer.clone(),
            aud: inner.audience.clone(),
            typ: ACCESS_TYP.to_owned(),
            sid: session_id.to_string(),
            roles: subject.roles.as_slice().to_vec(),
            app_metadata: subject.app_metadata.as_map().clone(),
        };
        let mut header = Header::new(inner.keys.algorithm);
        header.kid = inner.keys.kid.clone();
        let token = jsonwebtoken::encode(&header, &claims, &inner.keys.encoding)
            .map_err(|_| JwtError::Key("signing failed".to_owned()))?;
        Ok(IssuedToken {
            token,
            jti,
            issued_at: now_secs,
            expires_at,
        })
    }

    /// Verifies the signature with the pinned algorithm and the key its
    /// `kid` names (the signing key, or a previous one; an HS256 token with
    /// no `kid`, signed before tokens had one, with the signing key), then
    /// `typ == "access"`, `iss`, `aud`, the uuids, and `exp`/`iat` against
    /// `now_secs` with a leeway of [`LEEWAY_SECS`].
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<AccessClaims, JwtError> {
        let inner = &self.inner;
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Invalid("malformed"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(refusal)?;
        let keys = self.keys_named(header.kid.as_deref())?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &keys.decoding, &inner.validation)
            .map_err(refusal)?;

        let header = data.header;
        if header.alg != keys.algorithm {
            return Err(JwtError::Invalid("algorithm not allowed"));
        }
        if header.crit.is_some() {
            return Err(JwtError::Invalid("unsupported critical header"));
        }

        let claims = data.claims;
        if claims.typ != ACCESS_TYP {
            return Err(JwtError::Invalid("not an access token"));
        }
        if claims.iss != inner.issuer {
            return Err(JwtError::Invalid("wrong issuer"));
        }
        if claims.aud != inner.audience {
            return Err(JwtError::Invalid("wrong audience"));
        }
        if now_secs > claims.exp.saturating_add(LEEWAY_SECS) {
            return Err(JwtError::Invalid("expired"));
        }
        if claims.iat > now_secs.saturating_add(LEEWAY_SECS) {
            return Err(JwtError::Invalid("issued in the future"));
        }
        if claims.exp < claims.iat {
            return Err(JwtError::Invalid("expires before issued"));
        }
        claims.user_id()?;
        claims.session_id()?;
        claims.token_id()?;
        Ok(claims)
    }

    /// The key a token's `kid` names: the signing key or a previous one. An
    /// HS256 token without one was signed before tokens named their key.
    fn keys_named(&self, kid: Option<&str>) -> Result<&keys::KeyMaterial, JwtError> {
        let inner = &self.inner;
        let legacy = kid.is_none() && inner.keys.algorithm == Algorithm::HS256;
        if legacy || kid == inner.keys.kid.as_deref() {
            return Ok(&inner.keys);
        }
        inner
            .previous
            .iter()
            .find(|p| kid.is_some() && p.kid.as_deref() == kid)
            .ok_or(JwtError::Invalid("unknown key id"))
    }

    /// The fingerprint of the signing key (the HS256 secret, or the EdDSA
    /// public key), which reveals nothing of it.
    pub fn fingerprint(&self) -> &str {
        &self.inner.keys.fingerprint
    }

    /// The fingerprints of the previous keys.
    pub fn previous_fingerprints(&self) -> Vec<String> {
        self.inner
            .previous
            .iter()
            .map(|p| p.fingerprint.clone())
            .collect()
    }

    /// The public keys as a JWKS: the Ed25519 key for EdDSA, none for HS256.
    pub fn jwks(&self) -> serde_json::Value {
        self.inner.jwks.clone()
    }

    /// `"HS256"` or `"EdDSA"`.
    #[cfg(test)]
    pub(crate) fn algorithm_name(&self) -> &'static str {
        self.inner.algorithm_name
    }

    /// The `kid` written into token headers.
    pub fn kid(&self) -> Option<&str> {
        self.inner.keys.kid.as_deref()
    }

    /// Lifetime of an access token, in seconds.
    pub fn access_ttl_secs(&self) -> i64 {
        self.inner.access_ttl_secs
    }
}

/// A non-secret reason for a refusal by jsonwebtoken.
fn refusal(error: jsonwebtoken::errors::Error) -> JwtError {
    JwtError::Invalid(match error.kind() {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidEddsaKey => "algorithm not allowed",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::MissingRequiredClaim(_)
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::InvalidSubject => "bad claims",
        _ => "malformed",
    })
}
