//! The admin API (`/api/v1/admin/…`): for operators and the app's own
//! backend, with an admin key (`authd admin create-key`), never from a
//! browser (no CORS). One API, as poem-openapi keeps one per path.

mod auth;
mod create;
mod deliveries;
mod views;

pub use auth::{AdminKeyAuth, is_admin_path};

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use tracing::instrument;

use actors::UserId;
use actors::admin::parse_delivery_status;
use actors::admin::{StatusFilter, UserQuery};

use crate::ApiState;
use crate::body::JsonBody;
use crate::client::Client;
use crate::error::ApiError;
use crate::events::{EventPage, decode, encode, event_view};
use crate::outcomes;
use crate::reply::Reply;
use crate::tags::ApiTag;
use create::CreateUserRequest;
use deliveries::{DeliveryData, DeliveryPage, delivery_id};
use views::{AdminUserData, UpdateUserRequest, UserPage, decode_cursor, encode_cursor};

/// Users or events per page unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 20;

outcomes!(ReadOutcomes: 200, [400, 401, 404, 429, 500, 503]);
outcomes!(WriteOutcomes: 200, [400, 401, 403, 404, 409, 413, 429, 500, 503]);
outcomes!(ActionOutcomes: 200, [401, 403, 404, 429, 500, 503]);
outcomes!(ListOutcomes: 200, [400, 401, 429, 500, 503]);
outcomes!(ActionConflictOutcomes: 200, [401, 403, 404, 409, 429, 500, 503]);
outcomes!(CreateOutcomes: 201, [400, 401, 403, 409, 413, 429, 500, 503]);

/// A user id from the path: one that is not a UUID names no user (404).
fn user_id(id: &str) -> Result<UserId, ApiError> {
    id.parse::<uuid::Uuid>()
        .map(UserId)
        .map_err(|_| ApiError::from(actors::DomainError::UserNotFound))
}

pub struct AdminApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "ApiTag::Admin")]
impl AdminApi {
    /// List users
    ///
    /// Users, newest first, a page at a time. `q` is the start of an
    /// address (compared normalised) or a user id; `status` is one of
    /// `active` (verified and not disabled), `unverified`, `disabled`,
    /// `locked`.
    #[oai(path = "/users/", method = "get", operation_id = "adminListUsers")]
    #[instrument(skip_all, fields(admin = %auth.0.name))]
    async fn list_users(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: AdminKeyAuth,
        /// The start of an address, or a user id.
        #[oai(validator(max_length = 254))]
        q: Query<Option<String>>,
        /// active, unverified, disabled or locked.
        #[oai(validator(max_length = 20))]
        status: Query<Option<String>>,
        /// Users per page, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        #[oai(validator(max_length = 200))]
        cursor: Query<Option<String>>,
    ) -> Result<Reply<UserPage, ReadOutcomes>, ApiError> {
        let query = UserQuery {
            q: q.0,
            status: status.0.as_deref().map(StatusFilter::parse).transpose()?,
            cursor: cursor.0.as_deref().map(decode_cursor).transpose()?,
        };
        let limit = u64::from(limit.0.unwrap_or(DEFAULT_LIMIT));
        let (users, next) = state.admin.users(query, limit).await?;
        Ok(Reply::ok(
            "Users",
            UserPage {
                users: users.into_iter().map(Into::into).collect(),
                next_cursor: next.map(encode_cursor),
            },
        ))
    }

    /// Create a user
    ///
    /// Makes an account with the fields of a registration, checked by its
    /// rules, plus `email_verified`, `roles` and `app_metadata`. Without
    /// `password` the account has none (no login by password succeeds)
    /// and the address is mailed an invitation: a link to choose a
    /// password (`{AUTH_PUBLIC_URL}/reset-password?token=…`, used with
    /// password-reset-confirm, which also verifies the address), valid 7
    /// days. With a password and an unverified address, the verification
    /// mail of a registration goes out. 409 when the address has an
    /// account. A `registered` event with `actor`; `user.created`. Needs a
    /// key that is not read-only.
    #[oai(path = "/users/", method = "post", operation_id = "adminCreateUser")]
    #[instrument(skip_all, fields(admin = %auth.0.name))]
    async fn create_user(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        auth: AdminKeyAuth,
        body: JsonBody<CreateUserRequest>,
    ) -> Result<Reply<AdminUserData, CreateOutcomes>, ApiError> {
        auth.0.may_write()?;
        let new = body.0.parse()?;
        let user = state.admin.create_user(&auth.0, new, &client.0).await?;
        Ok(Reply::ok(
            "User created",
            AdminUserData { user: user.into() },
        ))
    }

    /// Mail a user a password reset link
    ///
    /// The mail of the user's own password-reset request: a single-use
    /// link valid 24 hours; earlier reset links stop working. Not counted
    /// in the per-address mail limit of the public endpoint. A disabled
    /// account -> 409 (its link would not work). A `reset_requested`
    /// event with `actor`. Needs a key that is not read-only.
    #[oai(
        path = "/users/:id/send-password-reset/",
        method = "post",
        operation_id = "adminSendPasswordReset"
    )]
    #[instrument(skip_all, fields(admin = %auth.0.name))]
    async fn send_password_reset(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        auth: AdminKeyAuth,
        /// The user's id.
        id: Path<String>,
    ) -> Result<Reply<crate::reply::NoData, ActionConflictOutcomes>, ApiError> {
        let id = user_id(&id.0)?;
        state
            .admin
            .send_password_reset(&auth.0, id, &client.0)
            .await?;
        Ok(Reply::message(
            "A password reset link was mailed to the user",
        ))
    }

    /// Get a user
    ///
    /// The user object plus what only an admin sees: `disabled`,
    /// `locked_until`, `last_login_at`, and how many passkeys and live
    /// sessions it has.
    #[oai(path = "/users/:id/", method = "get", operation_id = "adminGetUser")]
    #[instrument(skip_all, fields(admin = %auth.0.name))]
    async fn get_user(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: AdminKeyAuth,
        /// The user's id.
        id: Path<String>,
    ) -> Result<Reply<AdminUserData, ReadOutcomes>, ApiError> {
        let user = state.admin.user(user_id(&id.0)?).await?;
        Ok(Reply::ok("User", AdminUserData { user: user.into() }))
    }

    /// Change a user
    ///
    /// Changes the fields given (a field left out, or `null`, stays as it
    /// is; `company_name: null` clears it). A new `email` is set at once:
    /// the old address is told, the user's reset, verification and
    /// pending address-change links stop working, and the new address is
    /// verified with `email_verified: true`, else mailed a verification
    /// link; sessions stay; another account's address -> 409.
    /// `disabled: true` ends every session at once (on every node within
    /// a second) and refuses logins
    /// (403 `Account disabled` after a right password) until `disabled:
    /// false`. Roles and app metadata show in access tokens issued after
    /// the change. Each change is a security event of the user with
    /// `actor: "admin:<key name>"`. Needs a key that is not read-only.
    #[oai(
        path = "/users/:id/",
        method = "patch",
        operation_id = "adminUpdateUser"
    )]
    #[instrument(skip_all, fields(admin = %auth.0.name))]
    async fn update_user(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        auth: AdminKeyAuth,
        /// The user's id.
        id: Path<String>,
        body: JsonBody<UpdateUserRequest>,
    ) -> Result<Reply<AdminUserData, WriteOutcomes>, ApiError> {
        auth.0.may_write()?;
        let id = user_id(&id.0)?;
        let change = body.0.parse()?;
        let user = state
            .admin
            .change_user(&auth.0, id, change, &client.0)
            .await?;
        Ok(Reply::ok(
            "User updated",
            AdminUserData { user: user.into() },
        ))
    }

    /// End a user's sessions
    ///
    /// Ends every session of the user (refresh tokens and the access tokens
    /// issued in them are refused on every node within a second).
    #[oai(
        path = "/users/:id/logout/",
        method = "post",
        operation_id = "adminLogoutUser"
    )]
    #[instrument(skip_all, fields(admin = %auth.0.name))]
    async fn logout_user(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        auth: AdminKeyAuth,
        /// The user's id.
        id: Path<String>,
    ) -> Result<Reply<crate::reply::NoData, ActionOutcomes>, ApiError> {
        let id = user_id(&id.0)?;
        state.admin.logout_user(&auth.0, id, &client.0).await?;
        Ok(Reply::message("Every session of the user has ended"))
    }

    /// Unlock a user
    ///
    /// Clears the account's lock and its count of failed attempts.
    #[oai(
        path = "/users/:id/unlock/",
        method = "post",
        operation_id = "adminUnlockUser"
    )]
    #[instrument(skip_all, fields(admin = %auth.0.name))]
    async fn unlock_user(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        auth: AdminKeyAuth,
        /// The user's id.
        id: Path<String>,
    ) -> Result<Reply<AdminUserData, ActionOutcomes>, ApiError> {
        let id = user_id(&id.0)?;
        let user = state.admin.unlock_user(&auth.0, id, &client.0).await?;
        Ok(Reply::ok(
            "User unlocked",
            AdminUserData { user: user.into() },
        ))
    }

    /// Delete a user
    ///
    /// Deletes the user exactly as its own deletion does, without
    /// re-authentication: in one transaction every session ends (access
    /// tokens are refused on every node within a second), the user and
    /// everything keyed to it are deleted and the failures counted for its
    /// address forgotten; one mail (no link) says an administrator deleted
    /// the account; a bare `account_deleted` event (the user id, and
    /// `actor: "admin:<key name>"`) stays, and `user.deleted` is sent to
    /// webhooks. Of parallel deletions of one user one answers 200, the
    /// others 404. Needs a key that is not read-only.
    #[oai(
        path = "/users/:id/",
        method = "delete",
        operation_id = "adminDeleteUser"
    )]
    #[instrument(skip_all, fields(admin = %auth.0.name))]
    async fn delete_user(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: AdminKeyAuth,
        /// The user's id.
        id: Path<String>,
    ) -> Result<Reply<crate::reply::NoData, ActionOutcomes>, ApiError> {
        let id = user_id(&id.0)?;
        state.admin.delete_user(&auth.0, id).await?;
        Ok(Reply::message("User deleted"))
    }

    /// Reset a user's second factors
    ///
    /// Removes the user's TOTP secret, backup codes and passkeys. A
    /// credential change: every session ends (on every node within a
    /// second), a login waiting for its second step cannot finish, and the
    /// next login asks for the password alone. Records `mfa_disabled`
    /// (when TOTP was on) and one `passkey_removed` per passkey, with
    /// `actor: "admin:<key name>"`; sends `user.mfa_disabled` (when TOTP
    /// was on); mails the owner that an administrator did it. A user with
    /// neither TOTP on nor a passkey is left as it is (200, no event, no
    /// mail). Needs a key that is not read-only.
    #[oai(
        path = "/users/:id/reset-mfa/",
        method = "post",
        operation_id = "adminResetUserMfa"
    )]
    #[instrument(skip_all, fields(admin = %auth.0.name))]
    async fn reset_user_mfa(
        &self,
        state: Data<&Arc<ApiState>>,
        client: Client,
        auth: AdminKeyAuth,
        /// The user's id.
        id: Path<String>,
    ) -> Result<Reply<AdminUserData, ActionOutcomes>, ApiError> {
        let id = user_id(&id.0)?;
        let user = state.admin.reset_mfa(&auth.0, id, &client.0).await?;
        Ok(Reply::ok(
            "Second factors reset",
            AdminUserData { user: user.into() },
        ))
    }

    /// List a user's security events
    ///
    /// As the user's own list, newest first; an admin's change carries
    /// `actor`.
    #[oai(
        path = "/users/:id/events/",
        method = "get",
        operation_id = "adminListUserEvents"
    )]
    #[instrument(skip_all, fields(admin = %auth.0.name))]
    async fn user_events(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: AdminKeyAuth,
        /// The user's id.
        id: Path<String>,
        /// Events per page, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The `next_before` of the previous page.
        #[oai(validator(max_length = 200))]
        before: Query<Option<String>>,
    ) -> Result<Reply<EventPage, ReadOutcomes>, ApiError> {
        let id = user_id(&id.0)?;
        let before = before.0.as_deref().map(decode).transpose()?;
        let limit = u64::from(limit.0.unwrap_or(DEFAULT_LIMIT));
        let (rows, next) = state.admin.user_events(id, before, limit).await?;
        Ok(Reply::ok(
            "Security events",
            EventPage {
                events: rows.into_iter().map(|e| event_view(e, None)).collect(),
                next_before: next.map(encode),
            },
        ))
    }

    /// List everyone's security events
    ///
    /// Every user's events, newest first, of one kind when `kind` is
    /// given; each carries its `user_id`.
    #[oai(path = "/events/", method = "get", operation_id = "adminListEvents")]
    #[instrument(skip_all, fields(admin = %auth.0.name))]
    async fn events(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: AdminKeyAuth,
        /// An event kind (`login_failed` ...); an unknown one lists nothing.
        #[oai(validator(max_length = 64, pattern = "^[a-z_]+$"))]
        kind: Query<Option<String>>,
        /// Events per page, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The `next_before` of the previous page.
        #[oai(validator(max_length = 200))]
        before: Query<Option<String>>,
    ) -> Result<Reply<EventPage, ReadOutcomes>, ApiError> {
        let before = before.0.as_deref().map(decode).transpose()?;
        let limit = u64::from(limit.0.unwrap_or(DEFAULT_LIMIT));
        let (rows, next) = state.admin.events(kind.0.as_deref(), before, limit).await?;
        Ok(Reply::ok(
            "Security events",
            EventPage {
                events: rows
                    .into_iter()
                    .map(|(user, e)| event_view(e, Some(user.as_uuid())))
                    .collect(),
                next_before: next.map(encode),
            },
        ))
    }

    /// List webhook deliveries
    ///
    /// Webhook deliveries (one per event and endpoint), newest first, a
    /// page at a time; `status` is one of `pending`, `delivered`,
    /// `failed`. Never a body or a signature. Read-only keys may list.
    #[oai(
        path = "/webhooks/deliveries/",
        method = "get",
        operation_id = "adminListWebhookDeliveries"
    )]
    #[instrument(skip_all, fields(admin = %auth.0.name))]
    async fn webhook_deliveries(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: AdminKeyAuth,
        /// pending, delivered or failed.
        #[oai(validator(max_length = 20))]
        status: Query<Option<String>>,
        /// Deliveries per page, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        #[oai(validator(max_length = 200))]
        cursor: Query<Option<String>>,
    ) -> Result<Reply<DeliveryPage, ListOutcomes>, ApiError> {
        let status = status.0.as_deref().map(parse_delivery_status).transpose()?;
        let cursor = cursor.0.as_deref().map(decode_cursor).transpose()?;
        let limit = u64::from(limit.0.unwrap_or(DEFAULT_LIMIT));
        let (rows, next) = state.admin.deliveries(status, cursor, limit).await?;
        Ok(Reply::ok(
            "Webhook deliveries",
            DeliveryPage {
                deliveries: rows.into_iter().map(Into::into).collect(),
                next_cursor: next.map(encode_cursor),
            },
        ))
    }

    /// Retry a failed webhook delivery
    ///
    /// Sends a `failed` delivery again at once, with the same `webhook-id`
    /// and body, and the whole retry schedule ahead of it (its attempts
    /// count from 0 again). 409 when it is pending or delivered (of
    /// retries of one delivery at once, one succeeds). Logged with the
    /// key's name; not a security event of any user. Needs a key that is
    /// not read-only.
    #[oai(
        path = "/webhooks/deliveries/:id/retry/",
        method = "post",
        operation_id = "adminRetryWebhookDelivery"
    )]
    #[instrument(skip_all, fields(admin = %auth.0.name))]
    async fn retry_webhook_delivery(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: AdminKeyAuth,
        /// The delivery's id.
        id: Path<String>,
    ) -> Result<Reply<DeliveryData, ActionConflictOutcomes>, ApiError> {
        auth.0.may_write()?;
        let id = delivery_id(&id.0)?;
        let delivery = state.admin.retry_delivery(&auth.0, id).await?;
        Ok(Reply::ok(
            "Webhook delivery queued again",
            DeliveryData {
                delivery: delivery.into(),
            },
        ))
    }
}
