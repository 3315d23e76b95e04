//! GateSupervisor: spawns a AttemptGate per user on demand, forwards
//! attempts to it, and forgets gates that stop (idle) or fail (the next
//! attempt spawns a fresh one, which reads its state from the database).

use std::collections::HashMap;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use uuid::Uuid;

use crate::attempt_gate::{AttemptGate, GateDeps, GateMsg};

pub struct GateSupervisor;

pub struct SupervisorState {
    deps: GateDeps,
    gates: HashMap<Uuid, ActorRef<GateMsg>>,
    by_actor: HashMap<ActorId, Uuid>,
}

impl SupervisorState {
    /// The `authd_user_actors` gauge: live per-user actors.
    fn report(&self) {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("authd_user_actors").set(self.gates.len() as f64);
    }
}

pub enum GatesMsg {
    /// Hands `msg` to the gate of `user_id` (a user, or an address with no
    /// account), starting one when needed.
    ToGate { user_id: Uuid, msg: GateMsg },
    /// How many gates are alive (for tests and metrics).
    Count { reply: RpcReplyPort<usize> },
}

impl Actor for GateSupervisor {
    type Msg = GatesMsg;
    type State = SupervisorState;
    type Arguments = GateDeps;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        deps: GateDeps,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(SupervisorState {
            deps,
            gates: HashMap::new(),
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
            GatesMsg::ToGate { user_id, msg } => {
                let gate = match state.gates.get(&user_id) {
                    Some(s) => s.clone(),
                    None => {
                        let (gate, _) = Actor::spawn_linked(
                            None,
                            AttemptGate,
                            (user_id, state.deps.clone()),
                            myself.get_cell(),
                        )
                        .await?;
                        state.by_actor.insert(gate.get_id(), user_id);
                        state.gates.insert(user_id, gate.clone());
                        state.report();
                        gate
                    }
                };
                // If the gate is gone, the reply port drops and the caller
                // gets an error at once.
                let _ = gate.cast(msg);
            }
            GatesMsg::Count { reply } => {
                let _ = reply.send(state.gates.len());
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
                tracing::warn!(%error, "user gate failed; the next attempt starts a new one");
                Some(cell.get_id())
            }
            _ => None,
        };
        if let Some(id) = gone
            && let Some(user_id) = state.by_actor.remove(&id)
        {
            state.gates.remove(&user_id);
            state.report();
        }
        Ok(())
    }
}
