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
pub const RESET_SUBJECT: &str = "Reset your password";
pub const CHANGED_SUBJECT: &str = "Your password was changed";

static TELEMETRY: Once = Once::new();

/// Logs of the test process. With `AUTH_TEST_LOG_DIR` set, they go to a file
/// there, and every secret a test handles is listed beside it, so CI can
/// check that no log line holds a password or token.
pub fn init_logs() {
    TELEMETRY.call_once(|| {
        let filter =
            std::env::var("TEST_LOG").unwrap_or_else(|_| "info,sqlx=warn,hyper=warn".into());
        match log_dir() {
            Some(dir) => {
                let file =
                    std::fs::File::create(dir.join(format!("log-{}.txt", std::process::id())))
                        .expect("test log file");
                let _ = tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(file))
                    .try_init();
                remember_secret(PASSWORD);
            }
            None => authd::telemetry::init(&filter, false),
        }
    });
}

fn log_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("AUTH_TEST_LOG_DIR").map(std::path::PathBuf::from)
}

/// Notes a secret the test used (password, token) for the log check.
pub fn remember_secret(secret: &str) {
    use std::io::Write;
    if let Some(dir) = log_dir()
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("secrets-{}.txt", std::process::id())))
    {
        let _ = writeln!(f, "{secret}");
    }
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
pub(crate) async fn fresh_postgres(base: &str) -> String {
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
        database_url: Some(database_url),
        redis_url: redis_url(),
        smtp_url,
        outbox_dir: Some(dir.join("outbox")),
        data_dir: dir.to_path_buf(),
        argon2_memory_kib: 1024,
        argon2_iterations: 1,
        argon2_parallelism: 1,
        // Tests log in, register, refresh and ask for mail many times from
        // one address; the rate limit tests (limits.rs) set the real figures.
        rate_limit_per_minute: 10_000,
        refresh_rate_per_minute: 10_000,
        mail_per_recipient_per_hour: 10_000,
        trusted_proxies: Some("127.0.0.1,::1".into()),
        ..RawSettings::default()
    };
    let mut settings = Settings::check(raw).expect("test settings");
    if postgres_url().is_some() {
        // Nodes sharing PostgreSQL generate no keys: each test's database
        // gets these (every node of a test the same).
        settings.encryption_key = Some(authd::config::Secret(vec![7; 32]));
        settings.jwt_secret = Some(authd::config::Secret(
            b"test-secret-test-secret-test-secret-test".to_vec(),
        ));
    }
    settings.queue_name = format!("authd-test-{}", uuid::Uuid::new_v4().simple());
    settings.delivery.relay_interval = Duration::from_millis(100);
    settings.delivery.redispatch_after = Duration::from_secs(3);
    settings.delivery.lease = Duration::from_secs(3);
    settings.delivery.backoff_base = Duration::from_millis(200);
    settings.delivery.backoff_cap = Duration::from_secs(1);
    settings.delivery.smtp_timeout = Duration::from_secs(2);
    settings.delivery.clock_step = Duration::from_millis(20);
    // The app's own janitor stays out of the way; tests run passes with
    // `janitor.rs`'s `pass` (janitor.rs shortens these to see it run).
    settings.janitor.first_pass_after = Duration::from_secs(24 * 3600);
    settings.janitor.interval = Duration::from_secs(24 * 3600);
    settings
}

pub struct TestApp {
    pub address: String,
    /// `/metrics`'s own listener, when `metrics_bind` is set.
    pub metrics_address: Option<String>,
    /// The admin API's own listener, when `admin_bind` is set.
    pub admin_address: Option<String>,
    pub client: reqwest::Client,
    pub smtp: SmtpServer,
    pub db: DatabaseConnection,
    pub settings: Settings,
    pub clock: Arc<OffsetClock>,
    pub dir: Arc<tempfile::TempDir>,
    pub actors: actors::supervisor::Actors,
    /// Pause points inside the application (deterministic race tests).
    pub hooks: actors::hooks::Hooks,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

type Tweak = Box<dyn FnOnce(&mut Settings)>;

pub struct TestAppBuilder {
    smtp: Option<SmtpServer>,
    smtp_url: Option<String>,
    worker: RunWorker,
    tweak: Option<Tweak>,
    statements: Option<Arc<actors::hooks::StatementLog>>,
}

pub fn builder() -> TestAppBuilder {
    TestAppBuilder {
        smtp: None,
        smtp_url: None,
        worker: RunWorker::Yes,
        tweak: None,
        statements: None,
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

    /// Notes every statement of the application's pool in `log`.
    pub fn statements(mut self, log: Arc<actors::hooks::StatementLog>) -> Self {
        self.statements = Some(log);
        self
    }

    pub fn settings(mut self, f: impl FnOnce(&mut Settings) + 'static) -> Self {
        self.tweak = Some(Box::new(f));
        self
    }

    pub async fn spawn(self) -> TestApp {
        self.try_spawn().await.expect("application failed to build")
    }

    /// Like `spawn`, with the error of an application that does not build.
    pub async fn try_spawn(self) -> anyhow::Result<TestApp> {
        init_logs();
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let smtp = self.smtp.unwrap_or_else(SmtpServer::start);
        let smtp_url = self.smtp_url.unwrap_or_else(|| smtp.url());
        let mut settings = test_settings(dir.path(), Some(smtp_url)).await;
        if let Some(f) = self.tweak {
            f(&mut settings);
        }
        let clock = Arc::new(OffsetClock::default());
        let hooks = actors::hooks::Hooks {
            statements: self.statements,
            ..actors::hooks::Hooks::default()
        };
        let app = Application::build_with_hooks(
            settings.clone(),
            self.worker,
            clock.clone(),
            hooks.clone(),
        )
        .await?;
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = app
            .metrics_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        let admin_address = app
            .admin_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        let shutdown = app.shutdown_token();
        let actors = app.actors();
        let server = tokio::spawn(app.run_until_stopped());
        let pool = actors::store::Pool {
            max_connections: 4,
            application_name: "authd-test",
            statements: None,
        };
        let db = actors::store::connect(&settings.database_url, pool)
            .await
            .expect("test db");
        Ok(TestApp {
            address,
            metrics_address,
            admin_address,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            smtp,
            db,
            settings,
            clock,
            dir,
            actors,
            hooks,
            shutdown,
            server: Some(server),
        })
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

    pub async fn get_bearer(&self, path: &str, token: &str) -> (StatusCode, Value) {
        read(
            self.client
                .get(self.url(path))
                .bearer_auth(token)
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
        let token = mails[0].token();
        remember_secret(&token);
        token
    }

    /// Registers and verifies `email`; returns the login response data.
    pub async fn verified_user(&self, email: &str) {
        let token = self.register_and_get_token(email).await;
        let (status, body) = self.verify_email(&token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/v1/auth/login/",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Logs in from the client address `ip` (through the trusted local proxy).
    pub async fn login_from(&self, ip: &str, email: &str, password: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(self.url("/api/v1/auth/login/"))
            .header("x-forwarded-for", ip)
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("request failed");
        read(resp).await
    }

    /// A verified user, logged in: (access token, refresh token).
    pub async fn logged_in(&self) -> (String, String) {
        let (_, access, refresh) = self.logged_in_user().await;
        (access, refresh)
    }

    /// A verified user, logged in: (email, access token, refresh token).
    pub async fn logged_in_user(&self) -> (String, String, String) {
        let email = unique_email();
        self.verified_user(&email).await;
        let (access, refresh) = self.tokens_for(&email, PASSWORD).await;
        (email, access, refresh)
    }

    /// Logs `email` in (it must succeed): (access token, refresh token).
    pub async fn tokens_for(&self, email: &str, password: &str) -> (String, String) {
        let (status, body) = self.login(email, password).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tokens_of(&body)
    }

    pub async fn verify_token(&self, token: &str) -> (StatusCode, Value) {
        read(
            self.client
                .get(self.url("/api/v1/auth/verify-token/"))
                .bearer_auth(token)
                .send()
                .await
                .expect("request failed"),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        let (status, body) = self
            .post(
                "/api/v1/auth/token/refresh/",
                &json!({ "refresh_token": refresh_token }),
            )
            .await;
        for key in ["token", "refresh_token"] {
            if let Some(secret) = body["data"][key].as_str() {
                remember_secret(secret);
            }
        }
        (status, body)
    }

    pub async fn logout(&self, token: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(self.url("/api/v1/auth/logout/"))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.expect("request failed")).await
    }

    pub async fn verify_email(&self, token: &str) -> (StatusCode, Value) {
        self.post("/api/v1/auth/verify-email/", &json!({ "token": token }))
            .await
    }

    /// Asks for a password reset; returns the status and the raw body.
    pub async fn request_reset(&self, email: &str) -> (StatusCode, String) {
        let resp = self
            .client
            .post(self.url("/api/v1/auth/password-reset/"))
            .json(&json!({ "email": email }))
            .send()
            .await
            .expect("request failed");
        let status = resp.status();
        (status, resp.text().await.expect("body"))
    }

    /// Waits for the `n`th (1-based) reset email to `email`; returns its token.
    pub async fn reset_token(&self, email: &str, n: usize) -> String {
        let mails = self
            .smtp
            .wait_for_subject(email, RESET_SUBJECT, n, Duration::from_secs(10))
            .await;
        let token = mails[n - 1].token();
        remember_secret(&token);
        token
    }

    pub async fn confirm_reset(&self, token: &str, new_password: &str) -> (StatusCode, Value) {
        remember_secret(new_password);
        self.post(
            "/api/v1/auth/password-reset-confirm/",
            &json!({ "token": token, "new_password": new_password }),
        )
        .await
    }

    pub async fn change_password(
        &self,
        access: &str,
        current: &str,
        new: &str,
    ) -> (StatusCode, Value) {
        remember_secret(current);
        remember_secret(new);
        let resp = self
            .client
            .post(self.url("/api/v1/auth/change-password/"))
            .bearer_auth(access)
            .json(&json!({ "current_password": current, "new_password": new }))
            .send()
            .await
            .expect("request failed");
        read(resp).await
    }

    /// POSTs JSON with a bearer token.
    pub async fn post_bearer(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request failed");
        read(resp).await
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

    /// A second node beside this one: same settings, database, queue and
    /// SMTP server.
    pub async fn second_node(&self) -> TestApp {
        let settings = self.settings.clone();
        builder()
            .smtp(self.smtp.clone())
            .settings(move |s| *s = settings)
            .spawn()
            .await
    }

    /// Stops this instance and starts a new one on the same database, data
    /// directory and SMTP server, with a worker: a process restart.
    pub async fn restart(self) -> TestApp {
        self.restart_with(|_| {}).await
    }

    /// Like `restart`, with settings changed by `change`.
    pub async fn restart_with(self, change: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = self.settings.clone();
        change(&mut settings);
        let smtp = self.smtp.clone();
        let dir = self.dir.clone();
        self.stop().await;
        let mut next = builder()
            .smtp(smtp)
            .settings(move |s| *s = settings)
            .spawn()
            .await;
        next.dir = dir;
        next
    }

    /// Starts a graceful stop (SIGTERM) without waiting for it.
    pub fn begin_stop(&self) {
        self.shutdown.cancel();
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

pub async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
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

/// The (access, refresh) tokens of a completed login's answer, remembered
/// as secrets the logs must not show.
pub fn tokens_of(body: &Value) -> (String, String) {
    let access = body["data"]["token"].as_str().unwrap().to_owned();
    let refresh = body["data"]["refresh_token"].as_str().unwrap().to_owned();
    remember_secret(&access);
    remember_secret(&refresh);
    (access, refresh)
}

/// Runs the requests concurrently; their statuses, in order.
pub async fn parallel_statuses<T>(
    requests: impl IntoIterator<Item = impl std::future::Future<Output = (StatusCode, T)>>,
) -> Vec<StatusCode> {
    futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

/// How many of `statuses` are `status`.
pub fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}
