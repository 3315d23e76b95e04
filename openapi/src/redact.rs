//! `Debug` for the response bodies that carry secrets (tokens, TOTP
//! secrets, backup codes): everything else in them is shown, the secrets
//! never are. The request bodies with passwords and codes have no `Debug`.

use std::fmt;

use crate::mfa::{BackupCodes, Enrollment};
use crate::tokens::{LoginData, MfaChallenge, TokenData};

const REDACTED: &str = "<redacted>";

impl fmt::Debug for LoginData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginData")
            .field("token", &REDACTED)
            .field("refresh_token", &REDACTED)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("user", &self.user)
            .field("device_token", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for TokenData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenData")
            .field("token", &REDACTED)
            .field("refresh_token", &REDACTED)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

impl fmt::Debug for MfaChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaChallenge")
            .field("mfa_required", &self.mfa_required)
            .field("mfa_token", &REDACTED)
            .field("expires_in", &self.expires_in)
            .field("factors", &self.factors)
            .finish()
    }
}

impl fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrollment")
            .field("secret_key", &REDACTED)
            .field("otpauth_url", &REDACTED)
            .field("qr_code_url", &REDACTED)
            .field("backup_codes", &codes(&self.backup_codes))
            .finish()
    }
}

impl fmt::Debug for BackupCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupCodes")
            .field("backup_codes", &codes(&self.backup_codes))
            .finish()
    }
}

/// A list of codes, shown as how many there are.
struct Codes(usize);

impl fmt::Debug for Codes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} redacted>", self.0)
    }
}

fn codes(codes: &[String]) -> Codes {
    Codes(codes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{LoginResult, UserView};

    const ACCESS: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl";
    const REFRESH: &str = "R3fr3sh-t0ken-0f-f0rty-three-characters-xyz";
    const MFA: &str = "Mfa-t0ken-0f-f0rty-three-characters-abcdefg";
    const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    const CODE: &str = "ABCDE-FGHJK";

    fn user() -> UserView {
        UserView {
            id: uuid::Uuid::nil(),
            email: "ann@example.org".into(),
            first_name: "Ann".into(),
            last_name: "Example".into(),
            company_name: None,
            is_email_verified: true,
            mfa_enabled: false,
            created_at: "2026-01-01T00:00:00Z".into(),
            roles: Vec::new(),
            app_metadata: std::collections::BTreeMap::new(),
        }
    }

    const DEVICE: &str = "Dev1ce-t0ken-0f-f0rty-three-characters-abcd";

    fn assert_hidden(text: &str) {
        for secret in [
            ACCESS,
            "eyJ",
            REFRESH,
            MFA,
            DEVICE,
            SECRET,
            "otpauth://",
            "iVBORw0K",
            CODE,
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("redacted>"), "{text}");
    }

    #[test]
    fn debug_of_every_body_with_a_secret_hides_it() {
        let login = LoginData {
            token: ACCESS.into(),
            refresh_token: REFRESH.into(),
            token_type: "Bearer".into(),
            expires_in: 3600,
            user: user(),
            device_token: DEVICE.into(),
        };
        let refreshed = TokenData {
            token: ACCESS.into(),
            refresh_token: REFRESH.into(),
            token_type: "Bearer".into(),
            expires_in: 3600,
        };
        let challenge = MfaChallenge {
            mfa_required: true,
            mfa_token: MFA.into(),
            expires_in: 300,
            factors: vec!["totp".into()],
        };
        let enrollment = Enrollment {
            secret_key: SECRET.into(),
            otpauth_url: format!("otpauth://totp/authd:ann@example.org?secret={SECRET}"),
            qr_code_url: "data:image/png;base64,iVBORw0KGgo".into(),
            backup_codes: vec![CODE.into()],
        };
        let codes = BackupCodes {
            backup_codes: vec![CODE.into()],
        };
        let texts = [
            format!("{login:?}"),
            format!("{login:#?}"),
            format!("{refreshed:?}"),
            format!("{refreshed:#?}"),
            format!("{challenge:?}"),
            format!("{challenge:#?}"),
            format!("{enrollment:?}"),
            format!("{enrollment:#?}"),
            format!("{codes:?}"),
            format!("{codes:#?}"),
            format!("{:#?}", LoginResult::Tokens(login)),
            format!("{:#?}", LoginResult::Mfa(challenge)),
        ];
        for text in &texts {
            assert_hidden(text);
        }
        assert!(texts[0].contains("ann@example.org"), "the rest is shown");
    }
}
