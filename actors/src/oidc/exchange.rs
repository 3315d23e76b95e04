//! The code a finished flow handed the frontend, exchanged for a login:
//! used once, within a minute, from the browser the flow was bound to when
//! the request carries that browser's cookie; then the account's
//! AttemptGate decides, as for a password.

use tracing::instrument;

use super::Oidc;
use crate::DomainError;
use crate::attempt_gate::Presented;
use crate::attempts::{Budget, LoginOutcome};
use crate::context::RequestContext;
use crate::one_time;
use crate::store::{devices, oidc_codes};

impl Oidc {
    /// Exchanges `code` for the same outcome as a password login: tokens,
    /// or the second step when the account has 2FA. A bad, used or expired
    /// code, or one bound to another browser, is `InvalidToken` (400).
    #[instrument(skip_all, fields(user_id, provider), err(level = "info", Display))]
    pub async fn exchange(
        &self,
        code: &str,
        binding: Option<&str>,
        device_token: Option<&str>,
        client: &RequestContext,
    ) -> Result<LoginOutcome, DomainError> {
        let hash = one_time::lookup_hash(code).ok_or(DomainError::InvalidToken)?;
        let row = oidc_codes::find(&self.db, &hash)
            .await?
            .filter(|row| one_time::same_hash(&row.code_hash, &hash))
            .ok_or(DomainError::InvalidToken)?;
        let span = tracing::Span::current();
        span.record("user_id", tracing::field::display(row.user_id));
        span.record("provider", row.provider.as_str());
        if let Some(binding) = binding
            && !one_time::same_hash(&row.binding_hash, &one_time::hash_token(binding))
        {
            return Err(DomainError::InvalidToken);
        }
        if !oidc_codes::use_once(&self.db, row.id, self.clock.now_ms()).await? {
            return Err(DomainError::InvalidToken);
        }
        let device = match device_token {
            Some(token) => devices::find_live(&self.db, row.user_id, token).await?,
            None => None,
        };
        let budget = device.map_or(Budget::Account, |d| Budget::Device(d.id));
        let presented = Presented::Identity {
            provider: row.provider.clone(),
        };
        let attempt = self
            .auth
            .to_gate(row.user_id, presented, budget, client)
            .await?;
        metrics::counter!("authd_logins_total", "outcome" => attempt.login_label()).increment(1);
        attempt.into_login().map(LoginOutcome::from)
    }
}
