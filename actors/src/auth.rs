//! Login, refresh, logout and token checks: the facade the HTTP handlers
//! call. Password attempts go through the user's AttemptGate actor; token
//! revocations through the TokenRegistry actor.

use std::sync::Arc;

use jobs::SharedClock;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::attempt_gate::{AttemptMsg, GateMsg, Presented, Reply};
use crate::attempts::Budget;
use crate::attempts::{Attempt, LoginOutcome, Purpose};
use crate::attempts::{Revoked, TokenPair};
use crate::audit::{self, Event, EventKind};
use crate::context::RequestContext;
use crate::domain::{Email, SessionId, UserId};
use crate::gate_supervisor::GatesMsg;
use crate::jwt::Jwt;
use crate::mfa::codes::CodeCheck;
use crate::sessions::{RotateError, SessionStore};
use crate::store::{devices, sessions, users};
use crate::supervisor::{Actors, CALL_TIMEOUT, unavailable};
use crate::token_registry::Revocations;
use crate::views::{SecurityEvent, Session};
use crate::work::Work;
use crate::{DomainError, Hasher};
use sea_orm::EntityTrait;

pub use crate::attempts::Authenticated;

/// How recent a login stands for a password (see
/// [`Auth::require_fresh_login`]).
pub const FRESH_LOGIN_SECS: i64 = 5 * 60;

#[derive(Clone)]
pub struct Auth {
    pub hasher: Hasher,
    pub clock: SharedClock,
    pub actors: Actors,
    pub revocations: Revocations,
    pub sessions: SessionStore,
    pub jwt: Jwt,
    /// Ids for the lock states of addresses with no account.
    pub addresses: AddressIds,
}

/// The id of an address with no account: a keyed hash of its normalised
/// form, so the failure table holds no address and cannot be checked
/// against a list of addresses without the key.
#[derive(Clone)]
pub struct AddressIds {
    key: Zeroizing<[u8; 32]>,
}

impl AddressIds {
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            key: Zeroizing::new(key),
        }
    }

    pub fn id(&self, normalized: &str) -> Uuid {
        let digest = crate::keyed::hmac_sha256(&self.key, normalized.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

impl std::fmt::Debug for AddressIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressIds(..)")
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth")
    }
}

impl Auth {
    /// Makes the dummy hash (one Argon2 run at startup).
    pub async fn dummy_hash(hasher: &Hasher) -> Result<Arc<str>, DomainError> {
        let random: [u8; 16] = rand::random();
        Ok(Arc::from(hasher.hash(&hex::encode(random)).await?))
    }

    #[tracing::instrument(skip_all, fields(user_id), err(level = "info", Display))]
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        device_token: Option<&str>,
        client: &RequestContext,
    ) -> Result<LoginOutcome, DomainError> {
        let normalized = match Email::parse(email) {
            Ok(email) => email.normalized().to_owned(),
            Err(_) => email.to_owned(),
        };
        let db = &self.sessions.db;
        let user = users::find_by_normalized_email(db, &normalized).await?;
        // A device token of another account (or none) finds nothing.
        let owner = user.as_ref().map_or(UserId(Uuid::nil()), |u| u.id);
        let device = match device_token {
            Some(token) => devices::find_live(db, owner, token).await?,
            None => None,
        };
        let budget = device.map_or(Budget::Account, |d| Budget::Device(d.id));
        let outcome = match user {
            Some(user) => {
                tracing::Span::current().record("user_id", tracing::field::display(user.id));
                let password = Presented::password(password, Purpose::Login);
                self.to_gate(user.id, password, budget, client).await?
            }
            // The same gate, writes, work and answers as for an account.
            None => {
                let password = Zeroizing::new(password.to_owned());
                self.call_gate(self.addresses.id(&normalized), |reply| {
                    GateMsg::UnknownAddress { password, reply }
                })
                .await?
            }
        };
        metrics::counter!("authd_logins_total", "outcome" => outcome.login_label()).increment(1);
        outcome.into_login().map(LoginOutcome::from)
    }

    /// A logged-in user confirming a sensitive change with the password:
    /// a wrong one is 401 and counts toward the lockout of the device the
    /// session logged in with (so failures from elsewhere that lock the
    /// account never refuse its owner); a right one leaves the count as it
    /// was.
    pub(crate) async fn reauthenticate(
        &self,
        who: &Authenticated,
        password: &str,
    ) -> Result<Box<users::Model>, DomainError> {
        let budget = self.budget_of(who).await?;
        let password = Presented::password(password, Purpose::Reauth);
        self.to_gate(who.user.id, password, budget, &who.client)
            .await?
            .into_reauth()
    }

    /// What stands for a password where there is none to ask (an account
    /// made by another identity provider) or none in the request (linking
    /// an identity): a fresh login, an access token issued less than
    /// [`FRESH_LOGIN_SECS`] ago in a session that logged in less than that
    /// ago. A refresh token, which outlives a stolen laptop's lock screen,
    /// does not make a fresh login. 401 `StaleLogin` otherwise.
    pub(crate) async fn require_fresh_login(&self, who: &Authenticated) -> Result<(), DomainError> {
        let now = self.clock.now_ms();
        let logged_in_at = sessions::Entity::find_by_id(who.session_id)
            .one(&self.sessions.db)
            .await?
            .ok_or(DomainError::Unauthorized)?
            .created_at;
        let fresh_ms = FRESH_LOGIN_SECS * 1000;
        if who.claims.iat.saturating_mul(1000).saturating_add(fresh_ms) <= now
            || logged_in_at.saturating_add(fresh_ms) <= now
        {
            return Err(DomainError::StaleLogin);
        }
        Ok(())
    }

    /// Whose failure budget a re-authentication in `who`'s session spends:
    /// the device its login came from (even once that device's failures
    /// voided its token for logins: its lock keeps running), else the
    /// account's.
    pub(crate) async fn budget_of(&self, who: &Authenticated) -> Result<Budget, DomainError> {
        let db = &self.sessions.db;
        let Some(device_id) = sessions::device_of(db, who.session_id).await? else {
            return Ok(Budget::Account);
        };
        Ok(match devices::of_user(db, device_id, who.user.id).await? {
            Some(_) => Budget::Device(device_id),
            None => Budget::Account,
        })
    }

    /// One attempt on `user_id`'s account, whatever is presented, through
    /// its gate (see [`AttemptMsg`] for the budget).
    pub(crate) async fn to_gate(
        &self,
        user_id: UserId,
        presented: Presented,
        budget: Budget,
        client: &RequestContext,
    ) -> Result<Attempt, DomainError> {
        let client = client.clone();
        self.call_gate(user_id.0, |reply| {
            GateMsg::Attempt(AttemptMsg {
                presented,
                budget,
                client,
                reply,
            })
        })
        .await
    }

    /// One TOTP or backup code attempt (or a passkey as a login's second
    /// step), through the user's gate. A login's second step spends the
    /// budget its first step spent; any other check spends `budget`.
    pub(crate) async fn check_code(
        &self,
        user_id: UserId,
        check: CodeCheck,
        budget: Budget,
        client: &RequestContext,
    ) -> Result<Attempt, DomainError> {
        self.to_gate(user_id, Presented::Code(check), budget, client)
            .await
    }

    /// Sends a message to the gate `id` (an account's, or an address's with
    /// no account) and waits for its answer.
    async fn call_gate(
        &self,
        id: Uuid,
        msg: impl FnOnce(Reply) -> GateMsg,
    ) -> Result<Attempt, DomainError> {
        let gates = self.actors.gates()?;
        unavailable(
            gates
                .call(
                    |reply| GatesMsg::ToGate {
                        user_id: id,
                        msg: msg(reply),
                    },
                    Some(CALL_TIMEOUT),
                )
                .await,
        )?
    }

    /// What a unit of work runs after its commit (the outbox relay woken,
    /// the registry told).
    pub fn after_commit(&self) -> crate::work::AfterCommit {
        self.actors.after_commit(&self.sessions.alerts.outbox_wake)
    }

    #[tracing::instrument(skip_all, err(level = "info", Display))]
    pub async fn refresh(
        &self,
        presented: &str,
        client: &RequestContext,
    ) -> Result<TokenPair, DomainError> {
        let now = self.clock.now_ms();
        match self.sessions.rotate(presented, now).await {
            // The claim checked that the account is active.
            Ok(pair) => Ok(pair),
            Err(RotateError::Invalid) => Err(DomainError::Unauthorized),
            Err(RotateError::Limited(wait)) => Err(DomainError::RateLimited {
                retry_after_secs: wait.0,
            }),
            Err(RotateError::Reused(reused)) => {
                let mut work = Work::begin(&self.sessions.db, now).await?;
                self.sessions.end_reused(&mut work, reused, client).await?;
                work.commit(&self.after_commit()).await?;
                Err(DomainError::Unauthorized)
            }
            Err(RotateError::Domain(e)) => Err(e),
        }
    }

    /// Checks a bearer access token (the TokenRegistry's answer).
    pub async fn authenticate(
        &self,
        token: &str,
        client: &RequestContext,
    ) -> Result<Authenticated, DomainError> {
        let accepted = self.revocations.accept(token, self.clock.now_ms()).await?;
        Ok(Authenticated {
            user: accepted.user,
            claims: accepted.claims,
            session_id: accepted.session_id,
            client: client.clone(),
        })
    }

    /// Revokes the caller's session (its access and refresh tokens), and the
    /// session of `refresh_token` when one of the caller's is given.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id), err(level = "info", Display))]
    pub async fn logout(
        &self,
        who: &Authenticated,
        refresh_token: Option<&str>,
    ) -> Result<(), DomainError> {
        // Read before the unit of work begins: on SQLite its transaction
        // holds the one writer connection.
        let other = match refresh_token {
            Some(token) => self.sessions.session_of_refresh(token, who.user.id).await?,
            None => None,
        };
        let mut work = Work::begin(&self.sessions.db, self.clock.now_ms()).await?;
        let event = Event::new(who.user.id, EventKind::LoggedOut, &who.client);
        self.sessions
            .revoke_session(&mut work, who.session_id, event)
            .await?;
        if let Some(other) = other.filter(|o| *o != who.session_id) {
            self.sessions
                .revoke_session(&mut work, other, event)
                .await?;
        }
        // Already revoked (a logout racing another): still refused here.
        work.ended(Revoked {
            sessions: vec![who.session_id],
        });
        work.commit(&self.after_commit()).await
    }

    /// The caller's active sessions, newest first.
    pub async fn sessions_of(&self, who: &Authenticated) -> Result<Vec<Session>, DomainError> {
        let rows = self
            .sessions
            .active(who.user.id, self.clock.now_ms())
            .await?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    /// Ends one of the caller's sessions (the caller's own included);
    /// another user's, or one already ended, is `SessionNotFound`.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id, %session_id), err(level = "info", Display))]
    pub async fn end_session(
        &self,
        who: &Authenticated,
        session_id: SessionId,
    ) -> Result<(), DomainError> {
        let mut work = Work::begin(&self.sessions.db, self.clock.now_ms()).await?;
        if !self
            .sessions
            .end_one(&mut work, who.user.id, session_id, &who.client)
            .await?
        {
            return Err(DomainError::SessionNotFound);
        }
        work.commit(&self.after_commit()).await?;
        tracing::info!("session ended by its user");
        Ok(())
    }

    /// A page of the caller's security events, newest first.
    pub async fn events_of(
        &self,
        who: &Authenticated,
        before: Option<audit::Cursor>,
        limit: u64,
    ) -> Result<(Vec<SecurityEvent>, Option<audit::Cursor>), DomainError> {
        let (rows, next) = audit::page(&self.sessions.db, who.user.id, before, limit).await?;
        Ok((rows.into_iter().map(SecurityEvent::from).collect(), next))
    }

    /// Ends every session of the caller, the calling one included.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id), err(level = "info", Display))]
    pub async fn logout_all(&self, who: &Authenticated) -> Result<(), DomainError> {
        let mut work = Work::begin(&self.sessions.db, self.clock.now_ms()).await?;
        self.sessions
            .end_all(&mut work, who.user.id, &who.client)
            .await?;
        // Already ended by a racing request: still refused here.
        work.ended(Revoked {
            sessions: vec![who.session_id],
        });
        work.commit(&self.after_commit()).await
    }

    /// Logout with only a refresh token (no access token, or an expired
    /// one): ends that token's session. Unknown, expired or already
    /// revoked: `Unauthorized`.
    #[tracing::instrument(skip_all, err(level = "info", Display))]
    pub async fn logout_by_refresh(
        &self,
        refresh_token: &str,
        client: &RequestContext,
    ) -> Result<(), DomainError> {
        let now = self.clock.now_ms();
        let (session_id, user_id) = self
            .sessions
            .live_session_of_refresh(refresh_token, now)
            .await?
            .ok_or(DomainError::Unauthorized)?;
        let event = Event::new(user_id, EventKind::LoggedOut, client);
        let mut work = Work::begin(&self.sessions.db, now).await?;
        if !self
            .sessions
            .revoke_session(&mut work, session_id, event)
            .await?
        {
            // A logout racing another for the same session: the other won.
            return Err(DomainError::Unauthorized);
        }
        work.commit(&self.after_commit()).await
    }
}
