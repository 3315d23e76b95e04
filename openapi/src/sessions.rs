//! The caller's sessions: list them, end one, end all.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::{Object, OpenApi};
use tracing::instrument;

use actors::SessionId;
use actors::views::Session;

use crate::ApiState;
use crate::error::ApiError;
use crate::outcomes;
use crate::reply::{NoData, Reply};
use crate::security::BearerAuth;
use crate::tags::ApiTag;
use crate::time::rfc3339;

/// One active login session.
#[derive(Object, Debug)]
pub struct SessionView {
    /// The session's id (for `DELETE /api/v1/auth/sessions/{id}/`).
    pub id: uuid::Uuid,
    /// When the login that started it completed (RFC 3339).
    pub created_at: String,
    /// When it last issued tokens: its login, or its latest refresh
    /// (RFC 3339).
    pub last_used_at: String,
    /// The client IP of the login that started it.
    #[oai(nullable)]
    pub ip: Option<String>,
    /// The user agent of the login that started it (cut to 256 characters).
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// Whether this is the session of the access token of this request.
    pub current: bool,
}

/// The caller's active sessions.
#[derive(Object, Debug)]
pub struct SessionList {
    /// Newest first (by `created_at`), at most 100.
    pub sessions: Vec<SessionView>,
}

outcomes!(ListOutcomes: 200, [401, 500, 503]);
outcomes!(EndOneOutcomes: 200, [400, 401, 404, 500, 503]);
outcomes!(EndAllOutcomes: 200, [400, 401, 413, 429, 500, 503]);

pub struct SessionsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTag::Auth")]
impl SessionsApi {
    /// List my sessions
    ///
    /// The caller's active login sessions, newest first: where and when
    /// each started, when it last issued tokens, and which one is this.
    #[oai(
        path = "/auth/sessions/",
        method = "get",
        operation_id = "listSessions"
    )]
    #[instrument(skip_all)]
    async fn list(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
    ) -> Result<Reply<SessionList, ListOutcomes>, ApiError> {
        let current = auth.0.session_id;
        let sessions = state
            .auth
            .sessions_of(&auth.0)
            .await?
            .into_iter()
            .map(|s| view(s, current))
            .collect();
        Ok(Reply::ok("Active sessions", SessionList { sessions }))
    }

    /// End one of my sessions
    ///
    /// Revokes the session's refresh token and every access token issued
    /// in it, on every node. Ending the caller's own session logs it out.
    /// Another user's session, or one already ended, is 404.
    #[oai(
        path = "/auth/sessions/:id/",
        method = "delete",
        operation_id = "endSession"
    )]
    #[instrument(skip_all)]
    async fn end_one(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
        /// The session's id, from the list.
        id: Path<uuid::Uuid>,
    ) -> Result<Reply<NoData, EndOneOutcomes>, ApiError> {
        state.auth.end_session(&auth.0, SessionId(id.0)).await?;
        Ok(Reply::message("Session ended"))
    }

    /// End all my sessions
    ///
    /// Revokes every session of the caller, this one included, on every
    /// node: every refresh token and every access token of the user stop
    /// working.
    #[oai(
        path = "/auth/logout-all/",
        method = "post",
        operation_id = "logoutAll"
    )]
    #[instrument(skip_all)]
    async fn logout_all(
        &self,
        state: Data<&Arc<ApiState>>,
        auth: BearerAuth,
    ) -> Result<Reply<NoData, EndAllOutcomes>, ApiError> {
        state.auth.logout_all(&auth.0).await?;
        Ok(Reply::message("Logged out of every session"))
    }
}

fn view(s: Session, current: SessionId) -> SessionView {
    SessionView {
        id: s.id.0,
        created_at: rfc3339(s.created_at),
        last_used_at: rfc3339(s.last_used_at),
        ip: s.ip,
        user_agent: s.user_agent,
        current: s.id == current,
    }
}
