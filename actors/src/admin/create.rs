//! An admin makes an account: the fields of a registration, checked by
//! its rules (the same newtypes, password strength and breach screen, the
//! same hashing), plus what only an admin sets (verified, roles, app
//! metadata). Without a password the account has none that logs in, and
//! its address is mailed an invitation: a password reset link valid
//! [`INVITATION_TTL_MS`]. With one and an unverified address, the
//! verification mail of a registration goes out.

use jobs::{EmailKind, EventType};
use tracing::{info, instrument};

use super::{Admin, AdminCaller, AdminUser};
use crate::accounts::Preset;
use crate::audit::{Event, EventKind};
use crate::context::RequestContext;
use crate::domain::{AppMetadata, Roles};
use crate::passwords::reset_link;
use crate::{DomainError, NewAccount};

/// How long an invitation's link works (a user's own reset link: 24 h).
pub(crate) const INVITATION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// An account an admin makes, parsed.
#[derive(Debug)]
pub struct AdminNewUser {
    /// The fields of a registration; no password: an invitation.
    pub account: NewAccount,
    /// The address counts as verified from the start.
    pub email_verified: bool,
    pub roles: Option<Roles>,
    pub app_metadata: Option<AppMetadata>,
}

impl Admin {
    /// Makes the account, and mails it an invitation (no password) or a
    /// verification link (a password and an unverified address), in one
    /// unit of work: `registered` by the admin, `user.created`. 409 when
    /// the address has an account (of a create racing a registration or
    /// another create, exactly one gets the address).
    #[instrument(skip_all, fields(user_id, admin = %caller.name), err(level = "info", Display))]
    pub async fn create_user(
        &self,
        caller: &AdminCaller,
        new: AdminNewUser,
        client: &RequestContext,
    ) -> Result<AdminUser, DomainError> {
        caller.may_write()?;
        let AdminNewUser {
            account,
            email_verified,
            roles,
            app_metadata,
        } = new;
        let preset = Preset {
            email_verified,
            roles: roles.unwrap_or_default(),
            app_metadata: app_metadata.unwrap_or_default(),
        };
        let accounts = &self.accounts;
        let (mut work, id) = accounts.begin_account(&account, preset).await?;
        let address = account.email.as_str();
        if account.password.is_none() {
            let link = reset_link(accounts, &work, id, INVITATION_TTL_MS).await?;
            let kind = EmailKind::Invitation {
                // Typed by an admin, not by whoever claims the address.
                first_name: account.first_name.as_str().to_owned(),
                site: accounts.links.site().to_owned(),
                link,
            };
            work.mail_to(&accounts.sealer, id, address, kind).await?;
        } else if !email_verified {
            accounts.queue_verification(&mut work, id, address).await?;
        }
        work.record(Event::new(id, EventKind::Registered, client).by(&caller.actor))
            .await?;
        work.webhook(&self.after, EventType::UserCreated, id)
            .await?;
        work.commit(&self.after).await?;
        info!(
            invited = account.password.is_none(),
            "user created by an admin"
        );
        self.user(id).await
    }
}
