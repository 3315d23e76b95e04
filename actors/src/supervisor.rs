//! The root supervisor: starts the UserSupervisor and the TokenRegistry and
//! starts a new one whenever one fails. Callers hold `Actors`, whose slots
//! always name the live actors. No global names: two applications can run
//! in one process.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};

use crate::DomainError;
use crate::broadcast::Broadcast;
use crate::token_registry::{RegistryMsg, Revocations, TokenRegistry};
use crate::user_session::SessionDeps;
use crate::user_supervisor::{UserSupervisor, UsersMsg};

type Slot<M> = Arc<RwLock<Option<ActorRef<M>>>>;

/// Handles to the live actors.
#[derive(Clone)]
pub struct Actors {
    users: Slot<UsersMsg>,
    registry: Slot<RegistryMsg>,
    root: ActorRef<()>,
}

impl std::fmt::Debug for Actors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Actors")
    }
}

/// How long a caller waits for an actor before answering 500.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

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
        deps: SessionDeps,
        revocations: Revocations,
        broadcast: Option<Broadcast>,
    ) -> Result<Self, DomainError> {
        let spawn_err = |e: ractor::SpawnErr| DomainError::Internal(format!("actor start: {e}"));
        let users = Arc::new(RwLock::new(None));
        let registry = Arc::new(RwLock::new(None));
        let args = RootArgs {
            deps,
            revocations,
            broadcast,
            users: users.clone(),
            registry: registry.clone(),
        };
        let (root, _) = Actor::spawn(None, Root, args).await.map_err(spawn_err)?;
        Ok(Self {
            users,
            registry,
            root,
        })
    }

    pub fn users(&self) -> Result<ActorRef<UsersMsg>, DomainError> {
        live(&self.users)
    }

    pub fn registry(&self) -> Result<ActorRef<RegistryMsg>, DomainError> {
        live(&self.registry)
    }

    /// Stops every actor (shutdown); linked children stop with the root.
    pub fn stop(&self) {
        self.root.stop(None);
    }
}

/// Maps a failed actor call to the 500 the caller answers with.
pub fn unavailable<T>(
    r: Result<ractor::rpc::CallResult<T>, ractor::MessagingErr<impl Sized>>,
) -> Result<T, DomainError> {
    match r {
        Ok(ractor::rpc::CallResult::Success(v)) => Ok(v),
        Ok(ractor::rpc::CallResult::Timeout) => {
            Err(DomainError::Internal("actor call timed out".into()))
        }
        Ok(ractor::rpc::CallResult::SenderError) => Err(DomainError::Internal(
            "actor stopped before answering".into(),
        )),
        Err(e) => Err(DomainError::Internal(format!("actor unreachable: {e}"))),
    }
}

struct Root;

struct RootArgs {
    deps: SessionDeps,
    revocations: Revocations,
    broadcast: Option<Broadcast>,
    users: Slot<UsersMsg>,
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
        let (users, _) =
            Actor::spawn_linked(None, UserSupervisor, args.deps.clone(), myself.get_cell()).await?;
        write(&args.users, users);
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
    if is(read(&state.users).map(|a| a.get_id())) {
        tracing::error!(%error, "UserSupervisor failed; starting a new one");
        let (users, _) =
            Actor::spawn_linked(None, UserSupervisor, state.deps.clone(), myself.get_cell())
                .await?;
        write(&state.users, users);
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
