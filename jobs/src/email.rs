//! What an email says. The kind and its parameters are what the outbox stores
//! (sealed); the text and HTML bodies are rendered from templates at send time.

use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};

use crate::JobsError;

#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmailKind {
    VerifyEmail { first_name: String, link: String },
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
        }
    }

    pub fn render(&self) -> Result<Rendered, JobsError> {
        let env = templates();
        let (subject, ctx) = match self {
            EmailKind::VerifyEmail { first_name, link } => (
                "Verify your email address",
                context! { first_name => first_name, link => link },
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
        let sources = [
            (
                "verify_email.txt",
                include_str!("../templates/verify_email.txt"),
            ),
            (
                "verify_email.html",
                include_str!("../templates/verify_email.html"),
            ),
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
    fn verification_email_has_the_link_in_both_bodies_and_escapes_html() {
        let email = EmailKind::VerifyEmail {
            first_name: "<b>Ann</b>".into(),
            link: "http://localhost:3000/verify-email?token=abc".into(),
        };
        let r = email.render().unwrap();
        assert!(
            r.text
                .contains("http://localhost:3000/verify-email?token=abc")
        );
        assert!(r.html.contains("verify-email?token=abc"));
        assert!(r.html.contains("&lt;b&gt;Ann"));
        assert_eq!(format!("{email:?}"), "verify_email");
    }
}
