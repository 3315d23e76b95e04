//! Passkeys (WebAuthn, with webauthn-rs): a logged-in user registers,
//! lists, renames and removes them; anyone logs in with one. Registering
//! and removing are credential changes like 2FA's (re-authentication with
//! the password, and for adding one with 2FA on a TOTP code too;
//! credential version moved on, other sessions ended, owner mailed, audit
//! event). A login's assertion is checked by the user's
//! AttemptGate, so passkeys share the lockout and the audit trail of
//! passwords and codes.

pub mod assertion;
pub mod ceremony;
mod login;
pub mod notes;
mod second_factor;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
pub(crate) use ceremony::encode_id;
use jobs::EmailKind;
use sea_orm::EntityTrait;
use tracing::{info, instrument};
use url::Url;
pub use webauthn_rs::Webauthn;
use webauthn_rs::WebauthnBuilder;
/// The WebAuthn types of the HTTP layer (credentials, options).
pub use webauthn_rs::prelude as webauthn;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyRegistration, RegisterPublicKeyCredential,
};
use zeroize::Zeroizing;

use crate::DomainError;
use crate::alerts;
use crate::audit::{Event, EventKind};
use crate::auth::{Auth, Authenticated};
use crate::domain::{PasskeyId, UserId};
use crate::mfa::{Mfa, MfaDeps};
use crate::store::webauthn_challenges::{Bound, Claimant};
use crate::store::{passkeys, users};
use crate::views;
use crate::work::Work;

/// The relying party name shown by authenticators.
pub(crate) const RP_NAME: &str = "authd";
/// A passkey's name: 1 to 100 characters after trimming.
pub(crate) const MAX_NAME_CHARS: usize = 100;

/// The relying party: its id is `rp_id`, or the host of `public_url`; the
/// origin allowed in assertions is `public_url`'s.
pub fn relying_party(public_url: &Url, rp_id: Option<&str>) -> Result<Webauthn, String> {
    let rp_id = match rp_id {
        Some(id) => id.to_owned(),
        None => public_url
            .host_str()
            .ok_or("AUTH_PUBLIC_URL has no host")?
            .to_owned(),
    };
    let mut origin = public_url.clone();
    origin.set_path("");
    origin.set_query(None);
    origin.set_fragment(None);
    WebauthnBuilder::new(&rp_id, &origin)
        .and_then(|b| b.rp_name(RP_NAME).build())
        .map_err(|e| {
            format!("relying party {rp_id} for origin {origin} (an IP address cannot be one): {e}")
        })
}

/// A ceremony started: the options for `navigator.credentials` and the
/// challenge id to send back with the answer.
pub struct Started<T> {
    pub challenge_id: Zeroizing<String>,
    pub options: T,
}

impl<T> std::fmt::Debug for Started<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Started(<redacted>)")
    }
}

#[derive(Clone)]
pub struct Passkeys {
    /// With the relying party (`None`: none could be made from the
    /// settings, passkeys are off).
    pub deps: Arc<MfaDeps>,
    pub auth: Auth,
    /// A login may name its account (`AUTH_PASSKEY_LOGIN_BY_ADDRESS=on`).
    /// Off by default: the options for a named account list its
    /// passkeys, which tells anyone that the address has an account.
    pub login_by_address: bool,
    /// At most this many passkey logins started and not finished are kept
    /// (`AUTH_PASSKEY_OPEN_LOGINS`).
    pub open_logins: u64,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passkeys")
    }
}

/// A passkey's name as given: trimmed, 1 to 100 characters, no control
/// characters.
pub(crate) fn parse_name(raw: &str) -> Result<String, DomainError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(DomainError::field(
            "name",
            "must be 1 to 100 characters after trimming",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(DomainError::field(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

impl Passkeys {
    pub(crate) fn webauthn(&self) -> Result<&Webauthn, DomainError> {
        self.deps
            .webauthn
            .as_deref()
            .ok_or(DomainError::PasskeysOff)
    }

    pub(crate) fn now(&self) -> i64 {
        self.deps.clock.now_ms()
    }

    /// Starts registering a passkey, after checking the password and, with
    /// 2FA on, a current TOTP code: a passkey logs in on its own, so adding
    /// one asks for what the strongest factor asks.
    #[instrument(skip_all, fields(user_id = %who.user.id), err(level = "info", Display))]
    pub async fn start_registration(
        &self,
        who: &Authenticated,
        password: &str,
        totp_code: Option<&str>,
    ) -> Result<Started<CreationChallengeResponse>, DomainError> {
        let webauthn = self.webauthn()?;
        let mfa = Mfa {
            deps: self.deps.clone(),
            auth: self.auth.clone(),
        };
        let user = mfa.reauthenticate(who, password, totp_code).await?;
        let db = &self.deps.db;
        let existing = passkeys::of_user(db, user.id).await?;
        if existing.len() as u64 >= passkeys::MAX_PER_USER {
            return Err(at_cap("password"));
        }
        let exclude = existing
            .iter()
            .filter_map(|p| URL_SAFE_NO_PAD.decode(&p.credential_id).ok())
            .collect();
        let display = format!("{} {}", user.first_name, user.last_name);
        let (options, state) = webauthn
            .start_passkey_registration(user.id.0, &user.email, &display, Some(exclude))
            .map_err(|e| DomainError::Internal(format!("webauthn: {e}")))?;
        let options = prefer_discoverable(options)?;
        let bound = Bound {
            user_id: Some(user.id),
            session_id: Some(who.session_id),
            mfa_challenge_id: None,
        };
        let challenge_id =
            ceremony::start(db, ceremony::Ceremony::Register, bound, &state, self.now()).await?;
        Ok(Started {
            challenge_id,
            options,
        })
    }

    /// Finishes a registration this session started: the passkey is the
    /// account's from now on; every other session ends.
    #[instrument(skip_all, fields(user_id = %who.user.id), err(level = "info", Display))]
    pub async fn finish_registration(
        &self,
        who: &Authenticated,
        challenge_id: &str,
        name: &str,
        credential: &RegisterPublicKeyCredential,
    ) -> Result<views::Passkey, DomainError> {
        let webauthn = self.webauthn()?;
        let name = parse_name(name)?;
        let db = &self.deps.db;
        let now = self.now();
        let who_may = Claimant::Session {
            user_id: who.user.id,
            session_id: who.session_id,
        };
        let row = ceremony::claim(
            db,
            challenge_id,
            &[ceremony::Ceremony::Register],
            who_may,
            now,
        )
        .await?;
        let state: PasskeyRegistration = ceremony::state(&row)?;
        let passkey = webauthn
            .finish_passkey_registration(credential, &state)
            .map_err(|e| {
                info!(error = %e, "passkey registration refused");
                refused_credential()
            })?;
        let user = users::Entity::find_by_id(who.user.id)
            .one(db)
            .await?
            .ok_or(DomainError::Unauthorized)?;
        let added = stored(user.id, name, &passkey, now)?;
        let mut work = Work::begin(db, now).await?;
        // Touching the user row first serialises the finishes of one
        // account (a row lock on PostgreSQL, the write lock on SQLite), so
        // the count sees every passkey a parallel finish committed: the
        // cap holds whatever the starts saw.
        users::touch(work.conn(), user.id, now).await?;
        if passkeys::count_of_user(work.conn(), user.id).await? >= passkeys::MAX_PER_USER {
            return Err(at_cap("credential"));
        }
        match passkeys::add(work.conn(), added.clone()).await {
            Ok(()) => {}
            // Registered already (to another account: this one's are
            // excluded by the options). Refused like any credential the
            // server does not accept, so the answer does not tell that the
            // credential id is registered somewhere.
            Err(e) if crate::store::is_unique_violation(&e) => {
                info!("passkey registration refused: credential id taken");
                return Err(refused_credential());
            }
            Err(e) => return Err(e.into()),
        }
        let facts = alerts::facts(&user, &who.client, now, &self.deps.reset_page);
        let kind = EmailKind::PasskeyAdded(facts);
        self.changed(&mut work, &user, who, kind, EventKind::PasskeyAdded)
            .await?;
        work.commit(&self.auth.after_commit()).await?;
        info!(passkey_id = %added.id, "passkey added");
        Ok(added.into())
    }

    /// The caller's passkeys, oldest first.
    pub async fn list(&self, who: &Authenticated) -> Result<Vec<views::Passkey>, DomainError> {
        let rows = passkeys::of_user(&self.deps.db, who.user.id).await?;
        Ok(rows.into_iter().map(views::Passkey::from).collect())
    }

    /// Renames one of the caller's passkeys (not a credential change).
    #[instrument(skip_all, fields(user_id = %who.user.id, %id), err(level = "info", Display))]
    pub async fn rename(
        &self,
        who: &Authenticated,
        id: PasskeyId,
        name: &str,
    ) -> Result<(), DomainError> {
        let name = parse_name(name)?;
        if !passkeys::rename(&self.deps.db, who.user.id, id, &name).await? {
            return Err(DomainError::PasskeyNotFound);
        }
        Ok(())
    }

    /// Removes one of the caller's passkeys after checking the password;
    /// every other session ends.
    #[instrument(skip_all, fields(user_id = %who.user.id, %id), err(level = "info", Display))]
    pub async fn remove(
        &self,
        who: &Authenticated,
        id: PasskeyId,
        password: &str,
    ) -> Result<(), DomainError> {
        let user = self.auth.reauthenticate(who, password).await?;
        let mut work = Work::begin(&self.deps.db, self.now()).await?;
        if !passkeys::remove(work.conn(), user.id, id).await? {
            return Err(DomainError::PasskeyNotFound);
        }
        let facts = alerts::facts(&user, &who.client, work.now_ms(), &self.deps.reset_page);
        let kind = EmailKind::PasskeyRemoved(facts);
        self.changed(&mut work, &user, who, kind, EventKind::PasskeyRemoved)
            .await?;
        work.commit(&self.auth.after_commit()).await?;
        info!("passkey removed");
        Ok(())
    }

    /// The rest of a passkey change, in its unit of work: a credential
    /// change (other logins ended), the owner mailed, the event recorded.
    async fn changed(
        &self,
        work: &mut Work,
        user: &users::Model,
        who: &Authenticated,
        mail: EmailKind,
        event: EventKind,
    ) -> Result<(), DomainError> {
        work.credential_change(user.id, Some(who.session_id))
            .await?;
        work.mail(&self.deps.sealer, user, mail).await?;
        work.record(Event::new(user.id, event, &who.client)).await
    }
}

/// A registration's credential refused (webauthn-rs refused it, or it is
/// registered already): 400 naming `credential`, one answer for both.
fn refused_credential() -> DomainError {
    DomainError::field("credential", "was not accepted by the server")
}

/// The account has [`passkeys::MAX_PER_USER`] passkeys: refused, naming
/// `field`.
fn at_cap(field: &str) -> DomainError {
    DomainError::field(
        field,
        "this account has the most passkeys it can have: remove one first",
    )
}

/// Asks the authenticator for a discoverable credential where it can make
/// one (`residentKey: "preferred"`; webauthn-rs asks for none), so that
/// the passkey also serves a login without an address. Only the options
/// change: the registration state does not check the resident-key choice.
fn prefer_discoverable(
    options: CreationChallengeResponse,
) -> Result<CreationChallengeResponse, DomainError> {
    let fail = |e: serde_json::Error| DomainError::Internal(format!("creation options: {e}"));
    let mut json = serde_json::to_value(options).map_err(fail)?;
    json["publicKey"]["authenticatorSelection"]["residentKey"] = "preferred".into();
    serde_json::from_value(json).map_err(fail)
}

/// The passkeys of `user_id` as webauthn-rs takes them.
async fn stored_keys(
    db: &sea_orm::DatabaseConnection,
    user_id: UserId,
) -> Result<Vec<Passkey>, DomainError> {
    Ok(passkeys::of_user(db, user_id)
        .await?
        .iter()
        .filter_map(|k| serde_json::from_str::<Passkey>(&k.passkey).ok())
        .collect())
}

/// The row of a newly registered passkey.
fn stored(
    user_id: UserId,
    name: String,
    passkey: &Passkey,
    now_ms: i64,
) -> Result<passkeys::Model, DomainError> {
    let json = serde_json::to_string(passkey)
        .map_err(|e| DomainError::Internal(format!("passkey: {e}")))?;
    // webauthn-rs keeps the counter and flags inside the Passkey; the
    // columns start from what the registration reported.
    let inner: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    let cred = &inner["cred"];
    Ok(passkeys::Model {
        id: PasskeyId::now_v7(),
        user_id,
        credential_id: encode_id(passkey.cred_id().as_slice()),
        passkey: json,
        name,
        counter: cred["counter"].as_i64().unwrap_or(0),
        backup_eligible: cred["backup_eligible"].as_bool().unwrap_or(false),
        backup_state: cred["backup_state"].as_bool().unwrap_or(false),
        created_at: now_ms,
        last_used_at: None,
    })
}
