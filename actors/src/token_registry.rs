//! TokenRegistry: which access tokens are refused. The database is the
//! authority (a token's session revoked, the per-user "issued before" mark,
//! the user's `is_active`); moka caches in front make `verify-token` an
//! in-memory check in steady state. A cached "revoked" is kept until the
//! session's tokens have expired; a cached "still valid" lives half a
//! second, so a revocation made on another node is seen within that time
//! even without a broadcast, and a cache at capacity or a restart only
//! costs a database read, never a revoked token coming back to life.
//!
//! A revocation is one write (the session row, in the transaction that
//! decides it) and one event per session, however many tokens the session
//! issued. The actor takes the committed revocations one at a time; reads
//! use `Revocations` directly.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use sea_orm::{DatabaseConnection, EntityTrait};
use uuid::Uuid;

use crate::DomainError;
use crate::broadcast::{Broadcast, Event};
use crate::domain::{SessionId, UserId};
use crate::jwt::{AccessClaims, Jwt, VerifiedTokens};
use crate::store::{sessions, users};

const FRESH_FOR: Duration = Duration::from_millis(500);
const CAPACITY: u64 = 200_000;

/// The read side, shared by every request.
/// An accepted access token: its claims, user and session.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub user: Arc<users::Model>,
    pub claims: Arc<AccessClaims>,
    pub session_id: SessionId,
}

#[derive(Clone, Debug)]
pub struct Revocations {
    db: DatabaseConnection,
    verified: VerifiedTokens,
    revoked: Cache<SessionId, ()>,
    not_revoked: Cache<SessionId, ()>,
    users: Cache<UserId, Option<Arc<users::Model>>>,
}

impl Revocations {
    /// Answers for tokens of `jwt`'s key.
    pub fn new(db: DatabaseConnection, jwt: Jwt) -> Self {
        let access_ttl = Duration::from_secs(jwt.access_ttl_secs().unsigned_abs());
        Self {
            db,
            verified: VerifiedTokens::new(jwt),
            revoked: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(access_ttl + Duration::from_secs(10))
                .build(),
            not_revoked: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(FRESH_FOR)
                .build(),
            users: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(FRESH_FOR)
                .build(),
        }
    }

    /// Whether an access token is accepted now: its signature and claims
    /// (remembered by exact text), its session live, its user active, and
    /// its `iat` after the user's "issued before" mark. Every refusal is
    /// the same `Unauthorized`, counted in `authd_tokens_rejected_total`
    /// by reason (`revoked`: the session, the user or the mark).
    pub async fn accept(&self, token: &str, now_ms: i64) -> Result<Accepted, DomainError> {
        let claims = self
            .verified
            .check(token, now_ms / 1000)
            .map_err(|e| rejected(e.rejection_label()))?;
        let parse = |s: &str| Uuid::parse_str(s).map_err(|_| rejected("malformed"));
        // A `jti` that is not a UUID is not one of ours.
        parse(&claims.jti)?;
        let (user_id, session_id) = (UserId(parse(&claims.sub)?), SessionId(parse(&claims.sid)?));
        if self.is_revoked(session_id).await? {
            return Err(rejected("revoked"));
        }
        let user = match self.user(user_id).await? {
            Some(u) if u.is_active => u,
            _ => return Err(rejected("revoked")),
        };
        if user
            .tokens_invalid_before
            .is_some_and(|t| claims.iat.saturating_mul(1000) < t)
        {
            return Err(rejected("revoked"));
        }
        Ok(Accepted {
            user,
            claims,
            session_id,
        })
    }

    /// Whether the session `id` (an access token's `sid`) is revoked; an
    /// unknown session counts as revoked.
    pub(crate) async fn is_revoked(&self, id: SessionId) -> Result<bool, DomainError> {
        if self.revoked.contains_key(&id) {
            return Ok(true);
        }
        if self.not_revoked.contains_key(&id) {
            return Ok(false);
        }
        let revoked = sessions::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .is_none_or(|s| s.revoked_at.is_some());
        if revoked {
            self.revoked.insert(id, ()).await;
        } else {
            self.not_revoked.insert(id, ()).await;
        }
        Ok(revoked)
    }

    pub async fn user(&self, id: UserId) -> Result<Option<Arc<users::Model>>, DomainError> {
        if let Some(u) = self.users.get(&id).await {
            return Ok(u);
        }
        let user = users::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(Arc::new);
        self.users.insert(id, user.clone()).await;
        Ok(user)
    }

    async fn note_revoked(&self, session: SessionId) {
        self.revoked.insert(session, ()).await;
        self.not_revoked.invalidate(&session).await;
    }

    async fn note_user_changed(&self, id: UserId) {
        self.users.invalidate(&id).await;
    }

    /// Applies a change broadcast by another node.
    pub async fn apply(&self, event: Event) {
        match event {
            Event::Session(id) => self.note_revoked(id).await,
            Event::User(id) => self.note_user_changed(id).await,
        }
    }
}

/// Counts a refused access token and gives the refusal.
fn rejected(reason: &'static str) -> DomainError {
    metrics::counter!("authd_tokens_rejected_total", "reason" => reason).increment(1);
    DomainError::Unauthorized
}

pub struct TokenRegistry;

pub struct RegistryState {
    revocations: Revocations,
    broadcast: Option<Broadcast>,
}

impl RegistryState {
    async fn publish(&self, event: Event) {
        if let Some(b) = &self.broadcast {
            b.publish(event).await;
        }
    }
}

pub enum RegistryMsg {
    /// A committed transaction revoked these sessions (and changed this
    /// user's row): caches here, one event per session to other nodes.
    Committed {
        sessions: Vec<SessionId>,
        user_id: Option<UserId>,
        reply: RpcReplyPort<()>,
    },
}

impl Actor for TokenRegistry {
    type Msg = RegistryMsg;
    type State = RegistryState;
    type Arguments = (Revocations, Option<Broadcast>);

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        (revocations, broadcast): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RegistryState {
            revocations,
            broadcast,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RegistryMsg::Committed {
                sessions,
                user_id,
                reply,
            } => {
                // Every committed revocation of this node passes here once.
                metrics::counter!("authd_tokens_revoked_total")
                    .increment(u64::try_from(sessions.len()).unwrap_or(u64::MAX));
                for id in sessions {
                    state.revocations.note_revoked(id).await;
                    state.publish(Event::Session(id)).await;
                }
                if let Some(user_id) = user_id {
                    state.revocations.note_user_changed(user_id).await;
                    state.publish(Event::User(user_id)).await;
                }
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}
