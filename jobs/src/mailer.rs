//! Sends a rendered email over SMTP, or writes it as an `.eml` file when no
//! SMTP server is configured.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::io::AsyncWriteExt;

use crate::JobsError;
use crate::email::Rendered;

#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    Files {
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
        Ok(Mailer::Files { dir, from })
    }

    fn from(&self) -> &Mailbox {
        match self {
            Mailer::Smtp { from, .. } | Mailer::Files { from, .. } => from,
        }
    }

    /// Sends one email (`kind` names it in a file name). Returns where it
    /// went (for the log), never its body.
    pub async fn send(&self, to: &str, kind: &str, email: Rendered) -> Result<String, SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient address not accepted: {e}")))?;
        let message = Message::builder()
            .from(self.from().clone())
            .to(to)
            .subject(email.subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(unfolded(email.text)),
                    )
                    .singlepart(SinglePart::html(email.html)),
            )
            .map_err(|e| SendError::Permanent(format!("message not built: {e}")))?;
        match self {
            Mailer::Smtp { transport, .. } => match transport.send(message).await {
                Ok(response) => Ok(format!("smtp {}", response.code())),
                Err(e) if e.is_permanent() || e.is_client() => {
                    Err(SendError::Permanent(e.to_string()))
                }
                Err(e) => Err(SendError::Transient(e.to_string())),
            },
            Mailer::Files { dir, .. } => {
                let path = dir.join(eml_name(chrono::Utc::now(), &to_name(&message), kind));
                write_new(&path, &message.formatted())
                    .await
                    .map_err(|e| SendError::Transient(format!("{}: {e}", path.display())))?;
                Ok(path.display().to_string())
            }
        }
    }
}

/// The text part as it was written: 7bit (8bit when it is not ASCII), so
/// no line is folded and a link can be copied from the source as is
/// (lettre would pick quoted-printable for any line over 76 characters and
/// break the link with soft line breaks). Lines end in CRLF; a text with a
/// NUL or a line over SMTP's 998 bytes is left to lettre.
fn unfolded(text: String) -> Body {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    if crlf.contains('\0')
        || crlf
            .split("\r\n")
            .any(|l| l.len() > 998 || l.contains('\r'))
    {
        return Body::new(text);
    }
    let encoding = if crlf.is_ascii() {
        ContentTransferEncoding::SevenBit
    } else {
        ContentTransferEncoding::EightBit
    };
    Body::dangerous_pre_encoded(crlf.into_bytes(), encoding)
}

/// The first recipient's address, for the file name.
fn to_name(message: &Message) -> String {
    message
        .envelope()
        .to()
        .first()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// `<UTC time>-<recipient>-<kind>-<random>.eml`: names sort by time, so the
/// newest mail for an address is the last of `ls outbox/*alice@example.com*`.
/// The recipient and kind keep letters, digits, `@ . + - _` only (no path
/// separator, no leading dot) and at most 64 characters each.
fn eml_name(now: chrono::DateTime<chrono::Utc>, recipient: &str, kind: &str) -> String {
    let unique = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!(
        "{}-{}-{}-{unique}.eml",
        now.format("%Y%m%dT%H%M%S%.3fZ"),
        safe(recipient),
        safe(kind)
    )
}

fn safe(part: &str) -> String {
    let cleaned: String = part
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_') {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut cleaned = cleaned.trim_start_matches('.').to_owned();
    while cleaned.contains("..") {
        cleaned = cleaned.replace("..", "_.");
    }
    if cleaned.is_empty() {
        "unknown".to_owned()
    } else {
        cleaned
    }
}

/// Writes a new file whole: into a hidden temporary name first, then
/// renamed, so a reader never sees a half-written `.eml`.
async fn write_new(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let temp = path.with_file_name(format!(".{}.tmp", name.unwrap_or_default()));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .await?;
    file.write_all(bytes).await?;
    file.sync_all().await?;
    tokio::fs::rename(&temp, path).await
}

/// Deletes the `.eml` files of `dir` last modified before `before` (Unix
/// ms; the caller's clock, so tests can move it); returns how many. Only
/// regular files named `*.eml` directly in `dir` are touched: hidden files
/// (a mail being written), other files, directories and symlinks (never
/// followed) are left alone. A missing directory holds nothing.
pub async fn prune_files(dir: &std::path::Path, before: i64) -> std::io::Result<u64> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let before = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(before).unwrap_or(0));
    let mut deleted = 0;
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".eml") {
            continue;
        }
        // `DirEntry::metadata` does not follow symlinks.
        let meta = entry.metadata().await?;
        if !meta.file_type().is_file() || meta.modified()? >= before {
            continue;
        }
        match tokio::fs::remove_file(entry.path()).await {
            Ok(()) => deleted += 1,
            // Another janitor of the same directory went first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eml_names_sort_by_time_and_cannot_leave_the_directory() {
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&chrono::Utc))
                .unwrap_or_default()
        };
        let early = eml_name(
            t("2026-01-02T03:04:05.006Z"),
            "Alice@Example.com",
            "verify_email",
        );
        let late = eml_name(
            t("2026-01-02T03:04:06Z"),
            "alice@example.com",
            "password_reset",
        );
        assert!(early.starts_with("20260102T030405.006Z-alice@example.com-verify_email-"));
        assert!(early < late);
        for hostile in ["../../etc/passwd", "a/b\\c@x", "..", "\u{0}\n", ""] {
            let name = eml_name(t("2026-01-02T03:04:05Z"), hostile, "k/../x");
            assert!(
                !name.contains('/') && !name.contains('\\') && !name.contains(".."),
                "{name}"
            );
            assert!(
                name.is_ascii() && !name.chars().any(char::is_control),
                "{name}"
            );
            assert!(name.ends_with(".eml"));
        }
    }

    #[test]
    fn a_long_link_stays_on_one_line_in_the_text_part() {
        let link = format!(
            "http://localhost:3000/verify-email?token={}",
            "x".repeat(120)
        );
        for text in [format!("Hello,\n\n{link}\n"), format!("Grüße,\n\n{link}\n")] {
            let body = unfolded(text);
            let raw = String::from_utf8_lossy(body.as_ref()).into_owned();
            assert!(raw.lines().any(|l| l == link), "{raw}");
        }
    }
}
