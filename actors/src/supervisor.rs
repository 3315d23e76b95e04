//! The root supervisor: starts the GateSupervisor and the TokenRegistry and
//! starts a new one whenever one fails. Callers hold `Actors`, whose slots
//! always name the live actors. No global names: two applications can run
//! in one process.

use std::future::Future;
use std::pin::Pin;

use crate::attempts::Revoked;
use crate::domain::UserId;
use crate::work::{AfterCommit, Announce};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};

use crate::DomainError;
use crate::attempt_gate::GateDeps;
use crate::broadcast::Broadcast;
use crate::gate_supervisor::{GateSupervisor, GatesMsg};
use crate::token_registry::{RegistryMsg, Revocations, TokenRegistry};

type Slot<M> = Arc<RwLock<Option<ActorRef<M>>>>;

/// Handles to the live actors.
#[derive(Clone)]
pub struct Actors {
    gates: Slot<GatesMsg>,
    registry: Slot<RegistryMsg>,
    root: ActorRef<()>,
    /// The webhook endpoints every unit of work queues events for.
    webhooks: jobs::Webhooks,
}

impl std::fmt::Debug for Actors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Actors")
    }
}

/// How long a caller waits for an actor before answering 503 (busy).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn read<M>(slot: &Slot<M>) -> Option<ActorRef<M>> {
    match slot.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn write<M>(slot: &Slot<M>, actor: ActorRef<M>) {
    match slot.write() {
        Ok(mut guard) => *guard = Some(actor),
        Err(poisoned) => *poisoned.into_inner() = Some(actor),
    }
}

fn live<M>(slot: &Slot<M>) -> Result<ActorRef<M>, DomainError> {
    read(slot).ok_or_else(|| DomainError::Internal("actor not started".into()))
}

impl Actors {
    pub async fn start(
        deps: GateDeps,
        revocations: Revocations,
        broadcast: Option<Broadcast>,
    ) -> Result<Self, DomainError> {
        let spawn_err = |e: ractor::SpawnErr| DomainError::Internal(format!("actor start: {e}"));
        let gates = Arc::new(RwLock::new(None));
        let registry = Arc::new(RwLock::new(None));
        let webhooks = deps.sessions.webhooks.clone();
        let args = RootArgs {
            deps,
            revocations,
            broadcast,
            gates: gates.clone(),
            registry: registry.clone(),
        };
        let (root, _) = Actor::spawn(None, Root, args).await.map_err(spawn_err)?;
        Ok(Self {
            gates,
            registry,
            root,
            webhooks,
        })
    }

    pub fn gates(&self) -> Result<ActorRef<GatesMsg>, DomainError> {
        live(&self.gates)
    }

    pub fn registry(&self) -> Result<ActorRef<RegistryMsg>, DomainError> {
        live(&self.registry)
    }

    /// What a unit of work runs after its commit: the outbox relay woken
    /// (`outbox_wake`), and the registry told what it ended.
    pub fn after_commit(&self, outbox_wake: &Arc<tokio::sync::Notify>) -> AfterCommit {
        AfterCommit {
            outbox_wake: outbox_wake.clone(),
            registry: Arc::new(self.clone()),
            webhooks: self.webhooks.clone(),
        }
    }

    /// Stops every actor (shutdown); linked children stop with the root.
    pub fn stop(&self) {
        self.root.stop(None);
    }
}

impl Announce for Actors {
    fn announce(
        &self,
        revoked: Revoked,
        user_id: Option<UserId>,
    ) -> Pin<Box<dyn Future<Output = Result<(), DomainError>> + Send + '_>> {
        Box::pin(async move {
            let registry = self.registry()?;
            unavailable(
                registry
                    .call(
                        |reply| RegistryMsg::Committed {
                            sessions: revoked.sessions,
                            user_id,
                            reply,
                        },
                        Some(CALL_TIMEOUT),
                    )
                    .await,
            )
        })
    }
}

/// Maps a failed actor call to the error the caller answers with: an
/// actor still working after [`CALL_TIMEOUT`] is overload (503, busy); one
/// gone is a fault (500).
pub fn unavailable<T>(
    r: Result<ractor::rpc::CallResult<T>, ractor::MessagingErr<impl Sized>>,
) -> Result<T, DomainError> {
    match r {
        Ok(ractor::rpc::CallResult::Success(v)) => Ok(v),
        Ok(ractor::rpc::CallResult::Timeout) => {
            tracing::warn!("actor call timed out");
            Err(DomainError::Busy)
        }
        Ok(ractor::rpc::CallResult::SenderError) => Err(DomainError::Internal(
            "actor stopped before answering".into(),
        )),
        Err(e) => Err(DomainError::Internal(format!("actor unreachable: {e}"))),
    }
}

struct Root;

struct RootArgs {
    deps: GateDeps,
    revocations: Revocations,
    broadcast: Option<Broadcast>,
    gates: Slot<GatesMsg>,
    registry: Slot<RegistryMsg>,
}

impl Actor for Root {
    type Msg = ();
    type State = RootArgs;
    type Arguments = RootArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RootArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let (gates, _) =
            Actor::spawn_linked(None, GateSupervisor, args.deps.clone(), myself.get_cell()).await?;
        write(&args.gates, gates);
        let (registry, _) = Actor::spawn_linked(
            None,
            TokenRegistry,
            (args.revocations.clone(), args.broadcast.clone()),
            myself.get_cell(),
        )
        .await?;
        write(&args.registry, registry);
        Ok(args)
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A child that stops while the root lives (a panic, or a kill) is
        // replaced; at shutdown the root stops first and handles nothing.
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                restart(&myself, &cell, state, &error.to_string()).await?;
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let reason = reason.unwrap_or_else(|| "stopped".into());
                restart(&myself, &cell, state, &reason).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

async fn restart(
    myself: &ActorRef<()>,
    failed: &ActorCell,
    state: &mut RootArgs,
    error: &str,
) -> Result<(), ActorProcessingErr> {
    let is = |id: Option<ractor::ActorId>| id == Some(failed.get_id());
    if is(read(&state.gates).map(|a| a.get_id())) {
        tracing::error!(%error, "GateSupervisor failed; starting a new one");
        let (gates, _) =
            Actor::spawn_linked(None, GateSupervisor, state.deps.clone(), myself.get_cell())
                .await?;
        write(&state.gates, gates);
    } else if is(read(&state.registry).map(|a| a.get_id())) {
        tracing::error!(%error, "TokenRegistry failed; starting a new one");
        let (registry, _) = Actor::spawn_linked(
            None,
            TokenRegistry,
            (state.revocations.clone(), state.broadcast.clone()),
            myself.get_cell(),
        )
        .await?;
        write(&state.registry, registry);
    }
    Ok(())
}
