//! Registration and email verification. Uniqueness and single use are decided
//! by the database (unique index, conditional updates), so they hold across
//! requests, restarts and nodes.

use std::sync::Arc;

use jobs::{EmailKind, EventType, Sealer, SharedClock};
use sea_orm::DatabaseConnection;
use tokio_util::task::TaskTracker;
use tracing::{info, instrument};

use crate::audit::{Event, EventKind};
use crate::breached::BreachedPasswords;
use crate::context::RequestContext;
use crate::domain::{AppMetadata, CompanyName, Email, Password, PersonName, Roles, UserId};
use crate::error::FieldErrors;
use crate::hooks::Hooks;
use crate::rate_limit::MailBudget;
use crate::store::one_time_tokens::LinkKind;
use crate::store::{self, one_time_tokens, users};
use crate::work::{AfterCommit, Work};
use crate::{DomainError, Hasher};

pub(crate) const VERIFY_EMAIL_TTL_MS: i64 = 48 * 3600 * 1000;

/// A registration, parsed: every field is valid, the password given.
#[derive(Debug)]
pub struct RegisterInput(NewAccount);

impl RegisterInput {
    /// Parses every field and reports every failing rule at once.
    pub fn parse(
        email: &str,
        password: &str,
        first_name: &str,
        last_name: &str,
        company_name: Option<&str>,
    ) -> Result<Self, DomainError> {
        NewAccount::parse(email, Some(password), first_name, last_name, company_name).map(Self)
    }
}

/// A new account's fields, parsed by the rules of registration; the
/// password may be absent (an account an admin makes and invites).
#[derive(Debug)]
pub struct NewAccount {
    pub email: Email,
    pub password: Option<Password>,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub company_name: Option<CompanyName>,
}

impl NewAccount {
    /// Parses every field and reports every failing rule at once.
    pub fn parse(
        email: &str,
        password: Option<&str>,
        first_name: &str,
        last_name: &str,
        company_name: Option<&str>,
    ) -> Result<Self, DomainError> {
        let mut errors = FieldErrors::new();
        let mut keep = |field: &str, r: Result<(), Vec<String>>| {
            if let Err(messages) = r {
                errors.insert(field.to_owned(), messages);
            }
        };
        let email = Email::parse(email);
        let password = password
            .map(|p| Password::parse(p, email.as_ref().ok()))
            .transpose();
        let first = PersonName::parse(first_name);
        let last = PersonName::parse(last_name);
        let company = CompanyName::parse(company_name);
        keep("email", email.as_ref().map(|_| ()).map_err(Clone::clone));
        keep(
            "password",
            password.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        keep(
            "first_name",
            first.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        keep("last_name", last.as_ref().map(|_| ()).map_err(Clone::clone));
        keep(
            "company_name",
            company.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        match (email, password, first, last, company) {
            (Ok(email), Ok(password), Ok(first_name), Ok(last_name), Ok(company_name)) => {
                Ok(Self {
                    email,
                    password,
                    first_name,
                    last_name,
                    company_name,
                })
            }
            _ => Err(DomainError::Validation(errors)),
        }
    }
}

/// What an admin may set on a new account beyond the fields of a
/// registration, which leaves them at these defaults.
#[derive(Debug, Default)]
pub(crate) struct Preset {
    /// The address counts as verified from the start.
    pub(crate) email_verified: bool,
    pub(crate) roles: Roles,
    pub(crate) app_metadata: AppMetadata,
}

/// Builds the links that go into emails, from `AUTH_PUBLIC_URL` only.
#[derive(Debug, Clone)]
pub struct Links {
    base: String,
}

impl Links {
    pub fn new(public_url: &url::Url) -> Self {
        Self {
            base: public_url.as_str().trim_end_matches('/').to_owned(),
        }
    }

    pub fn verify_email(&self, token: &str) -> String {
        format!("{}/verify-email?token={token}", self.base)
    }

    pub(crate) fn reset_password(&self, token: &str) -> String {
        format!("{}/reset-password?token={token}", self.base)
    }

    pub(crate) fn confirm_email_change(&self, token: &str) -> String {
        format!("{}/confirm-email-change?token={token}", self.base)
    }

    pub(crate) fn revert_email_change(&self, token: &str) -> String {
        format!("{}/revert-email-change?token={token}", self.base)
    }

    /// The page where a reset is asked for: the reset page with no token.
    pub fn reset_request(&self) -> String {
        format!("{}/reset-password", self.base)
    }

    /// The site the links lead to (`AUTH_PUBLIC_URL`), as an invitation
    /// names it.
    pub(crate) fn site(&self) -> &str {
        &self.base
    }
}

#[derive(Debug, Clone)]
pub struct Accounts {
    pub db: DatabaseConnection,
    pub hasher: Hasher,
    pub sealer: Arc<Sealer>,
    pub clock: SharedClock,
    pub links: Links,
    /// What a change's commit runs after it (the outbox relay woken).
    pub after: AfterCommit,
    /// Mail requests finish after their answer; shutdown waits for them.
    pub tasks: TaskTracker,
    /// Mails on request (reset, resend) per recipient address.
    pub mail_budget: MailBudget,
    /// Screens every new password against known breaches.
    pub breached: BreachedPasswords,
    /// Pause points for tests.
    pub hooks: Hooks,
}

impl Accounts {
    /// Asks for a new verification link for `email`. The lookup and the
    /// writes happen after the caller has its answer, so the answer takes
    /// the same time whatever the address.
    pub fn request_resend(&self, email: Email) {
        let this = self.clone();
        self.tasks.spawn(async move {
            this.hooks.before_mail_request.pass().await;
            // Errors are logged by `instrument`; the answer is the same.
            let _ = this.resend_verification(&email).await;
        });
    }

    /// Creates an unverified user and queues the verification email, in one
    /// transaction.
    #[instrument(skip_all, fields(user_id), err(level = "info", Display))]
    pub async fn register(
        &self,
        input: RegisterInput,
        client: &RequestContext,
    ) -> Result<UserId, DomainError> {
        let RegisterInput(account) = input;
        let (mut work, id) = self.begin_account(&account, Preset::default()).await?;
        self.queue_verification(&mut work, id, account.email.as_str())
            .await?;
        work.record(Event::new(id, EventKind::Registered, client))
            .await?;
        work.webhook(&self.after, EventType::UserCreated, id)
            .await?;
        work.commit(&self.after).await?;
        info!("user registered");
        Ok(id)
    }

    /// The start of every new account, registered or made by an admin: 409
    /// for an address that has an account, before any hashing; the password
    /// screened against breaches and hashed (without one, the hash is
    /// stored empty: no password logs in, see `users::has_password`); the
    /// row inserted, the unique index deciding a race for the address, in
    /// a new unit of work that the caller goes on with and commits.
    pub(crate) async fn begin_account(
        &self,
        account: &NewAccount,
        preset: Preset,
    ) -> Result<(Work, UserId), DomainError> {
        let normalized = account.email.normalized();
        if users::find_by_normalized_email(&self.db, normalized)
            .await?
            .is_some()
        {
            return Err(DomainError::EmailTaken);
        }
        let password_hash = match &account.password {
            Some(password) => {
                self.breached.screen(password, "password").await?;
                self.hasher.hash(password.expose()).await?
            }
            None => String::new(),
        };
        let id = UserId::new_v4();
        tracing::Span::current().record("user_id", tracing::field::display(id));

        let work = Work::begin(&self.db, self.clock.now_ms()).await?;
        let now = work.now_ms();
        let user = users::NewUser {
            id,
            email: account.email.as_str().to_owned(),
            email_normalized: normalized.to_owned(),
            password_hash,
            first_name: account.first_name.as_str().to_owned(),
            last_name: account.last_name.as_str().to_owned(),
            company_name: account.company_name.as_ref().map(|c| c.as_str().to_owned()),
            email_verified_at: preset.email_verified.then_some(now),
            roles: preset.roles.to_stored(),
            app_metadata: preset.app_metadata.to_stored(),
        };
        if let Err(e) = users::register(work.conn(), user, now).await {
            return Err(if store::is_unique_violation(&e) {
                DomainError::EmailTaken
            } else {
                e.into()
            });
        }
        Ok((work, id))
    }

    /// Activates the account whose verification token this is.
    #[instrument(skip_all, fields(user_id), err(level = "info", Display))]
    pub async fn verify_email(
        &self,
        token: &str,
        client: &RequestContext,
    ) -> Result<(), DomainError> {
        let row = one_time_tokens::find(&self.db, token, LinkKind::VerifyEmail)
            .await?
            .ok_or(DomainError::InvalidToken)?;
        tracing::Span::current().record("user_id", tracing::field::display(row.user_id));
        let now = self.clock.now_ms();
        let mut work = Work::begin(&self.db, now).await?;
        if !one_time_tokens::consume(work.conn(), row.id, now).await? {
            return Err(DomainError::InvalidToken);
        }
        users::mark_verified(work.conn(), row.user_id, now).await?;
        work.record(Event::new(row.user_id, EventKind::EmailVerified, client))
            .await?;
        work.webhook(&self.after, EventType::UserEmailVerified, row.user_id)
            .await?;
        self.hooks.before_verify_commit.pass().await;
        work.commit(&self.after).await?;
        info!("email verified");
        Ok(())
    }

    /// Emails a new link to an existing, unverified account and voids the
    /// earlier ones. Says nothing about whether the account exists.
    #[instrument(skip_all, err(level = "info", Display))]
    async fn resend_verification(&self, email: &Email) -> Result<(), DomainError> {
        let Some(user) = users::find_by_normalized_email(&self.db, email.normalized()).await?
        else {
            return Ok(());
        };
        if user.email_verified_at.is_some()
            || !user.is_active
            || !self.mail_budget.allow(email).await
        {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let mut work = Work::begin(&self.db, now).await?;
        // Touching the user row first serialises concurrent resends for one
        // user, so the last link voids all others.
        users::touch(work.conn(), user.id, now).await?;
        one_time_tokens::void_all(work.conn(), user.id, LinkKind::VerifyEmail, now).await?;
        self.queue_verification(&mut work, user.id, &user.email)
            .await?;
        work.commit(&self.after).await?;
        info!(user_id = %user.id, "verification email queued again");
        Ok(())
    }

    /// The verification email carries no name: anyone can register any
    /// address with any name, so a name here would be text of the
    /// registrant's choosing sent from our domain to a stranger.
    pub(crate) async fn queue_verification(
        &self,
        work: &mut Work,
        user_id: UserId,
        stored_email: &str,
    ) -> Result<(), DomainError> {
        let token = one_time_tokens::issue(
            work.conn(),
            user_id,
            LinkKind::VerifyEmail,
            VERIFY_EMAIL_TTL_MS,
            work.now_ms(),
        )
        .await?;
        let kind = EmailKind::VerifyEmail {
            link: self.links.verify_email(&token.secret),
        };
        work.mail_to(&self.sealer, user_id, stored_email, kind)
            .await?;
        Ok(())
    }
}
