//! The rate-limited operations, by operation id: each one's budget key (the
//! name its counters are kept under, in Redis and in process) and which
//! per-IP budget it spends.

/// Which per-IP budget an operation spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// `AUTH_RATE_LIMIT_PER_MINUTE`: the auth endpoints of API.md.
    Auth,
    /// `AUTH_REFRESH_RATE_PER_MINUTE`: `token/refresh`.
    Refresh,
}

/// A rate-limited operation, named after its OpenAPI operation id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Register,
    VerifyEmail,
    ResendVerification,
    Login,
    MfaVerify,
    PasswordReset,
    PasswordResetConfirm,
    ChangePassword,
    LogoutAll,
    MfaEnable,
    MfaConfirm,
    MfaDisable,
    MfaBackupCodes,
    MfaRecover,
    PasskeyRegisterStart,
    PasskeyRegisterFinish,
    PasskeyLoginStart,
    PasskeyLoginFinish,
    MfaPasskeyStart,
    MfaPasskeyFinish,
    /// Removing a passkey checks the password.
    RemovePasskey,
    /// Turning an alert off checks the password.
    SetAlertSettings,
    /// `PATCH /auth/me/`.
    UpdateMe,
    RefreshToken,
    /// Deleting the account checks the password.
    DeleteAccount,
    /// Exporting the account's data checks the password.
    ExportAccount,
    ChangeEmail,
    ConfirmEmailChange,
    RevertEmailChange,
    OidcStart,
    OidcCallback,
    OidcExchange,
    /// Linking an identity at another provider.
    LinkIdentity,
}

impl Limited {
    /// Every rate-limited operation.
    pub const ALL: [Self; 33] = [
        Self::Register,
        Self::VerifyEmail,
        Self::ResendVerification,
        Self::Login,
        Self::MfaVerify,
        Self::PasswordReset,
        Self::PasswordResetConfirm,
        Self::ChangePassword,
        Self::LogoutAll,
        Self::MfaEnable,
        Self::MfaConfirm,
        Self::MfaDisable,
        Self::MfaBackupCodes,
        Self::MfaRecover,
        Self::PasskeyRegisterStart,
        Self::PasskeyRegisterFinish,
        Self::PasskeyLoginStart,
        Self::PasskeyLoginFinish,
        Self::MfaPasskeyStart,
        Self::MfaPasskeyFinish,
        Self::RemovePasskey,
        Self::SetAlertSettings,
        Self::UpdateMe,
        Self::RefreshToken,
        Self::DeleteAccount,
        Self::ExportAccount,
        Self::ChangeEmail,
        Self::ConfirmEmailChange,
        Self::RevertEmailChange,
        Self::OidcStart,
        Self::OidcCallback,
        Self::OidcExchange,
        Self::LinkIdentity,
    ];

    /// The operation with this OpenAPI operation id, if it is rate limited.
    pub fn of(operation_id: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|limited| limited.operation_id() == operation_id)
    }

    /// Its OpenAPI operation id and its budget key. The keys are the names
    /// counters have always been kept under: renaming one resets it on a
    /// running cluster.
    const fn names(self) -> (&'static str, &'static str) {
        match self {
            Self::Register => ("register", "register"),
            Self::VerifyEmail => ("verifyEmail", "verify-email"),
            Self::ResendVerification => ("resendVerification", "resend-verification"),
            Self::Login => ("login", "login"),
            Self::MfaVerify => ("mfaVerify", "mfa-verify"),
            Self::PasswordReset => ("passwordReset", "password-reset"),
            Self::PasswordResetConfirm => ("passwordResetConfirm", "password-reset-confirm"),
            Self::ChangePassword => ("changePassword", "change-password"),
            Self::LogoutAll => ("logoutAll", "logout-all"),
            Self::MfaEnable => ("mfaEnable", "2fa-enable"),
            Self::MfaConfirm => ("mfaConfirm", "2fa-verify"),
            Self::MfaDisable => ("mfaDisable", "2fa-disable"),
            Self::MfaBackupCodes => ("mfaBackupCodes", "2fa-backup-codes"),
            Self::MfaRecover => ("mfaRecover", "2fa-recover"),
            Self::PasskeyRegisterStart => ("passkeyRegisterStart", "passkey-register-start"),
            Self::PasskeyRegisterFinish => ("passkeyRegisterFinish", "passkey-register-finish"),
            Self::PasskeyLoginStart => ("passkeyLoginStart", "passkey-login-start"),
            Self::PasskeyLoginFinish => ("passkeyLoginFinish", "passkey-login-finish"),
            Self::MfaPasskeyStart => ("mfaPasskeyStart", "mfa-passkey-start"),
            Self::MfaPasskeyFinish => ("mfaPasskeyFinish", "mfa-passkey-finish"),
            Self::RemovePasskey => ("removePasskey", "passkey-delete"),
            Self::SetAlertSettings => ("setAlertSettings", "alerts-set"),
            Self::UpdateMe => ("updateMe", "me-update"),
            Self::RefreshToken => ("refreshToken", "token-refresh"),
            Self::DeleteAccount => ("deleteAccount", "account-delete"),
            Self::ExportAccount => ("exportAccount", "account-export"),
            Self::ChangeEmail => ("changeEmail", "change-email"),
            Self::ConfirmEmailChange => ("confirmEmailChange", "confirm-email-change"),
            Self::RevertEmailChange => ("revertEmailChange", "revert-email-change"),
            Self::OidcStart => ("oidcStart", "oidc-start"),
            Self::OidcCallback => ("oidcCallback", "oidc-callback"),
            Self::OidcExchange => ("oidcExchange", "oidc-exchange"),
            Self::LinkIdentity => ("linkIdentity", "identity-link"),
        }
    }

    /// Its OpenAPI operation id.
    pub const fn operation_id(self) -> &'static str {
        self.names().0
    }

    /// Its budget key: the endpoint name its counters are kept under.
    pub const fn as_str(self) -> &'static str {
        self.names().1
    }

    /// The per-IP budget it spends.
    pub const fn budget(self) -> Budget {
        match self {
            Self::RefreshToken => Budget::Refresh,
            _ => Budget::Auth,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::routes;

    /// A renamed operation id fails here: every limited operation is one
    /// the document has, and no two share an operation or a key.
    #[test]
    fn every_limited_operation_is_documented_once_with_a_key_of_its_own() {
        let documented: HashSet<String> = routes::documented(&crate::api_service().spec())
            .into_iter()
            .map(|op| op.id)
            .collect();
        let mut ids = HashSet::new();
        let mut keys = HashSet::new();
        for limited in Limited::ALL {
            let id = limited.operation_id();
            assert!(documented.contains(id), "{limited:?}: no operation {id}");
            assert!(ids.insert(id), "{id} is limited twice");
            assert!(keys.insert(limited.as_str()), "{limited:?}: key shared");
            assert_eq!(Limited::of(id), Some(limited));
        }
        assert_eq!(Limited::of("verifyToken"), None);
        assert_eq!(Limited::of("Login"), None);
    }

    #[test]
    fn keys_are_the_names_counters_are_kept_under() {
        assert_eq!(Limited::Login.as_str(), "login");
        assert_eq!(Limited::MfaConfirm.as_str(), "2fa-verify");
        assert_eq!(Limited::RemovePasskey.as_str(), "passkey-delete");
        assert_eq!(Limited::SetAlertSettings.as_str(), "alerts-set");
        assert_eq!(Limited::RefreshToken.as_str(), "token-refresh");
        assert_eq!(Limited::RefreshToken.budget(), Budget::Refresh);
        let refresh = Limited::ALL
            .into_iter()
            .filter(|l| l.budget() == Budget::Refresh)
            .count();
        assert_eq!(refresh, 1);
    }
}
