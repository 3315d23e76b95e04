//! A logged-in user's identities at other providers: listed, linked (a
//! URL that starts a link flow in the same browser) and unlinked, except
//! the last way to log in.

use sea_orm::EntityTrait;
use tracing::instrument;
use uuid::Uuid;

use super::Oidc;
use crate::DomainError;
use crate::audit::{Event, EventKind};
use crate::auth::Authenticated;
use crate::store::{identities, passkeys, users};
use crate::views::Identity;
use crate::work::Work;

impl Oidc {
    /// The caller's identities, oldest first.
    pub async fn identities(&self, who: &Authenticated) -> Result<Vec<Identity>, DomainError> {
        Ok(identities::of_user(&self.db, who.user.id)
            .await?
            .into_iter()
            .map(Identity::from)
            .collect())
    }

    /// A URL that links the caller's identity at `provider` when opened in
    /// the same browser, within a few minutes, once. Linking adds a way to
    /// log in, so it asks for a fresh login (as deleting an account without
    /// a password does): a stolen access token alone cannot add one.
    #[instrument(skip_all, fields(user_id = %who.user.id, provider), err(level = "info", Display))]
    pub async fn link_url(
        &self,
        who: &Authenticated,
        provider: &str,
        redirect_to: &str,
    ) -> Result<String, DomainError> {
        self.auth.require_fresh_login(who).await?;
        let ticket = self.link_ticket(who.user.id, provider, redirect_to)?;
        let mut url = self.settings.external_url.clone();
        url.set_path(&format!("/api/v1/auth/oidc/{provider}/start/"));
        url.query_pairs_mut()
            .clear()
            .append_pair("redirect_to", redirect_to)
            .append_pair("link", &ticket);
        Ok(url.into())
    }

    /// Unlinks the caller's identity `id`, unless it is the last way to
    /// log in (no password, no passkey, no other identity): 409. The
    /// user row is touched first, so parallel unlinks of one account take
    /// turns and cannot together remove every way.
    #[instrument(skip_all, fields(user_id = %who.user.id, %id), err(level = "info", Display))]
    pub async fn unlink(&self, who: &Authenticated, id: Uuid) -> Result<(), DomainError> {
        let user_id = who.user.id;
        let mut work = Work::begin(&self.db, self.clock.now_ms()).await?;
        users::touch(work.conn(), user_id, work.now_ms()).await?;
        let Some(user) = users::Entity::find_by_id(user_id).one(work.conn()).await? else {
            return Err(DomainError::Unauthorized);
        };
        let all = identities::of_user(work.conn(), user_id).await?;
        let Some(identity) = all.iter().find(|i| i.id == id) else {
            return Err(DomainError::IdentityNotFound);
        };
        let others = all.len() - 1;
        let has_passkey = !passkeys::of_user(work.conn(), user_id).await?.is_empty();
        if others == 0 && !has_passkey && !users::has_password(&user) {
            return Err(DomainError::LastLoginMethod);
        }
        if !identities::unlink(work.conn(), user_id, id).await? {
            return Err(DomainError::IdentityNotFound);
        }
        let event =
            Event::new(user_id, EventKind::IdentityUnlinked, &who.client).via(&identity.provider);
        work.record(event).await?;
        work.commit(&self.accounts.after).await?;
        tracing::info!(provider = %identity.provider, "identity unlinked");
        Ok(())
    }
}
