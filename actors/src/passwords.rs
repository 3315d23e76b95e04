//! Password reset by emailed token, password change, and the "your password
//! was changed" notice. Any change of the password, by either route, voids
//! the outstanding reset tokens and revokes the user's other sessions in the
//! same transaction; the TokenRegistry is told after the commit.

use jobs::EmailKind;
use sea_orm::EntityTrait;
use tracing::{info, instrument};

use crate::audit::{Event, EventKind};
use crate::auth::{Auth, Authenticated};
use crate::context::RequestContext;
use crate::domain::{Email, Password, SessionId, UserId};
use crate::store::one_time_tokens::LinkKind;
use crate::store::{one_time_tokens, users};
use crate::work::Work;
use crate::{Accounts, DomainError};

pub(crate) const RESET_TTL_MS: i64 = 24 * 3600 * 1000;
const SAME_AS_CURRENT: &str = "must be different from the current password";
/// The request field that carries a new password.
const NEW_PASSWORD: &str = "new_password";

#[derive(Debug, Clone)]
pub struct Passwords {
    pub accounts: Accounts,
    pub auth: Auth,
}

impl Passwords {
    /// Queues a reset email if `email` belongs to an active account. The
    /// lookup and the writes happen after the caller has its answer, so the
    /// answer takes the same time whatever the address.
    pub fn request_reset(&self, email: Email, client: &RequestContext) {
        let this = self.clone();
        let client = client.clone();
        self.accounts.tasks.spawn(async move {
            this.accounts.hooks.before_mail_request.pass().await;
            // Errors are logged by `instrument`; the client's answer is the
            // same in any case.
            let _ = this.queue_reset(&email, &client).await;
        });
    }

    #[instrument(skip_all, fields(user_id), err(level = "info", Display))]
    async fn queue_reset(&self, email: &Email, client: &RequestContext) -> Result<(), DomainError> {
        let db = &self.accounts.db;
        let Some(user) = users::find_by_normalized_email(db, email.normalized()).await? else {
            return Ok(());
        };
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        if !user.is_active || !self.accounts.mail_budget.allow(email).await {
            return Ok(());
        }
        let mut work = Work::begin(db, self.accounts.clock.now_ms()).await?;
        let now = work.now_ms();
        // Touching the user row first serialises concurrent requests for
        // one user, so the last link voids every earlier one.
        users::touch(work.conn(), user.id, now).await?;
        mail_reset(&self.accounts, &mut work, &user).await?;
        work.record(Event::new(user.id, EventKind::ResetRequested, client))
            .await?;
        work.commit(&self.accounts.after).await?;
        info!("password reset email queued");
        Ok(())
    }

    /// Sets a new password with an emailed reset token: the token used, the
    /// email verified, the lock cleared, every session and every access
    /// token issued so far revoked, in one transaction.
    #[instrument(skip_all, fields(user_id), err(level = "info", Display))]
    pub async fn confirm_reset(
        &self,
        token: &str,
        new_password: &str,
        client: &RequestContext,
    ) -> Result<(), DomainError> {
        let db = &self.accounts.db;
        let now = self.accounts.clock.now_ms();
        let row = one_time_tokens::find(db, token, LinkKind::PasswordReset)
            .await?
            .filter(|r| r.used_at.is_none() && r.expires_at > now)
            .ok_or(DomainError::InvalidToken)?;
        tracing::Span::current().record("user_id", tracing::field::display(row.user_id));
        let user = users::Entity::find_by_id(row.user_id)
            .one(db)
            .await?
            .filter(|u| u.is_active)
            .ok_or(DomainError::InvalidToken)?;
        // No "must differ from the current password" rule here: answered
        // before the token is used, it would make a leaked link an
        // uncounted oracle for the current password.
        let password = parse_new(new_password, &user)?;
        self.accounts
            .breached
            .screen(&password, NEW_PASSWORD)
            .await?;
        let hash = self.accounts.hasher.hash(password.expose()).await?;

        let now = self.accounts.clock.now_ms();
        let mut work = Work::begin(db, now).await?;
        if !one_time_tokens::consume(work.conn(), row.id, now).await? {
            return Err(DomainError::InvalidToken);
        }
        // Tokens issued in this second before now are revoked one by one
        // below; the mark (whole seconds, as `iat`) covers every older one.
        let mark = now - now.rem_euclid(1000);
        let verified_at = user.email_verified_at.unwrap_or(now);
        users::reset_password(work.conn(), user.id, hash, verified_at, mark, now).await?;
        // A reset by an emailed link clears the lock, as a completed login
        // does (the lockout machine's state after a success).
        let cleared = crate::lockout::LockoutPolicy::cleared();
        users::set_lock_state(work.conn(), user.id, cleared).await?;
        self.changed(&mut work, &user, None).await?;
        work.record(Event::new(user.id, EventKind::ResetCompleted, client))
            .await?;
        work.commit(&self.accounts.after).await?;
        info!("password reset");
        Ok(())
    }

    /// Changes the caller's password. A wrong current password counts
    /// toward the lockout; on success every other session is revoked and
    /// the caller's stays valid.
    #[instrument(skip_all, fields(user_id = %who.user.id), err(level = "info", Display))]
    pub async fn change(
        &self,
        who: &Authenticated,
        current_password: &str,
        new_password: &str,
    ) -> Result<(), DomainError> {
        let password = parse_new(new_password, &who.user)?;
        if password.expose() == current_password {
            return Err(DomainError::field(NEW_PASSWORD, SAME_AS_CURRENT));
        }
        self.accounts
            .breached
            .screen(&password, NEW_PASSWORD)
            .await?;
        let user = self.auth.reauthenticate(who, current_password).await?;
        let hash = self.accounts.hasher.hash(password.expose()).await?;

        let now = self.accounts.clock.now_ms();
        let mut work = Work::begin(&self.accounts.db, now).await?;
        // Only from the credentials that were just checked: of two
        // concurrent changes, the second finds them changed.
        let version = user.credential_version;
        if !users::change_password_at_version(work.conn(), user.id, version, hash, now).await? {
            return Err(DomainError::WrongPassword);
        }
        self.changed(&mut work, &user, Some(who.session_id)).await?;
        work.record(Event::new(user.id, EventKind::PasswordChanged, &who.client))
            .await?;
        work.commit(&self.accounts.after).await?;
        info!("password changed");
        Ok(())
    }

    /// What every password change does in its unit of work: what every
    /// credential change does (version moved on, `mfa_token`s and reset
    /// links void, other devices forgotten, sessions but `keep` ended),
    /// and the notice.
    async fn changed(
        &self,
        work: &mut Work,
        user: &users::Model,
        keep: Option<SessionId>,
    ) -> Result<(), DomainError> {
        work.credential_change(user.id, keep).await?;
        work.webhook(
            &self.accounts.after,
            jobs::EventType::UserPasswordChanged,
            user.id,
        )
        .await?;
        let kind = EmailKind::PasswordChanged {
            first_name: user.first_name.clone(),
            passkeys: crate::passkeys::notes::of_user(work.conn(), user.id).await?,
        };
        work.mail(&self.accounts.sealer, user, kind).await
    }
}

/// A new reset link of `user_id` valid `ttl_ms`, every earlier one void:
/// the link to mail. The caller has taken the user row first in `work`
/// (`users::touch`), so that of concurrent requests the last link voids
/// every other.
pub(crate) async fn reset_link(
    accounts: &Accounts,
    work: &Work,
    user_id: UserId,
    ttl_ms: i64,
) -> Result<String, DomainError> {
    let (conn, now) = (work.conn(), work.now_ms());
    one_time_tokens::void_all(conn, user_id, LinkKind::PasswordReset, now).await?;
    let token = one_time_tokens::issue(conn, user_id, LinkKind::PasswordReset, ttl_ms, now).await?;
    Ok(accounts.links.reset_password(&token.secret))
}

/// The reset mail of a user's own request, and of an admin's: a new link
/// valid [`RESET_TTL_MS`], earlier ones void, queued in `work` (whose
/// caller took the user row first).
pub(crate) async fn mail_reset(
    accounts: &Accounts,
    work: &mut Work,
    user: &users::Model,
) -> Result<(), DomainError> {
    let link = reset_link(accounts, work, user.id, RESET_TTL_MS).await?;
    let kind = EmailKind::PasswordReset {
        // A name typed at registration is shown only once the owner of the
        // address has proved it (anyone can register any address).
        first_name: if user.email_verified_at.is_some() {
            user.first_name.clone()
        } else {
            String::new()
        },
        link,
    };
    work.mail(&accounts.sealer, user, kind).await
}

/// The new password, checked against the rules of registration.
fn parse_new(raw: &str, user: &users::Model) -> Result<Password, DomainError> {
    let email = Email::parse(&user.email).ok();
    Password::parse(raw, email.as_ref()).map_err(|messages| {
        DomainError::Validation(crate::FieldErrors::from([(
            NEW_PASSWORD.to_owned(),
            messages,
        )]))
    })
}
