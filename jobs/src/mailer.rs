//! Sends a rendered email over SMTP, or writes it as an `.eml` file when no
//! SMTP server is configured.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::JobsError;
use crate::email::Rendered;

#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    Files {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
        from: Mailbox,
    },
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Smtp { .. } => f.write_str("Mailer::Smtp"),
            Mailer::Files { dir, .. } => write!(f, "Mailer::Files({})", dir.display()),
        }
    }
}

/// Why a send failed, as far as retrying is concerned.
#[derive(Debug)]
pub enum SendError {
    /// Connection refused, timeout, 4xx: try again later.
    Transient(String),
    /// 5xx or an address the server will never accept: give up.
    Permanent(String),
}

impl Mailer {
    /// `smtp_url` as lettre understands it: `smtp://host:port` (plain, or
    /// STARTTLS with `?tls=required`), `smtps://user:pass@host` (TLS).
    pub fn smtp(smtp_url: &str, from: Mailbox, timeout: Duration) -> Result<Self, JobsError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| JobsError::Mailer(e.to_string()))?
            .timeout(Some(timeout))
            .build();
        Ok(Mailer::Smtp { transport, from })
    }

    pub fn files(dir: PathBuf, from: Mailbox) -> Result<Self, JobsError> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| JobsError::Mailer(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Mailer::Files {
            transport: AsyncFileTransport::<Tokio1Executor>::new(&dir),
            dir,
            from,
        })
    }

    fn from(&self) -> &Mailbox {
        match self {
            Mailer::Smtp { from, .. } | Mailer::Files { from, .. } => from,
        }
    }

    /// Sends one email. Returns where it went (for the log), never its body.
    pub async fn send(&self, to: &str, email: Rendered) -> Result<String, SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient address not accepted: {e}")))?;
        let message = Message::builder()
            .from(self.from().clone())
            .to(to)
            .subject(email.subject)
            .multipart(MultiPart::alternative_plain_html(email.text, email.html))
            .map_err(|e| SendError::Permanent(format!("message not built: {e}")))?;
        match self {
            Mailer::Smtp { transport, .. } => match transport.send(message).await {
                Ok(response) => Ok(format!("smtp {}", response.code())),
                Err(e) if e.is_permanent() || e.is_client() => {
                    Err(SendError::Permanent(e.to_string()))
                }
                Err(e) => Err(SendError::Transient(e.to_string())),
            },
            Mailer::Files { transport, dir, .. } => match transport.send(message).await {
                Ok(id) => Ok(dir.join(format!("{id}.eml")).display().to_string()),
                Err(e) => Err(SendError::Transient(e.to_string())),
            },
        }
    }
}
