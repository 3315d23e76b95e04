//! An admin mails a user a password reset link: the mail of a user's own
//! request (the normal lifetime, earlier links void), without the
//! per-address mail budget of the public endpoint (an admin key is not an
//! anonymous caller). A disabled account is refused: its link would not
//! work (`Passwords::confirm_reset` refuses a disabled account's token).

use sea_orm::EntityTrait;
use tracing::{info, instrument};

use super::{Admin, AdminCaller};
use crate::DomainError;
use crate::audit::{Event, EventKind};
use crate::context::RequestContext;
use crate::domain::UserId;
use crate::passwords::mail_reset;
use crate::store::users;
use crate::work::Work;

impl Admin {
    /// Mails `id` a reset link; `reset_requested` by the admin.
    #[instrument(skip_all, fields(%id, admin = %caller.name), err(level = "info", Display))]
    pub async fn send_password_reset(
        &self,
        caller: &AdminCaller,
        id: UserId,
        client: &RequestContext,
    ) -> Result<(), DomainError> {
        caller.may_write()?;
        let mut work = Work::begin(&self.db, self.clock.now_ms()).await?;
        // First: serialises this with the user's own requests, so the last
        // link voids every earlier one.
        users::touch(work.conn(), id, work.now_ms()).await?;
        let user = users::Entity::find_by_id(id)
            .one(work.conn())
            .await?
            .ok_or(DomainError::UserNotFound)?;
        if !user.is_active {
            return Err(DomainError::UserDisabled);
        }
        mail_reset(&self.accounts, &mut work, &user).await?;
        work.record(Event::new(id, EventKind::ResetRequested, client).by(&caller.actor))
            .await?;
        work.commit(&self.after).await?;
        info!("password reset mailed by an admin");
        Ok(())
    }
}
