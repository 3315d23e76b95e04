//! Login sessions: issuing an access/refresh pair, rotating refresh tokens
//! with reuse detection, and revoking a whole session (logout, reuse).
//! Single use is decided by conditional updates in the database.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use tracing::{info, warn};
use uuid::Uuid;

use crate::DomainError;
use crate::alerts::{Alert, Alerts};
use crate::attempts::Budget;
pub(crate) use crate::attempts::TokenPair;
use crate::audit::{self, Event, EventKind};
use crate::context::RequestContext;
use crate::domain::{AppMetadata, Roles, SessionId, UserId};
use crate::jwt::{Jwt, Subject};
use crate::lockout::LockState;
use crate::one_time::{self, NewToken};
use crate::rate_limit::{RateLimiter, RetryAfter};
use crate::revocation;
use crate::store::SessionScope;
use crate::store::refresh_rotation::{self, Claim};
use crate::store::{devices, refresh_tokens, sessions, users};
use crate::webhooks;
use crate::work::Work;
use zeroize::Zeroizing;

/// Whom a login's access token is for, as the user's row is now.
fn subject(user: &users::Model) -> Subject {
    Subject {
        id: user.id,
        roles: Roles::from_stored(&user.roles),
        app_metadata: AppMetadata::from_stored(&user.app_metadata),
    }
}

/// The most sessions a user's list shows.
pub(crate) const MAX_LISTED: u64 = 100;

/// What a login was checked against: the credential version its factor
/// saw, and the identity provider it came through, if any.
#[derive(Debug, Clone, Copy)]
pub struct Checked<'a> {
    pub version: i64,
    pub via: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct SessionStore {
    pub db: DatabaseConnection,
    pub jwt: Jwt,
    pub refresh_ttl_ms: i64,
    /// Refreshes per session (refresh-token family) per minute; `None`: off.
    pub refresh_limit: Option<RateLimiter>,
    /// Mails the owner about a login from a new device and a reused token.
    pub alerts: Alerts,
    /// Endpoints told of a completed login (`user.logged_in`) and of every
    /// change a unit of work reports.
    pub webhooks: jobs::Webhooks,
}

impl SessionStore {
    /// Starts a session for a user who just completed a login checked
    /// against credential version `version` with failure budget `budget`;
    /// in the same transaction that budget's lock state is cleared
    /// (`cleared`, from the lockout state machine) and the client gets a
    /// device token (its device's renewed, or a new device's). The session
    /// records `client`. `None` when the credentials changed since the
    /// check: no session.
    pub async fn start(
        &self,
        user_id: UserId,
        checked: Checked<'_>,
        budget: Budget,
        cleared: LockState,
        client: &RequestContext,
        now_ms: i64,
    ) -> Result<Option<(TokenPair, Zeroizing<String>)>, DomainError> {
        let session_id = SessionId::new_v4();
        let txn = self.db.begin().await?;
        let Checked { version, via } = checked;
        let Some(user) = users::touch_at_version(&txn, user_id, version, now_ms).await? else {
            return Ok(None);
        };
        let renewed = match budget {
            Budget::Account => {
                users::set_lock_state(&txn, user_id, cleared).await?;
                None
            }
            Budget::Device(id) => devices::renew(&txn, id, cleared, now_ms)
                .await?
                .map(|token| (id, token)),
        };
        let mut alerted = false;
        let (device_id, device_token) = match renewed {
            Some(device) => device,
            None => {
                alerted = self
                    .alerts
                    .queue_if_new_device(&txn, user_id, client, now_ms)
                    .await?;
                let event = Event::new(user_id, EventKind::DeviceTrusted, client);
                audit::record(&txn, event, now_ms).await?;
                let created = devices::create(&txn, user_id, now_ms).await?;
                devices::retire_beyond_cap(&txn, user_id, now_ms).await?;
                created
            }
        };
        let mut event = Event::new(user_id, EventKind::LoginSucceeded, client);
        if let Some(provider) = via {
            event = event.via(provider);
        }
        audit::record(&txn, event, now_ms).await?;
        let ip = Some(client.ip.to_string());
        let agent = client.user_agent.clone();
        sessions::start(
            &txn,
            session_id,
            user_id,
            ip,
            agent,
            Some(device_id),
            now_ms,
        )
        .await?;
        let pair = self
            .issue(&txn, &subject(&user), session_id, now_ms)
            .await?;
        // No statement at all when no endpoint takes `user.logged_in`.
        let hooked = webhooks::queue(
            &txn,
            &self.webhooks,
            jobs::EventType::UserLoggedIn,
            user_id,
            now_ms,
        )
        .await?;
        txn.commit().await?;
        if alerted {
            self.alerts.wake_outbox();
        }
        if hooked {
            self.webhooks.wake();
        }
        metrics::counter!("authd_tokens_issued_total").increment(1);
        Ok(Some((pair, device_token)))
    }

    async fn issue<C: ConnectionTrait>(
        &self,
        conn: &C,
        subject: &Subject,
        session_id: SessionId,
        now_ms: i64,
    ) -> Result<TokenPair, DomainError> {
        let (pair, row) = self.next_pair(subject, session_id, now_ms)?;
        refresh_tokens::insert_issued(conn, row).await?;
        Ok(pair)
    }

    /// A new access/refresh pair for a session, and the refresh token's row
    /// to store (nothing stored yet).
    fn next_pair(
        &self,
        subject: &Subject,
        session_id: SessionId,
        now_ms: i64,
    ) -> Result<(TokenPair, refresh_tokens::Model), DomainError> {
        let user_id = subject.id;
        let access = self
            .jwt
            .issue_for(subject, session_id, now_ms / 1000)
            .map_err(|e| DomainError::Internal(format!("jwt: {e}")))?;
        let refresh = NewToken::generate();
        let row = refresh_tokens::Model {
            // Time-ordered: each insert lands at the right edge of the
            // primary key's index instead of on a random page of it (the
            // id is internal; the token is the secret).
            id: Uuid::now_v7(),
            session_id,
            user_id,
            token_hash: refresh.hash,
            access_jti: access.jti,
            access_expires_at: access.expires_at.saturating_mul(1000),
            expires_at: now_ms.saturating_add(self.refresh_ttl_ms),
            used_at: None,
            revoked_at: None,
            created_at: now_ms,
        };
        let pair = TokenPair {
            access_token: access.token,
            refresh_token: refresh.secret,
            expires_in: access.expires_at - access.issued_at,
            session_id,
        };
        Ok((pair, row))
    }

    /// Rotates a refresh token. A token presented a second time (even
    /// concurrently with its first use) revokes its whole session; one of
    /// a disabled account is refused, and stays unused.
    pub(crate) async fn rotate(
        &self,
        presented: &str,
        now_ms: i64,
    ) -> Result<TokenPair, RotateError> {
        let Some((row, subject)) = self.find_refresh_with_subject(presented).await? else {
            return Err(RotateError::Invalid);
        };
        if row.revoked_at.is_some() || row.expires_at <= now_ms {
            return Err(RotateError::Invalid);
        }
        if row.used_at.is_some() {
            return Err(RotateError::Reused(Reused::of(&row)));
        }
        if let Some(limit) = &self.refresh_limit {
            let session = row.session_id.to_string();
            limit
                .check_id("refresh-session", &session)
                .await
                .map_err(RotateError::Limited)?;
        }
        let (pair, next) = self.next_pair(&subject, row.session_id, now_ms)?;
        match refresh_rotation::claim(&self.db, &row, next, now_ms)
            .await
            .map_err(DomainError::from)?
        {
            Claim::Issued => {}
            Claim::SessionEnded => return Err(RotateError::Invalid),
            Claim::AlreadyUsed => return Err(RotateError::Reused(Reused::of(&row))),
        }
        metrics::counter!("authd_tokens_refreshed_total").increment(1);
        Ok(pair)
    }

    /// Ends the session of a refresh token presented again after use (a
    /// stolen copy, or its owner after the thief): the event and the
    /// owner's alert go in `work` with it.
    pub(crate) async fn end_reused(
        &self,
        work: &mut Work,
        reused: Reused,
        client: &RequestContext,
    ) -> Result<(), DomainError> {
        let event = Event::new(reused.user_id, EventKind::RefreshReuseDetected, client);
        warn!(session_id = %reused.session_id, user_id = %reused.user_id, "refresh token reused: revoking its session");
        metrics::counter!("authd_refresh_reuse_total").increment(1);
        self.end_session(work, reused.session_id, event, Some(Alert::RefreshReused))
            .await?;
        Ok(())
    }

    /// Ends a session and every refresh token in it, in `work`; whether it
    /// was live.
    pub(crate) async fn revoke_session(
        &self,
        work: &mut Work,
        session_id: SessionId,
        event: Event<'_>,
    ) -> Result<bool, DomainError> {
        self.end_session(work, session_id, event, None).await
    }

    /// Ends a session in `work`; when that ended it (it was live), records
    /// `event` and queues `alert` there too. Whether it was live.
    async fn end_session(
        &self,
        work: &mut Work,
        session_id: SessionId,
        event: Event<'_>,
        alert: Option<Alert>,
    ) -> Result<bool, DomainError> {
        let scope = SessionScope::Session(session_id);
        let revoked = revocation::end(work.conn(), scope, work.now_ms()).await?;
        let live = !revoked.sessions.is_empty();
        if live {
            if let Some(alert) = alert {
                self.alerts
                    .queue_in(work, alert, event.user_id, event.client)
                    .await?;
            }
            work.record(event).await?;
        }
        work.ended(revoked);
        info!(%session_id, "session revoked");
        Ok(live)
    }

    /// The user's active sessions, newest first (at most [`MAX_LISTED`]):
    /// not revoked, and used within a refresh token's lifetime (an older
    /// one has no token left that works).
    pub async fn active(
        &self,
        user_id: UserId,
        now_ms: i64,
    ) -> Result<Vec<sessions::Model>, DomainError> {
        Ok(sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user_id))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::LastUsedAt.gt(now_ms - self.refresh_ttl_ms))
            .order_by_desc(sessions::Column::CreatedAt)
            .order_by_desc(sessions::Column::Id)
            .limit(MAX_LISTED)
            .all(&self.db)
            .await?)
    }

    /// Ends one session of `user_id` in `work`: false when it is not the
    /// user's, or already ended.
    pub(crate) async fn end_one(
        &self,
        work: &mut Work,
        user_id: UserId,
        session_id: SessionId,
        client: &RequestContext,
    ) -> Result<bool, DomainError> {
        let scope = SessionScope::SessionOf {
            user_id,
            session_id,
        };
        let revoked = revocation::end(work.conn(), scope, work.now_ms()).await?;
        if revoked.sessions.is_empty() {
            return Ok(false);
        }
        work.record(Event::new(user_id, EventKind::LoggedOut, client))
            .await?;
        work.ended(revoked);
        Ok(true)
    }

    /// Ends every session of `user_id`, the caller's included, in `work`.
    pub(crate) async fn end_all(
        &self,
        work: &mut Work,
        user_id: UserId,
        client: &RequestContext,
    ) -> Result<(), DomainError> {
        let revoked = revocation::end_all_but(work.conn(), user_id, None, work.now_ms()).await?;
        work.record(Event::new(user_id, EventKind::LoggedOut, client))
            .await?;
        work.ended(revoked);
        Ok(())
    }

    /// The session of a refresh token of `user_id`, if its row exists
    /// (logout with a bearer token: the refresh token given with it).
    pub(crate) async fn session_of_refresh(
        &self,
        presented: &str,
        user_id: UserId,
    ) -> Result<Option<SessionId>, DomainError> {
        Ok(self
            .find_refresh(presented)
            .await?
            .filter(|r| r.user_id == user_id)
            .map(|r| r.session_id))
    }

    /// The live session a refresh token belongs to, and its user: the token is known, not
    /// expired, and its session not revoked (logout without a bearer
    /// token). A token already rotated still names its session: whoever
    /// holds it could end the session anyway by presenting it to refresh.
    pub(crate) async fn live_session_of_refresh(
        &self,
        presented: &str,
        now_ms: i64,
    ) -> Result<Option<(SessionId, UserId)>, DomainError> {
        Ok(self
            .find_refresh(presented)
            .await?
            .filter(|r| r.revoked_at.is_none() && r.expires_at > now_ms)
            .map(|r| (r.session_id, r.user_id)))
    }

    /// The stored row of a presented refresh token.
    async fn find_refresh(
        &self,
        presented: &str,
    ) -> Result<Option<refresh_tokens::Model>, DomainError> {
        let Some(hash) = one_time::lookup_hash(presented) else {
            return Ok(None);
        };
        Ok(refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(hash.as_str()))
            .one(&self.db)
            .await?)
    }

    /// The stored row of a presented refresh token, and whom its successor
    /// is for: the user with the roles and app metadata stored now (read
    /// in the same statement; the claim then checks the account is still
    /// active).
    async fn find_refresh_with_subject(
        &self,
        presented: &str,
    ) -> Result<Option<(refresh_tokens::Model, Subject)>, DomainError> {
        let Some(hash) = one_time::lookup_hash(presented) else {
            return Ok(None);
        };
        Ok(refresh_tokens::find_with_subject(&self.db, hash.as_str())
            .await?
            .map(|(row, roles, app_metadata)| {
                let subject = Subject {
                    id: row.user_id,
                    roles: Roles::from_stored(&roles),
                    app_metadata: AppMetadata::from_stored(&app_metadata),
                };
                (row, subject)
            }))
    }
}

/// Why a refresh failed.
#[derive(Debug)]
pub(crate) enum RotateError {
    /// Unknown, expired or revoked.
    Invalid,
    /// Already used: its session is to be ended (`end_reused`).
    Reused(Reused),
    /// The session refreshed too often: wait; the token was not used.
    Limited(RetryAfter),
    Domain(DomainError),
}

/// A refresh token presented after its use: whose, and in which session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reused {
    session_id: SessionId,
    user_id: UserId,
}

impl Reused {
    fn of(row: &refresh_tokens::Model) -> Self {
        Self {
            session_id: row.session_id,
            user_id: row.user_id,
        }
    }
}

impl From<DomainError> for RotateError {
    fn from(e: DomainError) -> Self {
        RotateError::Domain(e)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const ACCESS: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl";
    pub(crate) const REFRESH: &str = "R3fr3sh-t0ken-0f-f0rty-three-characters-xyz";

    pub(crate) fn pair() -> TokenPair {
        TokenPair {
            access_token: ACCESS.to_owned(),
            refresh_token: zeroize::Zeroizing::new(REFRESH.to_owned()),
            expires_in: 3600,
            session_id: SessionId(Uuid::nil()),
        }
    }

    #[test]
    fn debug_of_a_token_pair_hides_both_tokens() {
        let pair = pair();
        for text in [format!("{pair:?}"), format!("{pair:#?}")] {
            assert!(!text.contains(ACCESS) && !text.contains("eyJ"), "{text}");
            assert!(
                !text.contains(REFRESH) && !text.contains("R3fr3sh"),
                "{text}"
            );
            assert!(text.contains("3600"), "{text}");
        }
    }
}
