//! TokenRegistry: which access tokens are refused. The database is the
//! authority (revoked `jti`s, the per-user "issued before" mark, the user's
//! `is_active`); moka caches in front make `verify-token` an in-memory check
//! in steady state. A cached "revoked" is kept until the token expires; a
//! cached "still valid" lives half a second, so a revocation made on another
//! node is seen within that time even without a broadcast, and a cache at
//! capacity or a restart only costs a database read, never a revoked token
//! coming back to life.
//!
//! Writes go through the actor, one at a time; reads use `Revocations`
//! directly.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::DomainError;
use crate::broadcast::{Broadcast, Event};
use crate::sessions::insert_revoked;
use crate::store::{revoked_tokens, users};

const FRESH_FOR: Duration = Duration::from_millis(500);
const CAPACITY: u64 = 200_000;

/// The read side, shared by every request.
#[derive(Clone, Debug)]
pub struct Revocations {
    db: DatabaseConnection,
    revoked: Cache<Uuid, ()>,
    not_revoked: Cache<Uuid, ()>,
    users: Cache<Uuid, Option<Arc<users::Model>>>,
}

impl Revocations {
    pub fn new(db: DatabaseConnection, access_ttl: Duration) -> Self {
        Self {
            db,
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

    /// Whether the access token `jti` has been revoked.
    pub async fn is_revoked(&self, jti: Uuid) -> Result<bool, DomainError> {
        if self.revoked.contains_key(&jti) {
            return Ok(true);
        }
        if self.not_revoked.contains_key(&jti) {
            return Ok(false);
        }
        let found = revoked_tokens::Entity::find_by_id(jti)
            .one(&self.db)
            .await?
            .is_some();
        if found {
            self.revoked.insert(jti, ()).await;
        } else {
            self.not_revoked.insert(jti, ()).await;
        }
        Ok(found)
    }

    /// The user, if it exists (cached briefly).
    pub async fn user(&self, id: Uuid) -> Result<Option<Arc<users::Model>>, DomainError> {
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

    async fn note_revoked(&self, jti: Uuid) {
        self.revoked.insert(jti, ()).await;
        self.not_revoked.invalidate(&jti).await;
    }

    async fn note_user_changed(&self, id: Uuid) {
        self.users.invalidate(&id).await;
    }

    /// Applies a change broadcast by another node.
    pub async fn apply(&self, event: Event) {
        match event {
            Event::Token(jti) => self.note_revoked(jti).await,
            Event::User(id) => self.note_user_changed(id).await,
        }
    }
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
    /// Refuse these access tokens from now on: (jti, user, expires at ms).
    Revoke {
        tokens: Vec<(Uuid, Uuid, i64)>,
        now_ms: i64,
        reply: RpcReplyPort<Result<(), DomainError>>,
    },
    /// Refuse every access token of `user_id` issued before `before_ms`.
    RevokeUserBefore {
        user_id: Uuid,
        before_ms: i64,
        reply: RpcReplyPort<Result<(), DomainError>>,
    },
    /// A user row changed (cache drop).
    UserChanged { user_id: Uuid },
    /// A transaction already stored these revocations and changed this
    /// user's row (password reset or change): update the caches and tell
    /// the other nodes.
    Committed {
        jtis: Vec<Uuid>,
        user_id: Uuid,
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
            RegistryMsg::Revoke {
                tokens,
                now_ms,
                reply,
            } => {
                let mut result = Ok(());
                for (jti, user_id, exp) in tokens {
                    if let Err(e) =
                        insert_revoked(&state.revocations.db, jti, user_id, exp, now_ms).await
                    {
                        result = Err(e);
                        break;
                    }
                    state.revocations.note_revoked(jti).await;
                    state.publish(Event::Token(jti)).await;
                }
                let _ = reply.send(result);
            }
            RegistryMsg::RevokeUserBefore {
                user_id,
                before_ms,
                reply,
            } => {
                let res = users::Entity::update_many()
                    .col_expr(users::Column::TokensInvalidBefore, Expr::value(before_ms))
                    .filter(users::Column::Id.eq(user_id))
                    .exec(&state.revocations.db)
                    .await
                    .map(|_| ())
                    .map_err(DomainError::from);
                state.revocations.note_user_changed(user_id).await;
                state.publish(Event::User(user_id)).await;
                let _ = reply.send(res);
            }
            RegistryMsg::UserChanged { user_id } => {
                state.revocations.note_user_changed(user_id).await;
                state.publish(Event::User(user_id)).await;
            }
            RegistryMsg::Committed {
                jtis,
                user_id,
                reply,
            } => {
                for jti in jtis {
                    state.revocations.note_revoked(jti).await;
                    state.publish(Event::Token(jti)).await;
                }
                state.revocations.note_user_changed(user_id).await;
                state.publish(Event::User(user_id)).await;
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}
