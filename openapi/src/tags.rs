//! The tags that group operations in the Swagger UI.

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTag {
    /// Accounts, sessions and passwords.
    Auth,
    /// Two-factor authentication (TOTP) and backup codes.
    TwoFactor,
    /// Passkeys (WebAuthn): registering, managing, logging in.
    Passkeys,
    /// Signing in with other identity providers (OpenID Connect), and the
    /// identities linked to an account.
    Providers,
    /// Probes for load balancers and orchestrators.
    Health,
    /// The admin API: users and events, with an admin key (never from a browser).
    Admin,
}
