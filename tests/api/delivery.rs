//! Email that is never lost: SMTP down, SMTP refusing, no SMTP at all, a
//! worker killed mid-send, Redis stopped.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{TestApp, builder, eventually, redis_url, test_settings, unique_email};
use crate::smtp::{self, SmtpServer};

#[tokio::test]
async fn smtp_down_during_registration_then_the_mail_arrives_once_it_is_up() {
    let port = smtp::free_port();
    let app = builder()
        .smtp_url(format!("smtp://127.0.0.1:{port}"))
        .spawn()
        .await;
    let email = unique_email();
    let (status, _) = app.register(&email).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "registration does not wait for SMTP"
    );

    eventually("a failed attempt", Duration::from_secs(10), || async {
        app.outbox()
            .await
            .first()
            .is_some_and(|r| r.attempts >= 1 && r.last_error.is_some())
    })
    .await;
    let server = SmtpServer::start_on(port);
    let mails = server.wait_for(&email, 1, Duration::from_secs(15)).await;
    assert!(mails[0].text.contains("verify-email?token="));
    eventually("the row marked sent", Duration::from_secs(5), || async {
        app.outbox()
            .await
            .first()
            .is_some_and(|r| r.status == jobs::outbox::Status::Sent)
    })
    .await;
}

#[tokio::test]
async fn a_4xx_answer_is_retried_until_accepted() {
    let smtp = SmtpServer::start();
    smtp.set_mode(smtp::TRANSIENT);
    let app = builder().smtp(smtp.clone()).spawn().await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.0, StatusCode::CREATED);
    eventually("two failed attempts", Duration::from_secs(10), || async {
        app.outbox().await.first().is_some_and(|r| r.attempts >= 2)
    })
    .await;
    assert!(smtp.mails_to(&email).is_empty());
    smtp.set_mode(smtp::ACCEPT);
    smtp.wait_for(&email, 1, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_5xx_answer_is_recorded_as_failed_and_not_retried() {
    let smtp = SmtpServer::start();
    smtp.set_mode(smtp::PERMANENT);
    let app = builder().smtp(smtp.clone()).spawn().await;
    assert_eq!(app.register(&unique_email()).await.0, StatusCode::CREATED);
    let row = failed_for_good(&app, 1).await;
    assert!(
        row.last_error.as_deref().is_some_and(|e| e.contains("550")),
        "{:?}",
        row.last_error
    );
}

/// Waits for the app's one outbox row to be marked failed after `attempts`
/// attempts, and for it to stay so past the redispatch window, with nothing
/// secret left behind.
pub(crate) async fn failed_for_good(app: &TestApp, attempts: i32) -> jobs::outbox::OutboxRow {
    eventually("the row marked failed", Duration::from_secs(10), || async {
        app.outbox()
            .await
            .first()
            .is_some_and(|r| r.status == jobs::outbox::Status::Failed)
    })
    .await;
    // Past the redispatch window nothing tries again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let row = app.outbox().await.remove(0);
    assert_eq!(
        (row.status, row.attempts),
        (jobs::outbox::Status::Failed, attempts)
    );
    assert!(row.payload.is_none(), "nothing secret stays behind");
    row
}

#[tokio::test]
async fn a_sent_mail_is_not_sent_again_after_the_redispatch_window() {
    let app = builder().spawn().await;
    let email = unique_email();
    app.register_and_get_token(&email).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    app.clock.advance_ms(3_600_000);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.smtp.mails_to(&email).len(), 1);
    let row = &app.outbox().await[0];
    assert_eq!(row.status, jobs::outbox::Status::Sent);
    assert!(row.payload.is_none());
}

#[tokio::test]
async fn without_smtp_each_mail_is_an_eml_file_whose_link_verifies() {
    let app = builder().settings(|s| s.smtp_url = None).spawn().await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.0, StatusCode::CREATED);
    let dir = app.settings.outbox_dir.clone();
    let eml = |dir: &std::path::Path| {
        std::fs::read_dir(dir).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "eml"))
        })
    };
    eventually("an .eml file", Duration::from_secs(10), || {
        let found = eml(&dir).is_some();
        async move { found }
    })
    .await;
    let file = eml(&dir).unwrap();
    let raw = std::fs::read(&file).unwrap();
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_slice())
        .unwrap();
    let text = parsed.body_text(0).unwrap().into_owned();
    let start = text.find("token=").unwrap() + 6;
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(app.verify_email(&token).await.0, StatusCode::OK);
}

/// A TCP server that accepts connections and never says a word: an SMTP
/// send to it hangs until the client's timeout.
fn black_hole() -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(8) {
            held.push(stream);
        }
    });
    (port, handle)
}

pub(crate) fn spawn_worker_process(settings: &authd::config::Settings, smtp_url: &str) -> Child {
    use base64::Engine;
    // The test's key (on PostgreSQL no key is generated); on SQLite none is
    // set and the worker reads the one generated into the data directory.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authd"));
    cmd.arg("worker")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AUTH_DATABASE_URL", &settings.database_url)
        .env("AUTH_DATA_DIR", &settings.data_dir)
        .env("AUTH_SMTP_URL", smtp_url)
        .env("AUTH_LOG", "warn")
        .env("AUTH_QUEUE_NAME", &settings.queue_name)
        .env(
            "AUTH_REDIS_URL",
            settings
                .redis_url
                .as_ref()
                .map(|u| u.to_string())
                .unwrap_or_default(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(key) = &settings.encryption_key {
        let key = base64::engine::general_purpose::STANDARD.encode(&key.0);
        cmd.env("AUTH_ENCRYPTION_KEY", key);
    }
    cmd.spawn().expect("cannot start `authd worker`")
}

#[tokio::test]
async fn a_mail_held_by_a_killed_worker_is_delivered_by_the_next_worker() {
    // The API runs without a worker; a separate `authd worker` process takes
    // the job and hangs on an SMTP server that never answers.
    let app = builder().without_worker().spawn().await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.0, StatusCode::CREATED);
    let (hole, _h) = black_hole();
    let mut dead = spawn_worker_process(&app.settings, &format!("smtp://127.0.0.1:{hole}"));
    eventually(
        "the worker process to claim the row",
        Duration::from_secs(20),
        || async {
            app.outbox()
                .await
                .first()
                .is_some_and(|r| r.attempts == 1 && r.lease_until.is_some())
        },
    )
    .await;
    dead.kill().expect("kill -9");
    let _ = dead.wait();
    assert_eq!(app.outbox().await[0].status, jobs::outbox::Status::Pending);

    // A new worker starts at once, with the clock past the dead one's lease
    // and dispatch (its lease is 60 s in production settings).
    let smtp = app.smtp.clone();
    let settings = app.settings.clone();
    let clock = Arc::new(jobs::OffsetClock::default());
    clock.advance_ms(10 * 60 * 1000);
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn({
        let stop = stop.clone();
        async move {
            authd::startup::run_worker_with_clock(settings, clock, stop.cancelled_owned()).await
        }
    });
    let mails = smtp.wait_for(&email, 1, Duration::from_secs(15)).await;
    assert_eq!(mails.len(), 1);
    eventually("the row marked sent", Duration::from_secs(5), || async {
        app.outbox().await[0].status == jobs::outbox::Status::Sent
    })
    .await;
    stop.cancel();
    worker.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_separate_worker_process_delivers_for_an_api_only_node() {
    let app = builder().without_worker().spawn().await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.0, StatusCode::CREATED);
    let mut worker = spawn_worker_process(&app.settings, &app.smtp.url());
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        app.smtp.wait_for(&email, 1, Duration::from_secs(20)),
    )
    .await;
    worker.kill().ok();
    let _ = worker.wait();
    assert!(result.is_ok());
}

/// A private redis-server on its own port, for tests that stop or flush it.
pub(crate) struct RedisServer {
    child: Child,
}

impl RedisServer {
    pub(crate) fn start(port: u16) -> Option<Self> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self { child })
    }

    pub(crate) fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[tokio::test]
async fn with_redis_stopped_registration_succeeds_and_the_mail_arrives_after_redis_is_back() {
    if redis_url().is_none() {
        eprintln!(
            "skipped: set AUTH_TEST_REDIS_URL (and have redis-server on PATH) to run the Redis outage test"
        );
        return;
    }
    let port = smtp::free_port();
    let redis = RedisServer::start(port)
        .expect("redis-server must be on PATH when AUTH_TEST_REDIS_URL is set");
    let redis_url = url::Url::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
    let app = builder()
        .settings(move |s| s.redis_url = Some(redis_url))
        .spawn()
        .await;
    // Warm up: one mail through Redis.
    app.register_and_get_token(&unique_email()).await;

    redis.stop();
    let email = unique_email();
    let (status, _) = app.register(&email).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "registration does not need Redis"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(app.smtp.mails_to(&email).is_empty());

    let _redis = RedisServer::start(port).expect("redis-server restart");
    app.smtp.wait_for(&email, 1, Duration::from_secs(30)).await;
}

#[tokio::test]
async fn settings_for_a_test_are_isolated() {
    // Two settings never share a database or a queue.
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let sa = test_settings(a.path(), None).await;
    let sb = test_settings(b.path(), None).await;
    assert_ne!(sa.database_url, sb.database_url);
    assert_ne!(sa.queue_name, sb.queue_name);
}

#[tokio::test]
async fn eml_files_are_named_by_time_recipient_and_kind_and_their_link_is_whole() {
    let base = "http://localhost:3000/a/frontend/under/a/long/path/that/pushes/the/link/past/76";
    let app = builder()
        .settings(move |s| {
            s.smtp_url = None;
            s.public_url = url::Url::parse(base).unwrap();
        })
        .spawn()
        .await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.0, StatusCode::CREATED);
    let dir = app.settings.outbox_dir.clone();
    let emls = || {
        std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".eml"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    eventually("an .eml file", Duration::from_secs(10), || {
        let found = !emls().is_empty();
        async move { found }
    })
    .await;
    let name = emls().remove(0);
    let stamp = chrono::Utc::now().format("%Y%m%dT").to_string();
    assert!(name.starts_with(&stamp), "{name}");
    assert!(
        name.contains(&format!("-{}-verify_email-", email.to_lowercase())),
        "{name}"
    );
    let raw = std::fs::read_to_string(dir.join(&name)).unwrap();
    let link = raw
        .lines()
        .find(|l| l.starts_with(base))
        .unwrap_or_else(|| panic!("no whole link line in {raw}"));
    assert!(link.len() > 76 && !link.ends_with('='), "{link}");
    let token = link.split("token=").nth(1).unwrap();
    assert_eq!(app.verify_email(token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_payload_sealed_with_another_key_is_kept_and_sent_by_a_worker_with_the_key() {
    // A worker started with another AUTH_ENCRYPTION_KEY cannot open the
    // mail: it leaves the row as it was (payload, attempts) instead of
    // recording it as failed, and a worker with the key sends it. (Such a
    // worker starts only when its key is the newest recorded: here a
    // rotation to it was recorded, and the worker dropped the old key from
    // AUTH_ENCRYPTION_KEYS_PREVIOUS too early.)
    use authd::config::Secret;
    let smtp = SmtpServer::start();
    let app = builder()
        .smtp(smtp.clone())
        .without_worker()
        .settings(|s| s.encryption_key = Some(Secret(vec![1; 32])))
        .spawn()
        .await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.0, StatusCode::CREATED);

    let rotation = authd::fingerprints::NodeKey::encryption(&[2; 32], &[[1; 32]]);
    authd::fingerprints::check(&app.db, &rotation, 0)
        .await
        .expect("rotation recorded");
    let mut other = app.settings.clone();
    other.encryption_key = Some(Secret(vec![2; 32]));
    let stop = tokio_util::sync::CancellationToken::new();
    let wrong = tokio::spawn({
        let (stop, clock) = (stop.clone(), app.clock.clone());
        async move { authd::startup::run_worker_with_clock(other, clock, stop.cancelled_owned()).await }
    });
    eventually(
        "the other worker tried the row",
        Duration::from_secs(10),
        || async { app.outbox().await[0].last_error.as_deref() == Some("sealed with another key") },
    )
    .await;
    stop.cancel();
    wrong.await.expect("join").expect("worker");
    let row = &app.outbox().await[0];
    assert_eq!(row.status, jobs::outbox::Status::Pending);
    assert!(row.payload.is_some(), "the payload is kept");
    assert_eq!(row.attempts, 0, "not counted as an attempt");
    assert!(smtp.mails_to(&email).is_empty());

    let stop = tokio_util::sync::CancellationToken::new();
    let mut settings = app.settings.clone();
    settings.encryption_keys_previous = vec![Secret(vec![2; 32])];
    let right = tokio::spawn({
        let (stop, clock) = (stop.clone(), app.clock.clone());
        async move {
            authd::startup::run_worker_with_clock(settings, clock, stop.cancelled_owned()).await
        }
    });
    smtp.wait_for(&email, 1, Duration::from_secs(20)).await;
    eventually(
        "the row recorded as sent",
        Duration::from_secs(5),
        || async { app.outbox().await[0].status == jobs::outbox::Status::Sent },
    )
    .await;
    stop.cancel();
    right.await.expect("join").expect("worker");
    assert_eq!(smtp.mails_to(&email).len(), 1);
}
