//! `TestApp`: the real application, started in-process on port 0 with its
//! own database (a SQLite file, or a fresh PostgreSQL database when
//! `AUTH_TEST_DATABASE_URL` is set), its own queue (Redis with a queue of its
//! own when `AUTH_TEST_REDIS_URL` is set), and a real SMTP server.

use std::sync::{Arc, Once};
use std::time::Duration;

use authd::config::{RawSettings, Settings};
use authd::startup::{Application, RunWorker};
use jobs::OffsetClock;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::smtp::SmtpServer;

pub const PASSWORD: &str = "Correct-Horse-42";

static TELEMETRY: Once = Once::new();

pub fn init_logs() {
    TELEMETRY.call_once(|| {
        let filter = std::env::var("TEST_LOG")
            .unwrap_or_else(|_| "warn,authd=info,actors=info,jobs=info".into());
        authd::telemetry::init(&filter, false);
    });
}

pub fn postgres_url() -> Option<String> {
    std::env::var("AUTH_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

pub fn redis_url() -> Option<String> {
    std::env::var("AUTH_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A new, empty PostgreSQL database next to the one in `base`.
async fn fresh_postgres(base: &str) -> String {
    let admin = sea_orm::Database::connect(base)
        .await
        .expect("AUTH_TEST_DATABASE_URL unreachable");
    let name = format!("authd_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("cannot create a test database");
    let mut url = url::Url::parse(base).expect("bad AUTH_TEST_DATABASE_URL");
    url.set_path(&name);
    url.to_string()
}

/// Settings for a test: cheap Argon2, short delivery timings, everything
/// under `dir`.
pub async fn test_settings(dir: &std::path::Path, smtp_url: Option<String>) -> Settings {
    let database_url = match postgres_url() {
        Some(base) => fresh_postgres(&base).await,
        None => format!("sqlite://{}/authd.db?mode=rwc", dir.display()),
    };
    let raw = RawSettings {
        bind: "127.0.0.1:0".into(),
        database_url,
        redis_url: redis_url(),
        smtp_url,
        outbox_dir: dir.join("outbox"),
        data_dir: dir.to_path_buf(),
        argon2_memory_kib: 1024,
        argon2_iterations: 1,
        argon2_parallelism: 1,
        ..RawSettings::default()
    };
    let mut settings = Settings::check(raw).expect("test settings");
    settings.queue_name = format!("authd-test-{}", uuid::Uuid::new_v4().simple());
    settings.delivery.relay_interval = Duration::from_millis(100);
    settings.delivery.redispatch_after = Duration::from_secs(3);
    settings.delivery.lease = Duration::from_secs(3);
    settings.delivery.backoff_base = Duration::from_millis(200);
    settings.delivery.backoff_cap = Duration::from_secs(1);
    settings.delivery.smtp_timeout = Duration::from_secs(2);
    settings
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub smtp: SmtpServer,
    pub db: DatabaseConnection,
    pub settings: Settings,
    pub clock: Arc<OffsetClock>,
    pub dir: Arc<tempfile::TempDir>,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

type Tweak = Box<dyn FnOnce(&mut Settings)>;

pub struct TestAppBuilder {
    smtp: Option<SmtpServer>,
    smtp_url: Option<String>,
    worker: RunWorker,
    tweak: Option<Tweak>,
}

pub fn builder() -> TestAppBuilder {
    TestAppBuilder {
        smtp: None,
        smtp_url: None,
        worker: RunWorker::Yes,
        tweak: None,
    }
}

pub async fn spawn_app() -> TestApp {
    builder().spawn().await
}

impl TestAppBuilder {
    /// Send mail to this URL instead of the test's own SMTP server.
    pub fn smtp_url(mut self, url: String) -> Self {
        self.smtp_url = Some(url);
        self
    }

    pub fn smtp(mut self, smtp: SmtpServer) -> Self {
        self.smtp = Some(smtp);
        self
    }

    pub fn without_worker(mut self) -> Self {
        self.worker = RunWorker::No;
        self
    }

    pub fn settings(mut self, f: impl FnOnce(&mut Settings) + 'static) -> Self {
        self.tweak = Some(Box::new(f));
        self
    }

    pub async fn spawn(self) -> TestApp {
        init_logs();
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let smtp = self.smtp.unwrap_or_else(SmtpServer::start);
        let smtp_url = self.smtp_url.unwrap_or_else(|| smtp.url());
        let mut settings = test_settings(dir.path(), Some(smtp_url)).await;
        if let Some(f) = self.tweak {
            f(&mut settings);
        }
        let clock = Arc::new(OffsetClock::default());
        let app = Application::build_with_clock(settings.clone(), self.worker, clock.clone())
            .await
            .expect("application failed to build");
        let address = format!("http://127.0.0.1:{}", app.port());
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        let db = actors::store::connect(&settings.database_url)
            .await
            .expect("test db");
        TestApp {
            address,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            smtp,
            db,
            settings,
            clock,
            dir,
            shutdown,
            server: Some(server),
        }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// POSTs raw bytes with a JSON content type.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request failed");
        read(resp).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_raw(path, body.to_string()).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        read(
            self.client
                .get(self.url(path))
                .send()
                .await
                .expect("request failed"),
        )
        .await
    }

    pub async fn register(&self, email: &str) -> (StatusCode, Value) {
        self.post("/api/v1/auth/register/", &registration(email))
            .await
    }

    /// Registers `email` and returns the verification token from its email.
    pub async fn register_and_get_token(&self, email: &str) -> String {
        let (status, body) = self.register(email).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mails = self.smtp.wait_for(email, 1, Duration::from_secs(10)).await;
        mails[0].token()
    }

    pub async fn verify_email(&self, token: &str) -> (StatusCode, Value) {
        self.post("/api/v1/auth/verify-email/", &json!({ "token": token }))
            .await
    }

    pub async fn outbox(&self) -> Vec<jobs::outbox::OutboxRow> {
        jobs::outbox::Outbox::find()
            .all(&self.db)
            .await
            .expect("outbox rows")
    }

    pub async fn user(&self, normalized_email: &str) -> Option<actors::store::users::Model> {
        actors::store::users::find_by_normalized_email(&self.db, normalized_email)
            .await
            .expect("user query")
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let result = tokio::time::timeout(Duration::from_secs(35), server).await;
            assert!(
                matches!(result, Ok(Ok(Ok(())))),
                "server did not stop cleanly"
            );
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn registration(email: &str) -> Value {
    json!({
        "email": email,
        "password": PASSWORD,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company_name": "Analytical Engines"
    })
}

pub fn unique_email() -> String {
    format!("user-{}@example.org", uuid::Uuid::new_v4().simple())
}

async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("body");
    let value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, value)
}

/// Asserts the error envelope of API.md.
pub fn assert_error(body: &Value, status: u16, error: &str) {
    assert_eq!(body["success"], json!(false), "{body}");
    assert_eq!(body["status_code"], json!(status), "{body}");
    assert_eq!(body["error"], json!(error), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Waits until `check` holds, polling.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + timeout;
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
