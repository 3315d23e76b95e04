//! GateSupervisor: spawns a AttemptGate per user on demand, forwards
//! attempts to it, stops gates that have been idle, and forgets gates that
//! fail (the next attempt spawns a fresh one, which reads its state from
//! the database).
//!
//! The supervisor is the only sender to its gates, and it owns their
//! lifetime: a gate is stopped only when it has handled every message sent
//! to it and none was sent for the idle time, so an attempt that arrives
//! as a gate goes idle is never dropped (a gate that stopped itself could
//! drop one cast to it in that instant).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::time::Instant;
use uuid::Uuid;

use crate::attempt_gate::{AttemptGate, GateDeps, GateMsg};

pub(crate) struct GateSupervisor;

/// A live gate, as its supervisor sees it.
struct Live {
    gate: ActorRef<GateMsg>,
    /// Messages sent to the gate.
    sent: u64,
    /// Messages the gate has answered (it counts them).
    handled: Arc<AtomicU64>,
    last_sent: Instant,
}

impl Live {
    fn idle(&self, idle_after: std::time::Duration, now: Instant) -> bool {
        now.duration_since(self.last_sent) >= idle_after
            && self.handled.load(Ordering::Acquire) == self.sent
    }
}

pub(crate) struct SupervisorState {
    deps: GateDeps,
    gates: HashMap<Uuid, Live>,
    by_actor: HashMap<ActorId, Uuid>,
}

impl SupervisorState {
    /// The `authd_user_actors` gauge: live per-user actors.
    fn report(&self) {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("authd_user_actors").set(self.gates.len() as f64);
    }

    fn forget(&mut self, id: &ActorId) {
        if let Some(user_id) = self.by_actor.remove(id) {
            self.gates.remove(&user_id);
        }
    }

    /// Stops every gate that has been idle for the idle time.
    fn stop_idle(&mut self) {
        let now = Instant::now();
        let idle_after = self.deps.idle_after;
        let before = self.gates.len();
        let by_actor = &mut self.by_actor;
        self.gates.retain(|_, live| {
            if !live.idle(idle_after, now) {
                return true;
            }
            by_actor.remove(&live.gate.get_id());
            live.gate.stop(Some("idle".into()));
            false
        });
        if self.gates.len() != before {
            self.gates.shrink_to(self.gates.len() * 2);
            self.by_actor.shrink_to(self.by_actor.len() * 2);
            self.report();
        }
    }
}

pub enum GatesMsg {
    /// Hands `msg` to the gate of `user_id` (a user, or an address with no
    /// account), starting one when needed.
    ToGate { user_id: Uuid, msg: GateMsg },
    /// How many gates are alive (for tests and metrics).
    Count { reply: RpcReplyPort<usize> },
    /// Stops the gates that have been idle (sent by the supervisor to
    /// itself every half idle time).
    StopIdle,
}

impl Actor for GateSupervisor {
    type Msg = GatesMsg;
    type State = SupervisorState;
    type Arguments = GateDeps;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        deps: GateDeps,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_interval(deps.idle_after / 2, || GatesMsg::StopIdle);
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
                if !state.gates.contains_key(&user_id) {
                    let handled = Arc::new(AtomicU64::new(0));
                    let (gate, _) = Actor::spawn_linked(
                        None,
                        AttemptGate,
                        (user_id, state.deps.clone(), handled.clone()),
                        myself.get_cell(),
                    )
                    .await?;
                    state.by_actor.insert(gate.get_id(), user_id);
                    let live = Live {
                        gate,
                        sent: 0,
                        handled,
                        last_sent: Instant::now(),
                    };
                    state.gates.insert(user_id, live);
                    state.report();
                }
                let Some(live) = state.gates.get_mut(&user_id) else {
                    return Ok(());
                };
                live.sent += 1;
                live.last_sent = Instant::now();
                // If the gate failed meanwhile, the reply port drops and the
                // caller gets an error at once.
                let _ = live.gate.cast(msg);
            }
            GatesMsg::Count { reply } => {
                let _ = reply.send(state.gates.len());
            }
            GatesMsg::StopIdle => state.stop_idle(),
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
        if let Some(id) = gone {
            state.forget(&id);
            state.report();
        }
        Ok(())
    }
}
