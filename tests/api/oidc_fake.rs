//! A small fake OpenID provider, for what the real one (`oidc_provider.rs`)
//! cannot do on purpose: its discovery document may name another issuer,
//! and its token endpoint answers any code with the ID token the test made
//! (signed with any key, any `alg`, any claims). It has no login page (the
//! test reads `state` and `nonce` from authd's authorize URL and calls the
//! callback itself) and no userinfo endpoint (its ID tokens carry the
//! address). It counts the JWKS fetches, to see authd's refetch throttle.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Json};
use poem::{EndpointExt, Route, Server, handler};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// An RSA signing key (2048 bits) and its `kid`.
pub(crate) struct RsaKey {
    kid: String,
    pair: KeyPair,
}

impl RsaKey {
    pub(crate) fn generate(kid: &str) -> Self {
        RsaKey {
            kid: kid.to_owned(),
            pair: KeyPair::generate(KeySize::Rsa2048).unwrap(),
        }
    }

    /// Its public half as a JWK.
    pub(crate) fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// `claims` signed (RS256), with this key's `kid` in the header.
    pub(crate) fn id_token(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let input = signing_input(&header, claims);
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// `header.claims`, base64url, the part of a JWS that is signed.
pub(crate) fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[derive(Default)]
struct Shared {
    /// What the discovery document says.
    document: Value,
    /// The published JWKS.
    jwks: Value,
    jwks_fetches: usize,
    /// What the token endpoint answers as `id_token`.
    id_token: Option<String>,
}

type State = Arc<Mutex<Shared>>;

/// The fake provider on 127.0.0.1, stopped when dropped.
pub(crate) struct FakeProvider {
    /// `http://127.0.0.1:<port>`: where it is, and (unless it was started
    /// [`FakeProvider::claiming`] another one) the issuer it names.
    pub(crate) issuer: String,
    /// The key it publishes (`kid` "fake-1").
    pub(crate) key: RsaKey,
    shared: State,
    stop: CancellationToken,
}

impl FakeProvider {
    /// On a free port, naming itself as the issuer.
    pub(crate) async fn start() -> Self {
        Self::start_on(0, None).await
    }

    /// On `port` (0: a free one); its discovery document names
    /// `claimed_issuer`, or itself.
    pub(crate) async fn start_on(port: u16, claimed_issuer: Option<&str>) -> Self {
        let acceptor = TcpListener::bind(format!("127.0.0.1:{port}"))
            .into_acceptor()
            .await
            .unwrap();
        let port = acceptor.local_addr()[0]
            .as_socket_addr()
            .map(|a| a.port())
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let key = RsaKey::generate("fake-1");
        let shared = Shared {
            document: json!({
                "issuer": claimed_issuer.unwrap_or(&base),
                "authorization_endpoint": format!("{base}/authorize"),
                "token_endpoint": format!("{base}/token"),
                "jwks_uri": format!("{base}/jwks"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "scopes_supported": ["openid", "email", "profile"],
            }),
            jwks: json!({"keys": [key.jwk()]}),
            ..Shared::default()
        };
        let shared: State = Arc::new(Mutex::new(shared));
        let stop = CancellationToken::new();
        let app = Route::new()
            .at("/.well-known/openid-configuration", poem::get(discovery))
            .at("/jwks", poem::get(jwks))
            .at("/token", poem::post(token))
            .data(shared.clone());
        let stopped = stop.clone();
        tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(app, stopped.cancelled_owned(), Some(Duration::ZERO))
                .await;
        });
        FakeProvider {
            issuer: base,
            key,
            shared,
            stop,
        }
    }

    /// On a free port, its discovery document naming `issuer` instead.
    pub(crate) async fn claiming(issuer: &str) -> Self {
        Self::start_on(0, Some(issuer)).await
    }

    /// The token endpoint answers every code with `id_token` from now on.
    pub(crate) fn answer_with(&self, id_token: &str) {
        self.shared.lock().unwrap().id_token = Some(id_token.to_owned());
    }

    /// Changes the discovery document (e.g. the algorithms it advertises).
    pub(crate) fn set_document(&self, field: &str, value: Value) {
        self.shared.lock().unwrap().document[field] = value;
    }

    /// How many times its JWKS was fetched.
    pub(crate) fn jwks_fetches(&self) -> usize {
        self.shared.lock().unwrap().jwks_fetches
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[handler]
fn discovery(shared: Data<&State>) -> Json<Value> {
    Json(shared.lock().unwrap().document.clone())
}

#[handler]
fn jwks(shared: Data<&State>) -> Json<Value> {
    let mut shared = shared.lock().unwrap();
    shared.jwks_fetches += 1;
    Json(shared.jwks.clone())
}

#[handler]
fn token(shared: Data<&State>) -> Json<Value> {
    let id_token = shared.lock().unwrap().id_token.clone();
    Json(json!({
        "access_token": "fake-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
}
