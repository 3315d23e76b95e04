//! An admin resets a user's second factors: TOTP (with its backup codes)
//! and every passkey removed in one unit of work, a credential change.

use jobs::{EmailKind, EventType};
use tracing::{info, instrument};

use super::users::held;
use super::{Admin, AdminCaller, AdminUser};
use crate::DomainError;
use crate::audit::{Event, EventKind};
use crate::context::RequestContext;
use crate::domain::UserId;
use crate::mfa;
use crate::store::passkeys;
use crate::work::Work;

impl Admin {
    /// Removes a user's TOTP secret, backup codes and passkeys, and
    /// returns the user as it is now. A credential change: the credential
    /// version moves on (a login halfway through its second step cannot
    /// finish), every session ends, reset links are void. Records
    /// `mfa_disabled` (TOTP was on) and one `passkey_removed` per passkey,
    /// by the admin; queues `user.mfa_disabled` (TOTP was on); mails the
    /// owner that an administrator did it. A user with neither TOTP on nor
    /// a passkey is left as it is: no event, no mail.
    #[instrument(skip_all, fields(%id, admin = %caller.name), err(level = "info", Display))]
    pub async fn reset_mfa(
        &self,
        caller: &AdminCaller,
        id: UserId,
        client: &RequestContext,
    ) -> Result<AdminUser, DomainError> {
        caller.may_write()?;
        let mut work = Work::begin(&self.db, self.clock.now_ms()).await?;
        let now_ms = work.now_ms();
        // Held first: serialised with other changes of this user, parallel
        // resets included (the second finds nothing left to reset).
        let user = held(&work, id).await?;
        let removed = passkeys::of_user(work.conn(), id).await?;
        if !user.mfa_enabled && removed.is_empty() {
            // Nothing to reset: rolled back (its connection given back
            // before the view is read), untouched.
            drop(work);
            return self.user(id).await;
        }
        let totp_was_on = mfa::turn_off(work.conn(), id, now_ms).await?;
        for passkey in &removed {
            passkeys::remove(work.conn(), id, passkey.id).await?;
        }
        work.credential_change(id, None).await?;
        if totp_was_on {
            work.record(Event::new(id, EventKind::MfaDisabled, client).by(&caller.actor))
                .await?;
            work.webhook(&self.after, EventType::UserMfaDisabled, id)
                .await?;
        }
        for _ in &removed {
            work.record(Event::new(id, EventKind::PasskeyRemoved, client).by(&caller.actor))
                .await?;
        }
        let kind = EmailKind::MfaDisabled {
            first_name: user.first_name.clone(),
            seen: None,
            reset_page: Some(self.mfa.deps.reset_page.clone()),
            by_admin: true,
        };
        work.mail(&self.mfa.deps.sealer, &user, kind).await?;
        work.commit(&self.after).await?;
        info!(
            totp = totp_was_on,
            passkeys = removed.len(),
            "second factors reset by an admin"
        );
        self.user(id).await
    }
}
