//! What an email says. The kind and its parameters are what the outbox stores
//! (sealed); the text and HTML bodies are rendered from templates at send time.

use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};

use crate::JobsError;

#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmailKind {
    /// Sent to an address nobody has proven yet: it carries nothing the
    /// registrant typed (no name), only our fixed text and the link. Rows
    /// queued before this change may still hold a `first_name`; it is
    /// ignored.
    VerifyEmail {
        link: String,
    },
    PasswordReset {
        first_name: String,
        link: String,
    },
    /// A security notice: no link, no token. It lists the account's
    /// passkeys, so that an owner sees one they did not add.
    PasswordChanged {
        first_name: String,
        /// Absent on rows queued before notices listed passkeys.
        #[serde(default)]
        passkeys: Vec<PasskeyNote>,
    },
    MfaEnabled {
        first_name: String,
        /// Absent on rows queued before alerts said where a change came
        /// from and where to ask for a reset.
        #[serde(default)]
        seen: Option<Seen>,
        #[serde(default)]
        reset_page: Option<String>,
    },
    MfaDisabled {
        first_name: String,
        #[serde(default)]
        seen: Option<Seen>,
        #[serde(default)]
        reset_page: Option<String>,
        /// An administrator reset the account's second factors (TOTP,
        /// backup codes, passkeys) and ended its sessions. Absent (false)
        /// on rows queued before an admin could.
        #[serde(default)]
        by_admin: bool,
    },
    /// Alerts: what happened, and their `AlertFacts`.
    NewDeviceLogin(AlertFacts),
    RefreshTokenReused(AlertFacts),
    AccountLocked(AlertFacts),
    BackupCodeUsed {
        first_name: String,
        remaining: u64,
    },
    /// A passkey was added to the account (no link, no credential data).
    PasskeyAdded(AlertFacts),
    /// A passkey was removed from the account.
    PasskeyRemoved(AlertFacts),
    /// The new-device alerts were turned off.
    AlertsOff(AlertFacts),
    /// An identity at another provider was linked to the account: it can
    /// now sign in. `provider` is the provider's display name.
    IdentityLinked {
        facts: AlertFacts,
        provider: String,
    },
    /// The account was deleted by its owner or an administrator: no link
    /// (there is nothing left to sign in to), and nothing of the account
    /// but the greeting.
    AccountDeleted {
        first_name: String,
        /// An administrator deleted it. Absent (false) on rows queued
        /// before an admin could.
        #[serde(default)]
        by_admin: bool,
    },
    /// To the new address of an address change: the link that moves the
    /// account there. No name: the requester chose the address.
    EmailChangeConfirm {
        link: String,
    },
    /// To an address asked for in an address change that already has an
    /// account: nothing changes, and no link.
    EmailChangeTaken,
    /// To the old address once an account moved away from it: the link
    /// that puts it back.
    EmailChanged {
        first_name: String,
        link: String,
    },
    /// To the address an account was moved back to: sessions ended, and a
    /// password reset link.
    EmailRestored {
        first_name: String,
        link: String,
    },
    /// To the address of an account an admin made without a password: the
    /// link that sets one (a password reset link valid 7 days), and the
    /// site it is for.
    Invitation {
        first_name: String,
        site: String,
        link: String,
    },
    /// To the old address once an admin set another one: a notice with no
    /// link (the password and the sessions stay as they are); no name
    /// when the old address was never proved.
    EmailChangedByAdmin {
        first_name: String,
    },
}

/// What every alert says besides its own text: whom it greets, when and
/// from where the event came, and the page where the owner asks for a
/// reset (never a live token).
#[derive(Clone, Serialize, Deserialize)]
pub struct AlertFacts {
    pub first_name: String,
    pub seen: Seen,
    pub reset_page: String,
}

impl AlertFacts {
    fn context(&self) -> minijinja::Value {
        context! { first_name => self.first_name, seen => self.seen, reset_page => self.reset_page }
    }
}

/// A passkey as a notice lists it: the name its owner gave it and when it
/// was added (UTC, to the minute). Nothing of the credential itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PasskeyNote {
    pub name: String,
    pub added: String,
}

/// When and from where a security event came, as an alert shows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Seen {
    /// UTC, to the minute: `2026-12-04 15:20 UTC`.
    pub at: String,
    pub ip: String,
    /// A summary in fixed words ("Firefox on Linux"): nothing a client
    /// typed reaches the mail.
    pub browser: String,
}

impl std::fmt::Debug for EmailKind {
    // The parameters carry one-time links: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl EmailKind {
    pub fn name(&self) -> &'static str {
        match self {
            EmailKind::VerifyEmail { .. } => "verify_email",
            EmailKind::PasswordReset { .. } => "password_reset",
            EmailKind::PasswordChanged { .. } => "password_changed",
            EmailKind::MfaEnabled { .. } => "mfa_enabled",
            EmailKind::MfaDisabled { .. } => "mfa_disabled",
            EmailKind::BackupCodeUsed { .. } => "backup_code_used",
            EmailKind::NewDeviceLogin(_) => "new_device_login",
            EmailKind::RefreshTokenReused(_) => "refresh_token_reused",
            EmailKind::AccountLocked(_) => "account_locked",
            EmailKind::PasskeyAdded(_) => "passkey_added",
            EmailKind::PasskeyRemoved(_) => "passkey_removed",
            EmailKind::AlertsOff(_) => "alerts_off",
            EmailKind::IdentityLinked { .. } => "identity_linked",
            EmailKind::AccountDeleted { .. } => "account_deleted",
            EmailKind::EmailChangeConfirm { .. } => "email_change_confirm",
            EmailKind::EmailChangeTaken => "email_change_taken",
            EmailKind::EmailChanged { .. } => "email_changed",
            EmailKind::EmailRestored { .. } => "email_restored",
            EmailKind::Invitation { .. } => "invitation",
            EmailKind::EmailChangedByAdmin { .. } => "email_changed_by_admin",
        }
    }

    pub fn render(&self) -> Result<Rendered, JobsError> {
        let env = templates();
        let (subject, ctx) = match self {
            EmailKind::VerifyEmail { link } => {
                ("Verify your email address", context! { link => link })
            }
            EmailKind::PasswordReset { first_name, link } => (
                "Reset your password",
                context! { first_name => first_name, link => link },
            ),
            EmailKind::PasswordChanged {
                first_name,
                passkeys,
            } => (
                "Your password was changed",
                context! { first_name => first_name, passkeys => passkeys },
            ),
            EmailKind::MfaEnabled {
                first_name,
                seen,
                reset_page,
            } => (
                "Two-factor authentication is on",
                context! { first_name => first_name, seen => seen, reset_page => reset_page },
            ),
            EmailKind::MfaDisabled {
                first_name,
                seen,
                reset_page,
                by_admin,
            } => (
                if *by_admin {
                    "An administrator reset your sign-in factors"
                } else {
                    "Two-factor authentication is off"
                },
                context! {
                    first_name => first_name, seen => seen, reset_page => reset_page,
                    by_admin => by_admin,
                },
            ),
            EmailKind::NewDeviceLogin(alert) => ("New sign-in to your account", alert.context()),
            EmailKind::RefreshTokenReused(alert) => (
                "A session of yours was ended: its token was used twice",
                alert.context(),
            ),
            EmailKind::AccountLocked(alert) => (
                "Your account was locked after failed sign-ins",
                alert.context(),
            ),
            EmailKind::BackupCodeUsed {
                first_name,
                remaining,
            } => (
                "A backup code was used",
                context! { first_name => first_name, remaining => remaining },
            ),
            EmailKind::PasskeyAdded(alert) => {
                ("A passkey was added to your account", alert.context())
            }
            EmailKind::PasskeyRemoved(alert) => {
                ("A passkey was removed from your account", alert.context())
            }
            EmailKind::AlertsOff(alert) => (
                "New-sign-in emails were turned off for your account",
                alert.context(),
            ),
            EmailKind::IdentityLinked { facts, provider } => (
                "A new way to sign in was added to your account",
                context! {
                    first_name => facts.first_name,
                    seen => facts.seen,
                    reset_page => facts.reset_page,
                    provider => provider,
                },
            ),
            EmailKind::AccountDeleted {
                first_name,
                by_admin,
            } => (
                "Your account was deleted",
                context! { first_name => first_name, by_admin => by_admin },
            ),
            EmailKind::EmailChangeConfirm { link } => {
                ("Confirm your new email address", context! { link => link })
            }
            EmailKind::EmailChangeTaken => (
                "Someone asked to use this address for an account",
                context! {},
            ),
            EmailKind::EmailChanged { first_name, link } => (
                "The email address of your account was changed",
                context! { first_name => first_name, link => link },
            ),
            EmailKind::EmailRestored { first_name, link } => (
                "Your email address is back: choose a new password",
                context! { first_name => first_name, link => link },
            ),
            EmailKind::Invitation {
                first_name,
                site,
                link,
            } => (
                "An account was made for you: choose a password",
                context! { first_name => first_name, site => site, link => link },
            ),
            EmailKind::EmailChangedByAdmin { first_name } => (
                "An administrator changed the email address of your account",
                context! { first_name => first_name },
            ),
        };
        let render = |ext: &str| -> Result<String, JobsError> {
            env.get_template(&format!("{}.{ext}", self.name()))
                .and_then(|t| t.render(&ctx))
                .map_err(|e| JobsError::Template(e.to_string()))
        };
        Ok(Rendered {
            subject: subject.to_owned(),
            text: render("txt")?,
            html: render("html")?,
        })
    }
}

fn templates() -> &'static Environment<'static> {
    static ENV: std::sync::LazyLock<Environment<'static>> = std::sync::LazyLock::new(|| {
        let mut env = Environment::new();
        macro_rules! sources {
            ($($name:literal),* $(,)?) => {
                [$(
                    (concat!($name, ".txt"), include_str!(concat!("../templates/", $name, ".txt"))),
                    (concat!($name, ".html"), include_str!(concat!("../templates/", $name, ".html"))),
                )*]
            };
        }
        let sources = sources![
            "verify_email",
            "password_reset",
            "password_changed",
            "mfa_enabled",
            "mfa_disabled",
            "backup_code_used",
            "seen",
            "passkeys",
            "new_device_login",
            "refresh_token_reused",
            "account_locked",
            "passkey_added",
            "passkey_removed",
            "alerts_off",
            "identity_linked",
            "account_deleted",
            "email_change_confirm",
            "email_change_taken",
            "email_changed",
            "email_restored",
            "invitation",
            "email_changed_by_admin",
        ];
        for (name, source) in sources {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not parse");
            }
        }
        env
    });
    &ENV
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_email_has_the_link_in_both_bodies_and_no_name() {
        let email = EmailKind::VerifyEmail {
            link: "http://localhost:3000/verify-email?token=abc".into(),
        };
        let r = email.render().unwrap();
        assert!(
            r.text
                .contains("http://localhost:3000/verify-email?token=abc")
        );
        assert!(r.html.contains("verify-email?token=abc"));
        assert!(r.text.starts_with("Hello,\n"), "{}", r.text);
        assert!(r.html.contains("<p>Hello,</p>"), "{}", r.html);
        assert_eq!(format!("{email:?}"), "verify_email");
    }

    #[test]
    fn a_verification_row_queued_with_a_name_still_renders_without_it() {
        let old = r#"{"kind":"verify_email","first_name":"Visit evil.example","link":"http://x/verify-email?token=abc"}"#;
        let email: EmailKind = serde_json::from_str(old).unwrap();
        let r = email.render().unwrap();
        assert!(!r.text.contains("evil.example") && !r.html.contains("evil.example"));
        assert!(r.text.contains("verify-email?token=abc"));
    }

    #[test]
    fn names_are_escaped_in_html() {
        let r = EmailKind::PasswordReset {
            first_name: "<b>Ann</b>".into(),
            link: "http://localhost:3000/reset-password?token=xyz".into(),
        }
        .render()
        .unwrap();
        assert!(r.html.contains("&lt;b&gt;Ann"));
    }

    fn seen() -> Seen {
        Seen {
            at: "2026-12-04 15:20 UTC".into(),
            ip: "2001:db8::1".into(),
            browser: "Firefox on Linux".into(),
        }
    }

    fn alerts() -> Vec<EmailKind> {
        let facts = AlertFacts {
            first_name: "Ann".into(),
            seen: seen(),
            reset_page: "http://localhost:3000/reset-password".into(),
        };
        vec![
            EmailKind::NewDeviceLogin(facts.clone()),
            EmailKind::RefreshTokenReused(facts.clone()),
            EmailKind::AccountLocked(facts.clone()),
            EmailKind::PasskeyAdded(facts.clone()),
            EmailKind::PasskeyRemoved(facts.clone()),
            EmailKind::IdentityLinked {
                facts: facts.clone(),
                provider: "Google".into(),
            },
            EmailKind::AlertsOff(facts),
        ]
    }

    #[test]
    fn alerts_say_when_where_and_what_to_do() {
        let mut kinds = alerts();
        kinds.push(EmailKind::MfaDisabled {
            first_name: "Ann".into(),
            seen: Some(seen()),
            reset_page: Some("http://localhost:3000/reset-password".into()),
            by_admin: false,
        });
        for kind in kinds {
            let r = kind.render().unwrap();
            for body in [&r.text, &r.html] {
                for part in ["2026-12-04 15:20 UTC", "2001:db8::1", "Firefox on Linux"] {
                    assert!(body.contains(part), "{}: {part} missing", kind.name());
                }
                assert!(!body.contains("token="), "{}", kind.name());
            }
        }
        let old = r#"{"kind":"mfa_enabled","first_name":"Ann"}"#;
        let r = serde_json::from_str::<EmailKind>(old)
            .unwrap()
            .render()
            .unwrap();
        assert!(r.text.contains("Hello Ann") && !r.text.contains("From:"));
    }

    #[test]
    fn the_password_changed_notice_lists_passkeys_when_there_are_some() {
        let none = EmailKind::PasswordChanged {
            first_name: "Ann".into(),
            passkeys: Vec::new(),
        }
        .render()
        .unwrap();
        for body in [&none.text, &none.html] {
            assert!(!body.contains("asskey"), "{body}");
        }
        let two = EmailKind::PasswordChanged {
            first_name: "Ann".into(),
            passkeys: vec![
                PasskeyNote {
                    name: "Laptop".into(),
                    added: "2026-12-04 15:20 UTC".into(),
                },
                PasskeyNote {
                    name: "<i>Phone</i>".into(),
                    added: "2026-12-05 08:01 UTC".into(),
                },
            ],
        }
        .render()
        .unwrap();
        assert!(
            two.text.contains(
                "\n- \"Laptop\", added 2026-12-04 15:20 UTC\n- \"<i>Phone</i>\", added 2026-12-05 08:01 UTC\n"
            ),
            "{}",
            two.text
        );
        assert!(two.html.contains("&lt;i&gt;Phone"), "{}", two.html);
        assert!(!two.html.contains("<i>"), "{}", two.html);
        // A row queued before the list renders as it did.
        let old = r#"{"kind":"password_changed","first_name":"Ann"}"#;
        let r = serde_json::from_str::<EmailKind>(old)
            .unwrap()
            .render()
            .unwrap();
        assert!(r.text.contains("Hello Ann") && !r.text.contains("asskey"));
    }

    #[test]
    fn the_deletion_notice_has_no_link() {
        for by_admin in [false, true] {
            let r = EmailKind::AccountDeleted {
                first_name: "Ann".into(),
                by_admin,
            }
            .render()
            .unwrap();
            for body in [&r.text, &r.html] {
                assert!(body.contains("deleted"), "{body}");
                assert!(!body.contains("http"), "{body}");
                assert!(!body.contains("href"), "{body}");
                assert_eq!(body.contains("by an administrator"), by_admin, "{body}");
                assert_eq!(body.contains("at your request"), !by_admin, "{body}");
            }
        }
    }

    #[test]
    fn an_admins_mails_say_an_administrator_did_it_and_old_rows_render_as_before() {
        let reset = EmailKind::MfaDisabled {
            first_name: "Ann".into(),
            seen: None,
            reset_page: Some("http://localhost:3000/reset-password".into()),
            by_admin: true,
        }
        .render()
        .unwrap();
        assert_eq!(reset.subject, "An administrator reset your sign-in factors");
        for body in [&reset.text, &reset.html] {
            assert!(body.contains("An administrator"), "{body}");
            assert!(body.contains("passkeys were removed"), "{body}");
            assert!(body.contains("reset-password"), "{body}");
            assert!(!body.contains("token="), "{body}");
        }
        // Rows queued before an admin could: the owner's own wording.
        for old in [
            r#"{"kind":"mfa_disabled","first_name":"Ann"}"#,
            r#"{"kind":"account_deleted","first_name":"Ann"}"#,
        ] {
            let r = serde_json::from_str::<EmailKind>(old)
                .unwrap()
                .render()
                .unwrap();
            assert!(r.text.contains("Hello Ann"), "{}", r.text);
            assert!(!r.text.contains("administrator"), "{}", r.text);
        }
    }

    #[test]
    fn every_kind_renders_both_bodies() {
        let kinds = [
            EmailKind::PasswordReset {
                first_name: "Ann".into(),
                link: "http://localhost:3000/reset-password?token=xyz".into(),
            },
            EmailKind::PasswordChanged {
                first_name: "Ann".into(),
                passkeys: Vec::new(),
            },
            EmailKind::MfaEnabled {
                first_name: "Ann".into(),
                seen: Some(seen()),
                reset_page: Some("http://localhost:3000/reset-password".into()),
            },
            EmailKind::MfaDisabled {
                first_name: "Ann".into(),
                seen: None,
                reset_page: None,
                by_admin: false,
            },
            EmailKind::MfaDisabled {
                first_name: "Ann".into(),
                seen: None,
                reset_page: None,
                by_admin: true,
            },
            EmailKind::BackupCodeUsed {
                first_name: "Ann".into(),
                remaining: 7,
            },
            EmailKind::AccountDeleted {
                first_name: "Ann".into(),
                by_admin: true,
            },
        ];
        for kind in kinds.into_iter().chain(alerts()) {
            let r = kind.render().unwrap();
            assert!(r.text.contains("Hello Ann"), "{}", kind.name());
            assert!(r.html.contains("Hello Ann"), "{}", kind.name());
            assert!(!r.subject.is_empty());
        }
        let reset = EmailKind::PasswordReset {
            first_name: "Ann".into(),
            link: "http://localhost:3000/reset-password?token=xyz".into(),
        }
        .render()
        .unwrap();
        assert!(reset.text.contains("reset-password?token=xyz"));
        assert!(reset.html.contains("reset-password?token=xyz"));
    }

    #[test]
    fn address_change_mails_carry_their_link_and_the_taken_notice_none() {
        let with_link = [
            (
                EmailKind::EmailChangeConfirm {
                    link: "http://x/confirm-email-change?token=abc".into(),
                },
                "confirm-email-change?token=abc",
            ),
            (
                EmailKind::EmailChanged {
                    first_name: "Ann".into(),
                    link: "http://x/revert-email-change?token=def".into(),
                },
                "revert-email-change?token=def",
            ),
            (
                EmailKind::EmailRestored {
                    first_name: "Ann".into(),
                    link: "http://x/reset-password?token=ghi".into(),
                },
                "reset-password?token=ghi",
            ),
            (
                EmailKind::Invitation {
                    first_name: "Ann".into(),
                    site: "https://app.example".into(),
                    link: "http://x/reset-password?token=jkl".into(),
                },
                "reset-password?token=jkl",
            ),
        ];
        for (kind, link) in with_link {
            let r = kind.render().unwrap();
            assert!(r.text.contains(link), "{}", kind.name());
            assert!(r.html.contains(link), "{}", kind.name());
            assert!(!r.subject.is_empty());
        }
        let taken = EmailKind::EmailChangeTaken.render().unwrap();
        for body in [&taken.text, &taken.html] {
            assert!(!body.contains("token="), "{body}");
            assert!(body.starts_with("Hello,") || body.contains("<p>Hello,</p>"));
        }
        let by_admin = EmailKind::EmailChangedByAdmin {
            first_name: "<b>Ann</b>".into(),
        }
        .render()
        .unwrap();
        for body in [&by_admin.text, &by_admin.html] {
            assert!(!body.contains("token=") && !body.contains("http"), "{body}");
        }
        assert!(by_admin.text.starts_with("Hello <b>Ann</b>,"));
        let unnamed = EmailKind::EmailChangedByAdmin {
            first_name: String::new(),
        }
        .render()
        .unwrap();
        assert!(unnamed.text.starts_with("Hello,\n"), "{}", unnamed.text);
        assert!(by_admin.html.contains("&lt;b&gt;Ann"), "{}", by_admin.html);
        let invitation = EmailKind::Invitation {
            first_name: "Ann".into(),
            site: "https://app.example".into(),
            link: "l".into(),
        }
        .render()
        .unwrap();
        for body in [&invitation.text, &invitation.html] {
            assert!(
                body.contains("app.example") && body.contains("7 days"),
                "{body}"
            );
        }
        assert!(invitation.text.contains("at https://app.example with"));
        let confirm = EmailKind::EmailChangeConfirm { link: "l".into() }
            .render()
            .unwrap();
        assert!(confirm.text.starts_with("Hello,\n"), "{}", confirm.text);
        let json = serde_json::to_string(&EmailKind::EmailChangeTaken).unwrap();
        assert_eq!(json, r#"{"kind":"email_change_taken"}"#);
        let back: EmailKind = serde_json::from_str(&json).unwrap();
        assert_eq!(back.name(), "email_change_taken");
    }
}
