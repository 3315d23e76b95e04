//! UserSupervisor: spawns a UserSession per user on demand, forwards
//! attempts to it, and forgets sessions that stop (idle) or fail (the next
//! attempt spawns a fresh one, which reads its state from the database).

use std::collections::HashMap;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use uuid::Uuid;

use crate::user_session::{SessionDeps, SessionMsg, UserSession};

pub struct UserSupervisor;

pub struct SupervisorState {
    deps: SessionDeps,
    sessions: HashMap<Uuid, ActorRef<SessionMsg>>,
    by_actor: HashMap<ActorId, Uuid>,
}

pub enum UsersMsg {
    /// Hands `msg` to the user's session, starting one when needed.
    ToSession { user_id: Uuid, msg: SessionMsg },
    /// How many sessions are alive (for tests and metrics).
    Count { reply: RpcReplyPort<usize> },
}

impl Actor for UserSupervisor {
    type Msg = UsersMsg;
    type State = SupervisorState;
    type Arguments = SessionDeps;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        deps: SessionDeps,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(SupervisorState {
            deps,
            sessions: HashMap::new(),
            by_actor: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            UsersMsg::ToSession { user_id, msg } => {
                let session = match state.sessions.get(&user_id) {
                    Some(s) => s.clone(),
                    None => {
                        let (session, _) = Actor::spawn_linked(
                            None,
                            UserSession,
                            (user_id, state.deps.clone()),
                            myself.get_cell(),
                        )
                        .await?;
                        state.by_actor.insert(session.get_id(), user_id);
                        state.sessions.insert(user_id, session.clone());
                        session
                    }
                };
                // If the session is gone, the reply port drops and the caller
                // gets an error at once.
                let _ = session.cast(msg);
            }
            UsersMsg::Count { reply } => {
                let _ = reply.send(state.sessions.len());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let gone = match &event {
            SupervisionEvent::ActorTerminated(cell, _, _) => Some(cell.get_id()),
            SupervisionEvent::ActorFailed(cell, error) => {
                tracing::warn!(%error, "user session failed; the next attempt starts a new one");
                Some(cell.get_id())
            }
            _ => None,
        };
        if let Some(id) = gone
            && let Some(user_id) = state.by_actor.remove(&id)
        {
            state.sessions.remove(&user_id);
        }
        Ok(())
    }
}
