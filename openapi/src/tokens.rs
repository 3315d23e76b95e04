//! The token API (`TokenApi`): login, refresh, logout and token
//! verification. (A *session* is the family of refresh tokens of one
//! login; the session list is `sessions.rs`.)

use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::{Object, OpenApi, SecurityScheme};
use serde::Deserialize;
use tracing::instrument;

use actors::attempts::{LoggedIn, LoginOutcome};
use actors::views::Account;

use crate::ApiState;
use crate::body::{JsonBody, OptionalJsonBody};
use crate::client::Client;
use crate::error::ApiError;
use crate::outcomes;
use crate::reply::{NoData, Reply};
use crate::security::BearerAuth;
use crate::tags::ApiTag;

/// Email and password.
#[derive(Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The address the account was registered with (any letter case).
    pub email: String,
    /// The account's password.
    #[oai(write_only)]
    pub password: String,
    /// The `device_token` of an earlier completed login of this account,
    /// if the client has one: this login then has its own failure budget
    /// and is not refused because of failures from elsewhere.
    #[oai(write_only, nullable)]
    pub device_token: Option<String>,
}

/// A refresh token from login or an earlier refresh.
#[derive(Object, Deserialize, Default)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The opaque refresh token; each one works once. Browser apps with
    /// `AUTH_REFRESH_COOKIE=on` leave it out (or send `{}` or no body):
    /// the `__Host-authd_refresh` cookie is used instead.
    #[oai(write_only, nullable)]
    pub refresh_token: Option<String>,
}

/// Optionally, the refresh token to revoke with the access token; without
/// an access token, the refresh token whose session ends.
#[derive(Object, Deserialize, Default)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// The refresh token of this session (the one issued with the access
    /// token is revoked in any case).
    #[oai(write_only, nullable)]
    pub refresh_token: Option<String>,
    /// Synonym of `refresh_token`.
    #[oai(write_only, nullable)]
    pub token: Option<String>,
}

/// A user.
#[derive(Object, Debug)]
pub struct UserView {
    /// The user's id.
    pub id: uuid::Uuid,
    /// The address as registered.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Company, or `null` if none was given.
    #[oai(nullable)]
    pub company_name: Option<String>,
    /// Whether the email address has been verified.
    pub is_email_verified: bool,
    /// Whether two-factor authentication is on.
    pub mfa_enabled: bool,
    /// When the account was created (RFC 3339).
    pub created_at: String,
    /// Roles given by the app's backend through the admin API; read-only
    /// here. `[]` when none.
    pub roles: Vec<String>,
    /// Data about the user set by the app's backend through the admin API;
    /// read-only here. `{}` when none.
    pub app_metadata: std::collections::BTreeMap<String, serde_json::Value>,
}

impl From<Account> for UserView {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.0,
            email: a.email,
            first_name: a.first_name,
            last_name: a.last_name,
            company_name: a.company_name,
            is_email_verified: a.email_verified,
            mfa_enabled: a.mfa_enabled,
            created_at: crate::time::rfc3339(a.created_at),
            roles: a.roles.into_vec(),
            app_metadata: a.app_metadata.into_map().into_iter().collect(),
        }
    }
}

/// Tokens of a completed login.
#[derive(Object)]
pub struct LoginData {
    /// The access token (JWT), for `Authorization: Bearer`.
    pub token: String,
    /// The refresh token: opaque, single use, rotated on every refresh.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The user who logged in.
    pub user: UserView,
    /// Marks this client as a known device of the account: opaque,
    /// long-lived; send it with later logins (keep the newest).
    pub device_token: String,
}

/// The first login step passed; a code must follow (2FA is on).
#[derive(Object)]
pub struct MfaChallenge {
    /// Always `true`.
    pub mfa_required: bool,
    /// For `auth/mfa/verify` or `2fa/recover`: single use, 5 minutes, void
    /// after 5 wrong codes.
    pub mfa_token: String,
    /// Seconds until the `mfa_token` expires.
    pub expires_in: i64,
    /// The second factors the account has: `totp` (a code, or a backup
    /// code with `2fa/recover`), and `passkey` when it has one (use
    /// `auth/mfa/passkey/start`).
    pub factors: Vec<String>,
}

/// What a right password gets: tokens, or with 2FA on a challenge.
// One short-lived value per login answer: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(poem_openapi::Union, Debug)]
#[oai(one_of)]
pub enum LoginResult {
    Tokens(LoginData),
    Mfa(MfaChallenge),
}

/// What a completed first step answers (a password login, or a sign-in
/// with another provider): tokens (and the refresh cookie), or the second
/// step's challenge.
pub(crate) fn login_reply<O: crate::reply::Outcomes>(
    state: &ApiState,
    outcome: LoginOutcome,
) -> Reply<LoginResult, O> {
    match outcome {
        LoginOutcome::Done(done) => {
            let cookie = state.refresh_cookie.set(&done.tokens.refresh_token);
            Reply::ok("Login successful", LoginResult::Tokens(done.into())).with_cookie(cookie)
        }
        LoginOutcome::MfaRequired {
            mfa_token,
            expires_in,
            factors,
        } => Reply::ok(
            "Enter the code from your authenticator app",
            LoginResult::Mfa(MfaChallenge {
                mfa_required: true,
                mfa_token: mfa_token.to_string(),
                expires_in,
                factors: factors.into_iter().map(str::to_owned).collect(),
            }),
        ),
    }
}

impl From<LoggedIn> for LoginData {
    fn from(done: LoggedIn) -> Self {
        let user = done.account().into();
        LoginData {
            token: done.tokens.access_token,
            refresh_token: done.tokens.refresh_token.to_string(),
            token_type: "Bearer".into(),
            expires_in: done.tokens.expires_in,
            user,
            device_token: done.device_token.to_string(),
        }
    }
}

/// A new token pair.
#[derive(Object)]
pub struct TokenData {
    /// The new access token (JWT).
    pub token: String,
    /// The new refresh token; the one presented no longer works.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// The owner of a valid access token.
#[derive(Object, Debug)]
pub struct VerifiedToken {
    /// The user the token belongs to.
    pub user: UserView,
    /// When the token expires (Unix seconds).
    pub expires_at: i64,
}

outcomes!(LoginOutcomes: 200, [400, 401, 403, 413, 429, 500, 503]);
outcomes!(RefreshOutcomes: 200, [400, 401, 403, 413, 429, 500, 503]);
outcomes!(LogoutOutcomes: 200, [400, 401, 403, 413, 500, 503]);
outcomes!(VerifyTokenOutcomes: 200, [401, 500, 503]);

pub struct TokenApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTag::Auth")]
impl TokenApi {
    /// Log in
    ///
    /// Checks the email and password and returns an access token (JWT, 60
    /// minutes) and a refresh token; with 2FA on, `mfa_required` and an
    /// `mfa_token` for `auth/mfa/verify` or `2fa/recover` instead. Wrong email and wrong password get the
    /// same 401. After 5 consecutive failures the account is locked (429
    /// with `retry_after`), except for a client that presents a valid
    /// `device_token` of the account: it has its own budget of 5, after
    /// which its token is void. An unverified email gets 403.
    #[oai(path = "/auth/login/", method = "post", operation_id = "login")]
    #[instrument(skip_all)]
    async fn login(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        body: JsonBody<LoginRequest>,
    ) -> Result<Reply<LoginResult, LoginOutcomes>, ApiError> {
        let b = body.0;
        let outcome = state
            .auth
            .login(&b.email, &b.password, b.device_token.as_deref(), &client.0)
            .await?;
        Ok(login_reply(&state, outcome))
    }

    /// Refresh tokens
    ///
    /// Exchanges a refresh token for a new access and refresh token. Each
    /// refresh token works once: presenting one again revokes every token
    /// of its login session. Limited per client IP and per session (60 a
    /// minute by default): 429 with `retry_after`, and the token presented
    /// stays usable. With `AUTH_REFRESH_COOKIE=on` a body without a token
    /// uses the `__Host-authd_refresh` cookie, which needs an allowed
    /// `Origin` and `X-Requested-With: authd` (403 otherwise).
    #[oai(
        path = "/auth/token/refresh/",
        method = "post",
        operation_id = "refreshToken"
    )]
    #[instrument(skip_all)]
    async fn refresh(
        &self,
        state: Data<&Arc<ApiState>>,
        req: &Request,
        client: Client,
        body: OptionalJsonBody<RefreshRequest>,
    ) -> Result<Reply<TokenData, RefreshOutcomes>, ApiError> {
        let presented = state
            .refresh_cookie
            .presented(req, body.0.refresh_token)?
            .ok_or_else(no_refresh_token)?;
        let pair = state.auth.refresh(&presented.token, &client.0).await?;
        let cookie = state.refresh_cookie.set(&pair.refresh_token);
        Ok(Reply::ok(
            "Token refreshed",
            TokenData {
                token: pair.access_token,
                refresh_token: pair.refresh_token.to_string(),
                token_type: "Bearer".into(),
                expires_in: pair.expires_in,
            },
        )
        .with_cookie(cookie))
    }

    /// Log out
    ///
    /// Revokes this access token and the refresh tokens of its session, on
    /// every node. Without a valid access token (none, or expired), a
    /// refresh token (in the body, or the cookie with
    /// `AUTH_REFRESH_COOKIE=on`) names the session to end. Clears the
    /// refresh cookie.
    #[oai(path = "/auth/logout/", method = "post", operation_id = "logout")]
    #[instrument(skip_all)]
    async fn logout(
        &self,
        state: Data<&Arc<ApiState>>,
        req: &Request,
        client: Client,
        auth: LogoutAuth,
        body: OptionalJsonBody<LogoutRequest>,
    ) -> Result<Reply<NoData, LogoutOutcomes>, ApiError> {
        let given = body.0.refresh_token.or(body.0.token);
        let presented = state.refresh_cookie.presented(req, given)?;
        let refresh = presented.as_ref().map(|p| p.token.as_str());
        match (auth, refresh) {
            (LogoutAuth::Bearer(who), refresh) => state.auth.logout(&who.0, refresh).await?,
            (LogoutAuth::RefreshTokenOnly, Some(token)) => {
                state.auth.logout_by_refresh(token, &client.0).await?
            }
            (LogoutAuth::RefreshTokenOnly, None) => return Err(no_refresh_token()),
        }
        Ok(Reply::message("Logged out").with_cookie(state.refresh_cookie.clear()))
    }

    /// Verify a token
    ///
    /// For other services: checks the bearer access token (signature,
    /// expiry, revocation, user still active) and returns its user.
    #[oai(
        path = "/auth/verify-token/",
        method = "get",
        operation_id = "verifyToken"
    )]
    async fn verify_token(&self, auth: BearerAuth) -> Reply<VerifiedToken, VerifyTokenOutcomes> {
        Reply::ok(
            "Token is valid",
            VerifiedToken {
                user: auth.0.account().into(),
                expires_at: auth.0.claims.exp,
            },
        )
    }
}

/// Who is logging out: the bearer of a valid access token, or (no valid
/// access token) whoever presents a refresh token.
#[derive(SecurityScheme)]
pub enum LogoutAuth {
    Bearer(BearerAuth),
    #[oai(fallback)]
    RefreshTokenOnly,
}

fn no_refresh_token() -> ApiError {
    ApiError::from(actors::DomainError::Unauthorized)
}

/// Public signing keys.
pub struct KeysApi;

/// A JSON Web Key Set.
#[derive(Object, Debug)]
pub struct Jwks {
    /// The public keys access tokens are signed with (empty with HS256).
    pub keys: Vec<serde_json::Value>,
}

#[OpenApi(tag = "ApiTag::Auth")]
impl KeysApi {
    /// Signing keys (JWKS)
    ///
    /// The public keys that verify access tokens when authd signs with
    /// EdDSA; empty with HS256, whose secret is never published.
    #[oai(path = "/.well-known/jwks.json", method = "get", operation_id = "jwks")]
    async fn jwks(&self, state: Data<&Arc<ApiState>>) -> poem_openapi::payload::Json<Jwks> {
        let keys = state.auth.jwt.jwks()["keys"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        poem_openapi::payload::Json(Jwks { keys })
    }
}
