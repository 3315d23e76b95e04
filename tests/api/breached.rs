//! Breached-password screening against a small local range server that
//! speaks the Have I Been Pwned range protocol and keeps every byte it was
//! sent, so the tests can show that only a 5-character prefix leaves authd.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::{
    PASSWORD, TestApp, assert_error, builder, registration, remember_secret, unique_email,
};

/// A password that meets every local rule and that the range server lists.
pub(crate) const BREACHED: &str = "Breached-Horse-77";
/// A password the range server does not list.
const CLEAN: &str = "Unlisted-Horse-58";

fn sha1_hex(password: &str) -> String {
    hex::encode_upper(Sha1::digest(password.as_bytes()))
}

/// How the range server answers.
#[derive(Clone, Copy)]
pub(crate) enum Mode {
    /// Lists `BREACHED` (and padding) in its range.
    Serve,
    /// Accepts the connection and never answers.
    Hang,
    /// Answers 500.
    Fail,
}

pub(crate) struct RangeServer {
    url: String,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl RangeServer {
    pub(crate) async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/range", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut raw = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => raw.extend_from_slice(&buf[..n]),
                        }
                    }
                    seen.lock().unwrap().push(raw.clone());
                    let reply = match mode {
                        Mode::Hang => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return;
                        }
                        Mode::Fail => {
                            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
                        }
                        Mode::Serve => {
                            let body = range_answer(&raw);
                            format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                                body.len()
                            )
                        }
                    };
                    let _ = socket.write_all(reply.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }
}

/// The range of the prefix asked for: `BREACHED`'s suffix when it is in
/// that range, a padding line (count 0) for `CLEAN`'s suffix, and another.
fn range_answer(request: &[u8]) -> String {
    let line = String::from_utf8_lossy(request);
    let prefix = line
        .split_whitespace()
        .nth(1)
        .and_then(|path| path.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    let mut lines = vec!["00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2".to_owned()];
    for (password, count) in [(BREACHED, 3), (CLEAN, 0)] {
        let hash = sha1_hex(password);
        if hash.starts_with(&prefix) {
            lines.push(format!("{}:{count}", &hash[5..]));
        }
    }
    lines.join("\r\n")
}

pub(crate) async fn app_with(range: &RangeServer, refuse_when_down: bool) -> TestApp {
    let url = range.url.parse().unwrap();
    builder()
        .settings(move |s| {
            s.pwned.range_url = Some(url);
            s.pwned.refuse_when_down = refuse_when_down;
            s.pwned.timeout = Duration::from_millis(500);
        })
        .spawn()
        .await
}

async fn register_with(app: &TestApp, password: &str) -> (StatusCode, Value) {
    register_as(app, &unique_email(), password).await
}

async fn register_as(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    remember_secret(password);
    let mut body = registration(email);
    body["password"] = json!(password);
    app.post("/api/v1/auth/register/", &body).await
}

/// Every request the range server got asks for one 5-character prefix of a
/// password's SHA-1, and nothing in it carries the password or the rest of
/// its hash.
fn assert_only_prefixes_left(range: &RangeServer, passwords: &[&str]) {
    let requests = range.requests();
    assert!(!requests.is_empty(), "the range server was never asked");
    let prefixes: Vec<String> = passwords
        .iter()
        .map(|p| sha1_hex(p)[..5].to_owned())
        .collect();
    for request in &requests {
        let first = request.lines().next().unwrap_or_default();
        let path = first.split_whitespace().nth(1).unwrap_or_default();
        let prefix = path.strip_prefix("/range/").unwrap_or_default();
        assert!(
            first.starts_with("GET ") && prefixes.iter().any(|p| p == prefix),
            "unexpected request line {first:?}"
        );
        assert!(
            request.ends_with("\r\n\r\n"),
            "a request with a body: {request:?}"
        );
        for password in passwords {
            let hash = sha1_hex(password);
            let lower = hash.to_lowercase();
            for secret in [
                password.to_string(),
                hash[5..].to_owned(),
                lower[5..].to_owned(),
            ] {
                assert!(!request.contains(&secret), "{request:?} carries a secret");
            }
        }
    }
}

#[tokio::test]
async fn a_breached_password_is_refused_at_registration_and_only_a_prefix_leaves() {
    let range = RangeServer::start(Mode::Serve).await;
    let app = app_with(&range, false).await;

    let (status, body) = register_with(&app, BREACHED).await;
    assert_error(&body, 400, "Invalid request");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["errors"]["password"][0].as_str().unwrap_or_default();
    assert!(message.contains("data breach"), "{body}");

    // A padding line (count 0) for the password's own suffix is not a hit.
    let (status, body) = register_with(&app, CLEAN).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_only_prefixes_left(&range, &[BREACHED, CLEAN]);
    assert_eq!(range.requests().len(), 2);
}

#[tokio::test]
async fn reset_and_change_screen_the_new_password_too() {
    let range = RangeServer::start(Mode::Serve).await;
    let app = app_with(&range, false).await;
    // PASSWORD is not listed: registering with it asks the range once.
    let (email, access, _) = app.logged_in_user().await;

    let (status, body) = app.change_password(&access, PASSWORD, BREACHED).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["new_password"].is_array(), "{body}");
    // A refused new password costs no attempt: the current one still works.
    let (status, body) = app.change_password(&access, PASSWORD, CLEAN).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, _) = app.request_reset(&email).await;
    assert_eq!(status, StatusCode::OK);
    let token = app.reset_token(&email, 1).await;
    let (status, body) = app.confirm_reset(&token, BREACHED).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["new_password"].is_array(), "{body}");
    // The link was not used up by the refusal.
    let (status, body) = app.confirm_reset(&token, "Another-Clean-Horse-91").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_only_prefixes_left(
        &range,
        &[PASSWORD, BREACHED, CLEAN, "Another-Clean-Horse-91"],
    );
}

#[tokio::test]
async fn a_service_that_hangs_or_fails_is_accepted_by_default_within_the_timeout() {
    for mode in [Mode::Hang, Mode::Fail] {
        let range = RangeServer::start(mode).await;
        let app = app_with(&range, false).await;
        let started = Instant::now();
        let (status, body) = register_with(&app, BREACHED).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(range.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_service_that_is_down_refuses_new_passwords_when_set_to() {
    // Nothing listens on a port just freed.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/range", closed.local_addr().unwrap());
    drop(closed);
    let down = RangeServer {
        url,
        requests: Arc::default(),
    };
    let app = app_with(&down, true).await;
    let (status, body) = register_with(&app, CLEAN).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_error(&body, 503, "Service unavailable");

    let hanging = RangeServer::start(Mode::Hang).await;
    let app = app_with(&hanging, true).await;
    let email = unique_email();
    let (status, body) = register_as(&app, &email, CLEAN).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    // Nothing was written: no user, no mail.
    assert!(app.user(&email).await.is_none());
    assert!(app.outbox().await.is_empty());
}
