//! What an identity a provider vouched for leads to. A sign-in: the
//! account it is linked to, or a new account (a verified address the
//! provider vouches for, and no account at that address: an identity is
//! never joined to an existing account by its address), then a single-use
//! code for the frontend. A link: the identity added to the account whose
//! owner started it, unless it belongs to another.

use jobs::{EmailKind, EventType};

use super::Oidc;
use super::provider::Claims;
use crate::DomainError;
use crate::accounts::{NewAccount, Preset};
use crate::audit::{Event, EventKind};
use crate::context::RequestContext;
use crate::domain::{Email, PersonName, UserId};
use crate::one_time::NewToken;
use crate::store::{self, identities, oidc_codes, users};
use crate::work::Work;
use sea_orm::EntityTrait;

/// A query parameter added to `redirect_to`: its name and value.
pub(super) type Param = (&'static str, String);

fn error(code: &str) -> Param {
    ("error", code.to_owned())
}

impl Oidc {
    /// A sign-in's identity: a code for its account, or an error for the
    /// frontend.
    pub(super) async fn arrive(
        &self,
        provider: &str,
        claims: &Claims,
        binding_hash: &str,
        client: &RequestContext,
    ) -> Result<Param, DomainError> {
        if let Some(known) = identities::find(&self.db, provider, &claims.subject).await? {
            return self.hand_off(known.user_id, provider, binding_hash).await;
        }
        let Some(address) = claims.email.as_deref() else {
            return Ok(error("email_required"));
        };
        let Ok(email) = Email::parse(address) else {
            tracing::info!("the provider's address is not one we accept");
            return Ok(error("email_required"));
        };
        if !claims.email_verified {
            return Ok(error("email_not_verified"));
        }
        if users::find_by_normalized_email(&self.db, email.normalized())
            .await?
            .is_some()
        {
            return self.address_taken(provider, claims, binding_hash).await;
        }
        let account = new_account(email, claims);
        let preset = Preset {
            email_verified: true,
            ..Preset::default()
        };
        let (mut work, user_id) = match self.accounts.begin_account(&account, preset).await {
            Ok(begun) => begun,
            Err(DomainError::EmailTaken) => {
                return self.address_taken(provider, claims, binding_hash).await;
            }
            Err(e) => return Err(e),
        };
        tracing::Span::current().record("user_id", tracing::field::display(user_id));
        let now = work.now_ms();
        let email = claims.email.as_deref();
        if let Err(e) =
            identities::link(work.conn(), user_id, provider, &claims.subject, email, now).await
        {
            if !store::is_unique_violation(&e) {
                return Err(e.into());
            }
            // A parallel callback made this identity's account first: this
            // one is dropped (the transaction rolls back) and the identity
            // logs in to that one.
            drop(work);
            let known = identities::find(&self.db, provider, &claims.subject)
                .await?
                .ok_or_else(|| DomainError::Internal("identity vanished".into()))?;
            return self.hand_off(known.user_id, provider, binding_hash).await;
        }
        work.record(Event::new(user_id, EventKind::Registered, client).via(provider))
            .await?;
        work.record(Event::new(user_id, EventKind::IdentityLinked, client).via(provider))
            .await?;
        work.webhook(&self.accounts.after, EventType::UserCreated, user_id)
            .await?;
        let code = issue_code(&work, user_id, provider, binding_hash).await?;
        work.commit(&self.accounts.after).await?;
        tracing::info!("account created by an identity provider");
        Ok(("code", code.secret.to_string()))
    }

    /// The identity's address has an account: another account's
    /// (`account_exists`), or the one a parallel callback of this same
    /// identity made since it was looked up, which it then logs in to.
    async fn address_taken(
        &self,
        provider: &str,
        claims: &Claims,
        binding_hash: &str,
    ) -> Result<Param, DomainError> {
        match identities::find(&self.db, provider, &claims.subject).await? {
            Some(known) => self.hand_off(known.user_id, provider, binding_hash).await,
            None => Ok(error("account_exists")),
        }
    }

    /// A single-use code for `user_id`'s sign-in with `provider`.
    async fn hand_off(
        &self,
        user_id: UserId,
        provider: &str,
        binding_hash: &str,
    ) -> Result<Param, DomainError> {
        tracing::Span::current().record("user_id", tracing::field::display(user_id));
        let work = Work::begin(&self.db, self.clock.now_ms()).await?;
        let code = issue_code(&work, user_id, provider, binding_hash).await?;
        work.commit(&self.accounts.after).await?;
        Ok(("code", code.secret.to_string()))
    }

    /// A link flow's identity, for `user_id`'s account.
    pub(super) async fn link(
        &self,
        provider: &str,
        user_id: UserId,
        claims: &Claims,
        client: &RequestContext,
    ) -> Result<Param, DomainError> {
        tracing::Span::current().record("user_id", tracing::field::display(user_id));
        if let Some(known) = identities::find(&self.db, provider, &claims.subject).await? {
            return Ok(if known.user_id == user_id {
                ("linked", provider.to_owned())
            } else {
                error("identity_taken")
            });
        }
        let mut work = Work::begin(&self.db, self.clock.now_ms()).await?;
        let now = work.now_ms();
        // The account may have gone while its owner was at the provider.
        let Some(user) = users::Entity::find_by_id(user_id).one(work.conn()).await? else {
            return Ok(error("invalid_state"));
        };
        let email = claims.email.as_deref();
        match identities::link(work.conn(), user_id, provider, &claims.subject, email, now).await {
            Ok(_) => {}
            Err(e) if store::is_unique_violation(&e) => return Ok(error("identity_taken")),
            Err(e) => return Err(e.into()),
        }
        work.record(Event::new(user_id, EventKind::IdentityLinked, client).via(provider))
            .await?;
        // A new way in: the owner is told, as for a passkey added.
        let reset_page = self.accounts.links.reset_request();
        let facts = crate::alerts::facts(&user, client, now, &reset_page);
        let name = self.provider(provider)?.settings.name.clone();
        let notice = EmailKind::IdentityLinked {
            facts,
            provider: name,
        };
        work.mail(&self.sealer, &user, notice).await?;
        work.commit(&self.accounts.after).await?;
        tracing::info!("identity linked");
        Ok(("linked", provider.to_owned()))
    }
}

async fn issue_code(
    work: &Work,
    user_id: UserId,
    provider: &str,
    binding_hash: &str,
) -> Result<NewToken, DomainError> {
    let code = NewToken::generate();
    oidc_codes::issue(
        work.conn(),
        code.hash.clone(),
        user_id,
        provider,
        binding_hash,
        super::CODE_TTL_MS,
        work.now_ms(),
    )
    .await?;
    Ok(code)
}

/// A new account's fields from what the provider said: the names from
/// `given_name`/`family_name`, else `name` (split at its last space),
/// else the address's local part; each kept only if it is a valid name,
/// `-` where none is.
fn new_account(email: Email, claims: &Claims) -> NewAccount {
    let valid = |n: Option<&str>| n.and_then(|n| PersonName::parse(n).ok());
    let (named_first, named_last) = match claims.name.as_deref().map(str::trim) {
        Some(name) => match name.rsplit_once(' ') {
            Some((first, last)) => (valid(Some(first)), valid(Some(last))),
            None => (valid(Some(name)), None),
        },
        None => (None, None),
    };
    let given = valid(claims.given_name.as_deref());
    let family = valid(claims.family_name.as_deref());
    let local = valid(email.as_str().split('@').next());
    let (first, last) = match given {
        Some(given) => (given, family),
        None => match named_first {
            Some(first) => (first, family.or(named_last)),
            None => (local.unwrap_or_else(PersonName::placeholder), family),
        },
    };
    NewAccount {
        email,
        password: None,
        first_name: first,
        last_name: last.unwrap_or_else(PersonName::placeholder),
        company_name: None,
    }
}
