//! The owner's own data: deleting the account with everything keyed to
//! it, and exporting everything stored about it that is not a secret.
//! Both ask the owner to re-authenticate as a credential change does.
//! [`delete_account`] is the deletion itself, which an admin's deletion
//! runs too.

use jobs::EmailKind;
use sea_orm::EntityTrait;
use tracing::{info, instrument};

use crate::DomainError;
use crate::audit::{self, Event, EventKind};
use crate::auth::Authenticated;
use crate::domain::UserId;
use crate::mfa::Mfa;
use crate::store::{
    address_failures, audit_events, devices, identities, passkeys, sessions, users,
};
use crate::views::{Account, Device, Export, Identity, Passkey, SecurityEvent, Session};
use crate::work::Work;

pub use crate::auth::FRESH_LOGIN_SECS;
/// The request field of the password confirming a change.
const PASSWORD_FIELD: &str = "password";

#[derive(Debug, Clone)]
pub struct AccountData {
    pub mfa: Mfa,
}

impl AccountData {
    /// Deletes the caller's account after re-authentication
    /// ([`delete_account`], as the owner). A parallel deletion that won
    /// leaves this one 401, as the account's tokens now are.
    #[instrument(skip_all, fields(user_id = %who.user.id), err(level = "info", Display))]
    pub async fn delete(
        &self,
        who: &Authenticated,
        password: Option<&str>,
        code: Option<&str>,
    ) -> Result<(), DomainError> {
        let user = self.reauthenticate(who, password, code).await?;
        if !delete_account(&self.mfa, user.id, None).await? {
            return Err(DomainError::Unauthorized);
        }
        Ok(())
    }

    /// Everything stored about the caller that is not a secret, after
    /// re-authentication; recorded as `data_exported` (which the export
    /// shows).
    #[instrument(skip_all, fields(user_id = %who.user.id), err(level = "info", Display))]
    pub async fn export(
        &self,
        who: &Authenticated,
        password: Option<&str>,
        code: Option<&str>,
    ) -> Result<Export, DomainError> {
        let user = self.reauthenticate(who, password, code).await?;
        let deps = &self.mfa.deps;
        let mut work = Work::begin(&deps.db, deps.clock.now_ms()).await?;
        work.record(Event::new(user.id, EventKind::DataExported, &who.client))
            .await?;
        work.commit(&self.mfa.after_commit()).await?;

        let db = &deps.db;
        let user = users::Entity::find_by_id(user.id)
            .one(db)
            .await?
            .ok_or(DomainError::Unauthorized)?;
        let export = Export {
            account: Account::from(&user),
            sessions: sessions::all_of_user(db, user.id)
                .await?
                .into_iter()
                .map(Session::from)
                .collect(),
            events: audit::all_of(db, user.id)
                .await?
                .into_iter()
                .map(SecurityEvent::from)
                .collect(),
            passkeys: passkeys::of_user(db, user.id)
                .await?
                .into_iter()
                .map(Passkey::from)
                .collect(),
            devices: devices::all_of_user(db, user.id)
                .await?
                .into_iter()
                .map(Device::from)
                .collect(),
            alert_new_device: user.alert_new_device,
            identities: identities::of_user(db, user.id)
                .await?
                .into_iter()
                .map(Identity::from)
                .collect(),
        };
        info!("account data exported");
        Ok(export)
    }

    /// What deleting or exporting asks of the owner: with a password, the
    /// password (and with 2FA on a TOTP code too), checked through the
    /// user's gate on the budget of the device this session logged in
    /// with (`Mfa::reauthenticate`); a missing code with 2FA on is refused
    /// before anything is checked. Without a password (an account made by
    /// another identity provider), a fresh login: an access token issued
    /// less than [`FRESH_LOGIN_SECS`] ago, in a session that logged in
    /// less than that ago.
    async fn reauthenticate(
        &self,
        who: &Authenticated,
        password: Option<&str>,
        code: Option<&str>,
    ) -> Result<Box<users::Model>, DomainError> {
        if !users::has_password(&who.user) {
            self.mfa.auth.require_fresh_login(who).await?;
            return Ok(Box::new(who.user.as_ref().clone()));
        }
        let password = password.ok_or_else(|| DomainError::field(PASSWORD_FIELD, "is required"))?;
        self.mfa.reauthenticate_owner(who, password, code).await
    }
}

/// Deletes the account `user_id`, the one owner of a deletion (the
/// owner's own, after re-authentication, and an admin's): in one
/// transaction every session ends, the user row goes with everything
/// keyed to it (the foreign keys cascade), its security events and the
/// failures counted for its address are forgotten, one mail says so
/// (naming an administrator when `actor` is one), one bare
/// `account_deleted` event stays (its `actor` the admin's, if one did it)
/// and `user.deleted` is queued. After the commit the registry refuses
/// every access token of the user, here and on the other nodes.
/// `Ok(false)`: there is no such account (or a parallel deletion won);
/// nothing is written.
#[instrument(skip_all, fields(%user_id, actor = actor.unwrap_or("")), err(level = "info", Display))]
pub(crate) async fn delete_account(
    mfa: &Mfa,
    user_id: UserId,
    actor: Option<&str>,
) -> Result<bool, DomainError> {
    let deps = &mfa.deps;
    let mut work = Work::begin(&deps.db, deps.clock.now_ms()).await?;
    // First the user row (the credential version moves on), as a login's
    // start takes it: a login racing this one either commits its session
    // first (ended here) or finds the account gone. Then every session,
    // sessions before tokens, as a refresh takes them. Read after that
    // write, the row is the one this deletion holds (the address mailed
    // is the current one).
    work.credential_change(user_id, None).await?;
    let Some(user) = users::Entity::find_by_id(user_id).one(work.conn()).await? else {
        return Ok(false);
    };
    audit_events::delete_of_users(work.conn(), &[user.id]).await?;
    if !users::delete(work.conn(), user.id).await? {
        return Ok(false);
    }
    let address = mfa.auth.addresses.id(&user.email_normalized);
    address_failures::forget(work.conn(), address).await?;
    let kind = EmailKind::AccountDeleted {
        first_name: user.first_name.clone(),
        by_admin: actor.is_some(),
    };
    work.mail(&deps.sealer, &user, kind).await?;
    work.record_bare(user.id, EventKind::AccountDeleted, actor)
        .await?;
    let after = mfa.after_commit();
    work.webhook_deleted(&after, user.id).await?;
    work.commit(&after).await?;
    info!("account deleted");
    Ok(true)
}
