//! A real SMTP server for tests (mailin-embedded), started on a chosen or
//! free port, that keeps every message it accepts. It can be told to answer
//! RCPT with a transient (451) or permanent (550) failure, or greylist
//! some recipients (451 for addresses that start with `greylisted-`), or
//! keep a message and answer only a second later.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin_embedded::response::{self, Response};
use mailin_embedded::{Handler, Server};

#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub raw: String,
}

impl Mail {
    /// The `token` query parameter of the first link in the text body.
    pub fn token(&self) -> String {
        let start = self.text.find("token=").expect("no token link in mail") + "token=".len();
        self.text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

pub const ACCEPT: u8 = 0;
pub const TRANSIENT: u8 = 1;
pub const PERMANENT: u8 = 2;
pub const GREYLIST: u8 = 3;
/// Keeps the message, then waits a second before saying so (a slow server:
/// the mail is taken while the client still waits for the answer).
pub const SLOW_ACK: u8 = 4;

#[derive(Clone)]
struct Sink {
    mails: Arc<Mutex<Vec<Mail>>>,
    mode: Arc<AtomicU8>,
    current: Vec<u8>,
    to: Vec<String>,
}

impl Handler for Sink {
    fn rcpt(&mut self, to: &str) -> Response {
        match self.mode.load(Ordering::SeqCst) {
            TRANSIENT => response::INTERNAL_ERROR,
            GREYLIST if to.trim_start_matches('<').starts_with("greylisted-") => {
                response::INTERNAL_ERROR
            }
            PERMANENT => response::NO_MAILBOX,
            _ => response::OK,
        }
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current.clear();
        self.to = to.to_vec();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let raw = String::from_utf8_lossy(&self.current).into_owned();
        let parsed = mail_parser::MessageParser::default().parse(self.current.as_slice());
        let (subject, text, html) = match &parsed {
            Some(m) => (
                m.subject().unwrap_or_default().to_owned(),
                m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
                m.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
            ),
            None => Default::default(),
        };
        if let Ok(mut mails) = self.mails.lock() {
            mails.push(Mail {
                to: self.to.clone(),
                subject,
                text,
                html,
                raw,
            });
        }
        if self.mode.load(Ordering::SeqCst) == SLOW_ACK {
            std::thread::sleep(Duration::from_secs(1));
        }
        response::OK
    }
}

#[derive(Clone)]
pub struct SmtpServer {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    mode: Arc<AtomicU8>,
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

impl SmtpServer {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts the server on `port` (retrying briefly if it is still in use).
    pub fn start_on(port: u16) -> Self {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("cannot bind SMTP port {port}: {e}"),
            }
        };
        let mails = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(AtomicU8::new(ACCEPT));
        let sink = Sink {
            mails: mails.clone(),
            mode: mode.clone(),
            current: Vec::new(),
            to: Vec::new(),
        };
        let mut server = Server::new(sink);
        server
            .with_name("test-smtp")
            .with_num_threads(2)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self { port, mails, mode }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn mails_to(&self, address: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// Waits until `count` mails to `address` with `subject` have arrived.
    pub async fn wait_for_subject(
        &self,
        address: &str,
        subject: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<Mail> {
        self.wait_matching(address, Some(subject), count, timeout)
            .await
    }

    /// Waits until `count` mails to `address` have arrived.
    pub async fn wait_for(&self, address: &str, count: usize, timeout: Duration) -> Vec<Mail> {
        self.wait_matching(address, None, count, timeout).await
    }

    async fn wait_matching(
        &self,
        address: &str,
        subject: Option<&str>,
        count: usize,
        timeout: Duration,
    ) -> Vec<Mail> {
        let deadline = Instant::now() + timeout;
        loop {
            let mails: Vec<Mail> = self
                .mails_to(address)
                .into_iter()
                .filter(|m| subject.is_none_or(|s| m.subject == s))
                .collect();
            if mails.len() >= count {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} mail(s) ({subject:?}) to {address} within {timeout:?}, got {}",
                mails.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
