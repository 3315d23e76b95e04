//! Moving an account to another address. A logged-in owner asks for it
//! (password, and a code with 2FA on): a single-use link goes to the new
//! address, or a notice without a link when the address already has an
//! account (one answer for both). Using the link moves the account, as a
//! credential change (every session ends), and mails the old address a
//! link that puts it back; putting it back ends every session again and
//! mails a password reset link. Who gets an address is decided by the
//! unique index on the normalised address, across requests and nodes.

use jobs::EmailKind;
use sea_orm::EntityTrait;
use tracing::{info, instrument};

use crate::audit::{Event, EventKind};
use crate::auth::Authenticated;
use crate::context::RequestContext;
use crate::domain::{Email, UserId};
use crate::passwords::{RESET_TTL_MS, reset_link};
use crate::store::one_time_tokens::LinkKind;
use crate::store::{self, one_time_tokens, users};
use crate::work::Work;
use crate::{Accounts, DomainError, FieldErrors, Mfa};

/// How long the link to the new address works.
pub(crate) const CHANGE_TTL_MS: i64 = 24 * 3600 * 1000;
/// How long the link to the old address works.
pub(crate) const REVERT_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
/// The request field of the new address.
const NEW_EMAIL: &str = "new_email";

#[derive(Debug, Clone)]
pub struct EmailChanges {
    pub accounts: Accounts,
    pub mfa: Mfa,
}

impl EmailChanges {
    /// Mails a link that moves the caller's account to `new_email`, or a
    /// notice without one when that address already has an account; the
    /// caller cannot tell which (same answer, same statements). A newer
    /// request voids the earlier links. Re-authenticates first: the
    /// password, and a code with 2FA on, spending the budget of the device
    /// the session logged in with.
    #[instrument(skip_all, fields(user_id = %who.user.id), err(level = "info", Display))]
    pub async fn request(
        &self,
        who: &Authenticated,
        password: &str,
        new_email: &str,
        totp_code: Option<&str>,
    ) -> Result<(), DomainError> {
        let new = Email::parse(new_email).map_err(|messages| {
            DomainError::Validation(FieldErrors::from([(NEW_EMAIL.to_owned(), messages)]))
        })?;
        if new.normalized() == who.user.email_normalized {
            return Err(DomainError::field(
                NEW_EMAIL,
                "is already the address of this account",
            ));
        }
        let user = self
            .mfa
            .reauthenticate_owner(who, password, totp_code)
            .await?;
        let db = &self.accounts.db;
        let taken = users::find_by_normalized_email(db, new.normalized())
            .await?
            .is_some();
        // Counted for a taken address too: the budget says nothing either.
        let send = self.accounts.mail_budget.allow(&new).await;
        self.accounts.hooks.before_email_change_work.pass().await;

        let mut work = Work::begin(db, self.accounts.clock.now_ms()).await?;
        let now = work.now_ms();
        // Only from the credentials just checked (a revert or another
        // credential change meanwhile ended this session); first in the
        // transaction, it also serialises one user's requests, so the last
        // link voids every earlier one.
        let version = user.credential_version;
        if users::touch_at_version(work.conn(), user.id, version, now)
            .await?
            .is_none()
        {
            return Err(DomainError::Unauthorized);
        }
        one_time_tokens::void_all(work.conn(), user.id, LinkKind::EmailChange, now).await?;
        // A link is stored for a taken address too (its secret is dropped
        // unsent): the same writes whatever the address.
        let token = one_time_tokens::issue_for(
            work.conn(),
            user.id,
            LinkKind::EmailChange,
            Some(new.as_str().to_owned()),
            CHANGE_TTL_MS,
            now,
        )
        .await?;
        if send {
            let kind = if taken {
                EmailKind::EmailChangeTaken
            } else {
                EmailKind::EmailChangeConfirm {
                    link: self.accounts.links.confirm_email_change(&token.secret),
                }
            };
            // The address is the one just stored with the link.
            work.mail_to(&self.accounts.sealer, user.id, new.as_str(), kind)
                .await?;
        }
        work.record(Event::new(
            user.id,
            EventKind::EmailChangeRequested,
            &who.client,
        ))
        .await?;
        work.commit(&self.accounts.after).await?;
        info!("address change requested");
        Ok(())
    }

    /// Moves the account to the address its link was mailed to (verified
    /// by the link): a credential change with no session kept. The old
    /// address is mailed a link that puts it back.
    #[instrument(skip_all, fields(user_id), err(level = "info", Display))]
    pub async fn confirm(&self, token: &str, client: &RequestContext) -> Result<(), DomainError> {
        let Moved { mut work, user, .. } = self.move_by(token, LinkKind::EmailChange).await?;
        let (user_id, now) = (user.id, work.now_ms());
        // Links for the address the account leaves.
        one_time_tokens::void_all(work.conn(), user_id, LinkKind::VerifyEmail, now).await?;
        work.credential_change(user_id, None).await?;
        let revert = one_time_tokens::issue_for(
            work.conn(),
            user_id,
            LinkKind::EmailRevert,
            Some(user.email.clone()),
            REVERT_TTL_MS,
            now,
        )
        .await?;
        let kind = EmailKind::EmailChanged {
            first_name: user.first_name.clone(),
            link: self.accounts.links.revert_email_change(&revert.secret),
        };
        work.mail(&self.accounts.sealer, &user, kind).await?;
        work.record(Event::new(user_id, EventKind::EmailChanged, client))
            .await?;
        work.webhook(
            &self.accounts.after,
            jobs::EventType::UserEmailChanged,
            user_id,
        )
        .await?;
        work.commit(&self.accounts.after).await?;
        info!("address changed");
        Ok(())
    }

    /// Puts back the address a revert link was mailed to: every session
    /// ends, every known device is forgotten, pending address changes and
    /// the revert links of later moves are void, and the restored address
    /// is mailed a password reset link.
    #[instrument(skip_all, fields(user_id), err(level = "info", Display))]
    pub async fn revert(&self, token: &str, client: &RequestContext) -> Result<(), DomainError> {
        let Moved {
            mut work,
            user,
            row,
            to: old,
        } = self.move_by(token, LinkKind::EmailRevert).await?;
        let (user_id, now) = (user.id, work.now_ms());
        // Revert links of the moves after this one would lead away again.
        let since = row.created_at;
        one_time_tokens::void_issued_since(work.conn(), user_id, LinkKind::EmailRevert, since, now)
            .await?;
        // Reset links die here; the one below is issued after.
        work.credential_change(user_id, None).await?;
        let link = reset_link(&self.accounts, &work, user_id, RESET_TTL_MS).await?;
        let kind = EmailKind::EmailRestored {
            first_name: user.first_name.clone(),
            link,
        };
        work.mail_to(&self.accounts.sealer, user_id, old.as_str(), kind)
            .await?;
        work.record(Event::new(user_id, EventKind::EmailChangeReverted, client))
            .await?;
        work.webhook(
            &self.accounts.after,
            jobs::EventType::UserEmailChanged,
            user_id,
        )
        .await?;
        work.commit(&self.accounts.after).await?;
        info!("address change reverted");
        Ok(())
    }

    /// The start of a confirmation or a revert: the link of `kind` whose
    /// secret is `token` used, the account moved to the address it was
    /// mailed to, and the pending address changes void (links for another
    /// move), in a unit of work left open for the rest.
    async fn move_by(&self, token: &str, kind: LinkKind) -> Result<Moved, DomainError> {
        let (row, user_id) = self.usable(token, kind).await?;
        let to = address_of(&row)?;
        let work = self.claim(user_id, &row).await?;
        let user = current(&work, user_id).await?;
        move_to(&work, user_id, &to).await?;
        one_time_tokens::void_all(work.conn(), user_id, LinkKind::EmailChange, work.now_ms())
            .await?;
        Ok(Moved {
            work,
            user,
            row,
            to,
        })
    }

    /// The unused, unexpired link of `kind` whose secret is `token`, of an
    /// active account.
    async fn usable(
        &self,
        token: &str,
        kind: LinkKind,
    ) -> Result<(one_time_tokens::Model, UserId), DomainError> {
        let db = &self.accounts.db;
        let now = self.accounts.clock.now_ms();
        let row = one_time_tokens::find(db, token, kind)
            .await?
            .filter(|r| r.used_at.is_none() && r.expires_at > now)
            .ok_or(DomainError::InvalidToken)?;
        tracing::Span::current().record("user_id", tracing::field::display(row.user_id));
        users::Entity::find_by_id(row.user_id)
            .one(db)
            .await?
            .filter(|u| u.is_active)
            .ok_or(DomainError::InvalidToken)?;
        let user_id = row.user_id;
        Ok((row, user_id))
    }

    /// Begins the unit of work of a link: the user row first (a
    /// confirmation, a revert and a request of one user take it in this
    /// one order), then the link, used once.
    async fn claim(
        &self,
        user_id: UserId,
        row: &one_time_tokens::Model,
    ) -> Result<Work, DomainError> {
        let work = Work::begin(&self.accounts.db, self.accounts.clock.now_ms()).await?;
        let now = work.now_ms();
        users::touch(work.conn(), user_id, now).await?;
        if !one_time_tokens::consume(work.conn(), row.id, now).await? {
            return Err(DomainError::InvalidToken);
        }
        Ok(work)
    }
}

/// The address a link is for.
/// A move begun by [`EmailChanges::move_by`]: the open unit of work, the
/// user as it was before the move, the link used and the address moved to.
struct Moved {
    work: Work,
    user: users::Model,
    row: one_time_tokens::Model,
    to: Email,
}

fn address_of(row: &one_time_tokens::Model) -> Result<Email, DomainError> {
    row.address
        .as_deref()
        .and_then(|a| Email::parse(a).ok())
        .ok_or(DomainError::InvalidToken)
}

/// The account as it is in this unit of work (after its row was taken).
async fn current(work: &Work, user_id: UserId) -> Result<users::Model, DomainError> {
    users::Entity::find_by_id(user_id)
        .one(work.conn())
        .await?
        .ok_or(DomainError::InvalidToken)
}

/// Moves the account to `to`, verified (its link proved it): 409 when
/// another account has it.
async fn move_to(work: &Work, user_id: UserId, to: &Email) -> Result<(), DomainError> {
    set_address(work, user_id, to, Some(work.now_ms())).await
}

/// Sets the account's address to `to`, verified at `verified_at` or not:
/// `EmailTaken` when another account has it (the unique index decides).
pub(crate) async fn set_address(
    work: &Work,
    user_id: UserId,
    to: &Email,
    verified_at: Option<i64>,
) -> Result<(), DomainError> {
    let (now, conn) = (work.now_ms(), work.conn());
    match users::change_email(
        conn,
        user_id,
        to.as_str(),
        to.normalized(),
        verified_at,
        now,
    )
    .await
    {
        Ok(()) => Ok(()),
        Err(e) if store::is_unique_violation(&e) => Err(DomainError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}
