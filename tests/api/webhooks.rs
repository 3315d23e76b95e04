//! Signed webhooks: every wired event arrives signed as Standard Webhooks
//! says (checked with its Python library, `pip install standardwebhooks`),
//! queued with its change, retried on the schedule (on the test clock),
//! cut off at the timeout, failed at the end, and never lost with a killed
//! worker. The receiver is a real HTTP server of the test.

use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobs::webhooks::{Endpoint, EventType, Status, Subscription, WebhookSecret};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{
    EndpointExt, Request, Response, Route, Server, handler, http::StatusCode as PoemStatus,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, builder, eventually, remember_secret, unique_email};

/// A secret in the Standard Webhooks format (24 random bytes).
pub(crate) fn new_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 24] = rand::random();
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    );
    // The log check of the suite looks for it in every log line.
    remember_secret(&secret);
    secret
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) id: String,
    timestamp: String,
    signature: String,
    content_type: String,
    pub(crate) body: String,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// How the receiver answers its next request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answer {
    Status(u16),
    /// Never answers.
    Hang,
}

/// A webhook receiver on a free loopback port: records every request and
/// answers as told (200 when told nothing).
#[derive(Clone)]
pub(crate) struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<VecDeque<Answer>>>,
    stop: tokio_util::sync::CancellationToken,
}

#[handler]
async fn receive(req: &Request, body: String, state: poem::web::Data<&Receiver>) -> Response {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    state.got.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        body,
    });
    let answer = state.answers.lock().unwrap().pop_front();
    match answer.unwrap_or(Answer::Status(200)) {
        Answer::Status(code) => Response::builder()
            .status(PoemStatus::from_u16(code).unwrap())
            .body("receiver says hello"),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Response::builder().body("")
        }
    }
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        Self::start_on(0).await
    }

    /// On `port` (0: a free one).
    async fn start_on(port: u16) -> Self {
        let acceptor = TcpListener::bind(format!("127.0.0.1:{port}"))
            .into_acceptor()
            .await
            .unwrap();
        let port = acceptor.local_addr()[0]
            .as_socket_addr()
            .map(|a| a.port())
            .unwrap();
        let this = Self {
            port,
            got: Arc::default(),
            answers: Arc::default(),
            stop: tokio_util::sync::CancellationToken::new(),
        };
        let app = Route::new()
            .at("/hook", poem::post(receive))
            .data(this.clone());
        let stop = this.stop.clone();
        tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(app, stop.cancelled_owned(), Some(Duration::ZERO))
                .await;
        });
        this
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Stops listening: the receiver is down.
    async fn stop(&self) {
        self.stop.cancel();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    pub(crate) fn answer(&self, answers: &[Answer]) {
        self.answers.lock().unwrap().extend(answers.iter().copied());
    }

    pub(crate) fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived; returns them all.
    pub(crate) async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        self.wait_until(n, within, || self.got()).await
    }

    /// Waits until `pick` gives at least `n` requests; returns them.
    async fn wait_until(
        &self,
        n: usize,
        within: Duration,
        pick: impl Fn() -> Vec<Received>,
    ) -> Vec<Received> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let got = pick();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "{} of {n} webhooks arrived: {:#?}",
                got.len(),
                self.got()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The requests that carried `type`.
    pub(crate) fn of_type(&self, event: &str) -> Vec<Received> {
        self.got()
            .into_iter()
            .filter(|r| r.json()["type"] == event)
            .collect()
    }

    /// Waits until a request carrying `type` arrived; returns all of them.
    pub(crate) async fn wait_for_type(&self, event: &str, within: Duration) -> Vec<Received> {
        self.wait_until(1, within, || self.of_type(event)).await
    }
}

pub(crate) fn endpoint(url: &str, secrets: &[&str], events: Subscription) -> Endpoint {
    let secrets = secrets
        .iter()
        .map(|s| WebhookSecret::parse(s).unwrap())
        .collect();
    Endpoint::new(url, secrets, events).unwrap()
}

/// An app (with its worker) whose one endpoint is `receiver`, taking
/// `events`, signing with `secrets`; the sender looks every 50 ms.
pub(crate) async fn app_with(
    receiver: &Receiver,
    secrets: &[&str],
    events: Subscription,
) -> TestApp {
    let hook = endpoint(&receiver.url(), secrets, events);
    builder()
        .settings(move |s| {
            s.webhooks = vec![hook];
            s.webhook_tuning.poll_interval = Duration::from_millis(50);
            s.webhook_tuning.timeout = Duration::from_secs(2);
        })
        .spawn()
        .await
}

pub(crate) async fn rows(app: &TestApp) -> Vec<jobs::webhooks::Delivery> {
    jobs::webhooks::deliveries::all(&app.db).await.unwrap()
}

/// Waits until every delivery row of `app` is delivered.
pub(crate) async fn all_delivered(app: &TestApp, within: Duration) {
    eventually("every row delivered", within, || async {
        rows(app)
            .await
            .iter()
            .all(|r| r.status == Status::Delivered)
    })
    .await;
}

/// Exit status of the check script when the library is not installed.
const NO_LIBRARY: i32 = 3;

/// Verifies every request with the Standard Webhooks Python library (its
/// `Webhook.verify`, which also checks the timestamp is within 5 minutes of
/// now), against `secret`, run by `AUTH_TEST_PYTHON` (default `python3`).
/// Without the interpreter or the library the check is skipped and says so,
/// unless `AUTH_TEST_REQUIRE_PYTHON` is set (`.ci/run` sets it, after
/// installing `tests/requirements.txt`): then it fails. True when the
/// library checked them, false when the check was skipped.
pub(crate) fn verify_with_python(secret: &str, requests: &[Received]) -> bool {
    const SCRIPT: &str = r#"
import json, sys
try:
    from standardwebhooks.webhooks import Webhook
except ImportError as e:
    print("the Python package standardwebhooks is missing (pip install -r tests/requirements.txt): %s" % e)
    sys.exit(3)
given = json.load(sys.stdin)
wh = Webhook(given["secret"])
for r in given["requests"]:
    headers = {"webhook-id": r["id"], "webhook-timestamp": r["timestamp"], "webhook-signature": r["signature"]}
    wh.verify(r["body"], headers)
print("verified", len(given["requests"]))
"#;
    let input = json!({
        "secret": secret,
        "requests": requests.iter().map(|r| json!({
            "id": r.id, "timestamp": r.timestamp, "signature": r.signature, "body": r.body,
        })).collect::<Vec<_>>(),
    });
    let required = std::env::var_os("AUTH_TEST_REQUIRE_PYTHON").is_some();
    let python = std::env::var("AUTH_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let spawned = Command::new(&python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if !required => {
            eprintln!("skipped: signatures not checked with standardwebhooks ({python}: {e})");
            return false;
        }
        Err(e) => panic!("{python} is needed to check signatures with standardwebhooks: {e}"),
    };
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.to_string().as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(NO_LIBRARY) && !required {
        eprintln!("skipped: signatures not checked: {stdout}");
        return false;
    }
    assert!(
        out.status.success(),
        "standardwebhooks refused: {stdout}{stderr}"
    );
    assert_eq!(stdout.trim(), format!("verified {}", requests.len()));
    true
}

async fn patch_me(app: &TestApp, access: &str, body: &Value) -> StatusCode {
    let resp = app
        .client
        .patch(app.url("/api/v1/auth/me/"))
        .bearer_auth(access)
        .json(body)
        .send()
        .await
        .unwrap();
    resp.status()
}

async fn delete_me(app: &TestApp, access: &str, body: &Value) -> StatusCode {
    let resp = app
        .client
        .delete(app.url("/api/v1/auth/me/"))
        .bearer_auth(access)
        .json(body)
        .send()
        .await
        .unwrap();
    resp.status()
}

#[tokio::test]
async fn every_wired_event_arrives_signed_as_standard_webhooks_says() {
    let receiver = Receiver::start().await;
    let (old, new) = (new_secret(), new_secret());
    let app = app_with(&receiver, &[&old, &new], Subscription::All).await;
    let email = unique_email();

    app.verified_user(&email).await; // user.created, user.email_verified
    let (access, _) = app.tokens_for(&email, PASSWORD).await; // user.logged_in
    assert_eq!(
        patch_me(&app, &access, &json!({"first_name": "Grace"})).await,
        StatusCode::OK
    ); // user.updated
    let (status, body) = app
        .change_password(&access, PASSWORD, "New-Password-42")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}"); // user.password_changed
    receiver.wait_for(5, Duration::from_secs(10)).await;

    let user_id = app
        .user(&email.to_lowercase())
        .await
        .unwrap()
        .id
        .0
        .to_string();
    let expected = [
        "user.created",
        "user.email_verified",
        "user.logged_in",
        "user.updated",
        "user.password_changed",
    ];
    for event in expected {
        let got = receiver.of_type(event);
        assert_eq!(got.len(), 1, "{event}: {got:#?}");
        let r = &got[0];
        assert_eq!(r.content_type, "application/json");
        assert!(r.id.starts_with("msg_"), "{}", r.id);
        assert_eq!(r.signature.split(' ').count(), 2, "one per secret");
        let body = r.json();
        assert_eq!(body["data"]["user_id"], user_id.as_str(), "{body}");
        assert_eq!(body["data"]["user"]["id"], user_id.as_str(), "{body}");
        assert_eq!(body["data"]["user"]["email"], email.as_str(), "{body}");
        assert!(body["data"]["user"].get("password_hash").is_none());
        assert!(
            chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok(),
            "{body}"
        );
    }
    let verified = &receiver.of_type("user.email_verified")[0].json();
    assert_eq!(verified["data"]["user"]["is_email_verified"], true);
    assert_eq!(
        receiver.of_type("user.created")[0].json()["data"]["user"]["is_email_verified"],
        false
    );
    assert_eq!(
        receiver.of_type("user.updated")[0].json()["data"]["user"]["first_name"],
        "Grace"
    );
    let all = receiver.got();
    // Each secret alone verifies every request: the Python library takes
    // the first signature that matches.
    let checked = verify_with_python(&old, &all);
    verify_with_python(&new, &all);
    // A wrong secret is refused by it (the check can fail), when the
    // library is there to refuse it.
    if checked {
        let refused = std::panic::catch_unwind(|| verify_with_python(&new_secret(), &all[..1]));
        assert!(refused.is_err(), "a wrong secret must not verify");
    }

    // 2FA on and off, a reset, then the deletion.
    let user = app.mfa_user().await; // a second user: user.created ... user.mfa_enabled
    let code = app.code_now(&user.secret);
    let (status, body) = app
        .post_bearer(
            "/api/v1/2fa/disable",
            &user.access,
            &json!({ "password": PASSWORD, "totp_code": code }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Let every delivery so far finish before the test clock jumps again:
    // a jump past an attempt's lease (timeout + 30 s) while it is in
    // flight lets the sender claim it again and send it twice, as at-least-
    // once allows, and this test counts each event exactly once.
    all_delivered(&app, Duration::from_secs(10)).await;
    app.next_step();
    let (status, _) = app.request_reset(&email).await;
    assert_eq!(status, StatusCode::OK);
    let token = app.reset_token(&email, 1).await;
    let (status, body) = app.confirm_reset(&token, "Reset-Password-77").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (access, _) = app.tokens_for(&email, "Reset-Password-77").await;
    assert_eq!(
        delete_me(&app, &access, &json!({"password": "Reset-Password-77"})).await,
        StatusCode::OK
    );
    // user 2: created, email_verified, logged_in, mfa_enabled, mfa_disabled;
    // user 1: password_changed (reset), logged_in, deleted.
    let all = receiver.wait_for(5 + 5 + 3, Duration::from_secs(10)).await;
    let mfa_user_id = app
        .user(&user.email.to_lowercase())
        .await
        .unwrap()
        .id
        .0
        .to_string();
    for (event, user_id, mfa) in [
        ("user.mfa_enabled", &mfa_user_id, true),
        ("user.mfa_disabled", &mfa_user_id, false),
    ] {
        let got = receiver.of_type(event);
        assert_eq!(got.len(), 1, "{event}");
        let body = got[0].json();
        assert_eq!(body["data"]["user_id"], user_id.as_str());
        assert_eq!(body["data"]["user"]["mfa_enabled"], mfa, "{body}");
    }
    assert_eq!(receiver.of_type("user.password_changed").len(), 2);
    let deleted = receiver.of_type("user.deleted");
    assert_eq!(deleted.len(), 1);
    let body = deleted[0].json();
    assert_eq!(
        body["data"],
        json!({ "user_id": user_id }),
        "no user object"
    );
    verify_with_python(&old, &all);
    // Every row delivered, once.
    eventually(
        "every row marked delivered",
        Duration::from_secs(5),
        || async {
            rows(&app)
                .await
                .iter()
                .all(|r| r.status == Status::Delivered && r.attempts == 1)
        },
    )
    .await;
    assert_eq!(rows(&app).await.len(), all.len());
}

#[tokio::test]
async fn only_subscribed_types_are_queued_and_a_change_that_rolls_back_sends_nothing() {
    let receiver = Receiver::start().await;
    let secret = new_secret();
    let only = Subscription::parse(["user.deleted"]).unwrap();
    let app = app_with(&receiver, &[&secret], only).await;
    app.verified_user(&unique_email()).await;
    let (_access, _) = app.logged_in().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        rows(&app).await.is_empty(),
        "no row for an unsubscribed type"
    );
    assert!(receiver.got().is_empty());

    // A row queued in a transaction that rolls back is gone with it.
    use sea_orm::TransactionTrait;
    let hooks = jobs::Webhooks::new(vec![endpoint(
        &receiver.url(),
        &[&secret],
        Subscription::All,
    )]);
    let txn = app.db.begin().await.unwrap();
    let user_id = uuid::Uuid::new_v4();
    let none: Option<&Value> = None;
    let queued = jobs::webhooks::queue(&txn, &hooks, EventType::UserDeleted, user_id, none, 0)
        .await
        .unwrap();
    assert!(queued);
    txn.rollback().await.unwrap();
    assert!(rows(&app).await.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.got().is_empty());
}

#[tokio::test]
async fn a_refused_event_is_retried_with_the_same_id_and_delivered_once() {
    let receiver = Receiver::start().await;
    receiver.answer(&[Answer::Status(500), Answer::Status(302)]);
    let secret = new_secret();
    let only = Subscription::parse(["user.created"]).unwrap();
    let app = app_with(&receiver, &[&secret], only).await;
    assert_eq!(app.register(&unique_email()).await.0, StatusCode::CREATED);
    receiver.wait_for(1, Duration::from_secs(5)).await;
    eventually(
        "the first attempt recorded",
        Duration::from_secs(5),
        || async { rows(&app).await[0].last_response_status == Some(500) },
    )
    .await;
    let row = &rows(&app).await[0];
    assert_eq!((row.status, row.attempts), (Status::Pending, 1));
    let wait = row.next_attempt_at - jobs::Clock::now_ms(app.clock.as_ref());
    assert!((4_000..=5_600).contains(&wait), "about 5 s: {wait} ms");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.got().len(), 1, "not before its time");

    app.clock.advance_ms(6_000); // a redirect is not followed: refused too
    receiver.wait_for(2, Duration::from_secs(5)).await;
    eventually(
        "the second attempt recorded",
        Duration::from_secs(5),
        || async { rows(&app).await[0].attempts == 2 && rows(&app).await[0].lease_until.is_none() },
    )
    .await;
    let wait = rows(&app).await[0].next_attempt_at - jobs::Clock::now_ms(app.clock.as_ref());
    assert!(
        (290_000..=330_000).contains(&wait),
        "about 5 min: {wait} ms"
    );
    app.clock.advance_ms(331_000);
    let got = receiver.wait_for(3, Duration::from_secs(5)).await;
    eventually("delivered", Duration::from_secs(5), || async {
        rows(&app).await[0].status == Status::Delivered
    })
    .await;
    let row = &rows(&app).await[0];
    assert_eq!((row.attempts, row.last_response_status), (3, Some(200)));
    assert!(got.iter().all(|r| r.id == got[0].id), "one webhook-id");
    assert!(got.iter().all(|r| r.body == got[0].body), "one body");
    assert!(got[2].timestamp.parse::<i64>().unwrap() > got[0].timestamp.parse::<i64>().unwrap());
    app.clock.advance_ms(36_000_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.got().len(), 3, "delivered once, never again");
}

#[tokio::test]
async fn a_hanging_receiver_is_cut_off_and_does_not_hold_up_another_endpoint() {
    let slow = Receiver::start().await;
    slow.answer(&[Answer::Hang]);
    let fast = Receiver::start().await;
    let secret = new_secret();
    let only = || Subscription::parse(["user.created"]).unwrap();
    let hooks = vec![
        endpoint(&slow.url(), &[&secret], only()),
        endpoint(&fast.url(), &[&secret], only()),
    ];
    let app = builder()
        .settings(move |s| {
            s.webhooks = hooks;
            s.webhook_tuning.poll_interval = Duration::from_millis(50);
            s.webhook_tuning.timeout = Duration::from_secs(2);
        })
        .spawn()
        .await;
    assert_eq!(app.register(&unique_email()).await.0, StatusCode::CREATED);
    slow.wait_for(1, Duration::from_secs(5)).await;
    let started = std::time::Instant::now();
    fast.wait_for(1, Duration::from_millis(1500)).await;
    assert!(started.elapsed() < Duration::from_millis(1500));
    let slow_row = || async {
        rows(&app)
            .await
            .into_iter()
            .find(|r| r.endpoint == jobs::webhooks::Endpoint::key(&app.settings.webhooks[0]))
            .unwrap()
    };
    eventually(
        "the hanging attempt cut off",
        Duration::from_secs(5),
        || async {
            let r = slow_row().await;
            r.attempts == 1 && r.lease_until.is_none()
        },
    )
    .await;
    let r = slow_row().await;
    assert_eq!((r.status, r.last_response_status), (Status::Pending, None));
    app.clock.advance_ms(6_000);
    slow.wait_for(2, Duration::from_secs(5)).await;
    eventually("delivered on the retry", Duration::from_secs(5), || async {
        slow_row().await.status == Status::Delivered
    })
    .await;
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_the_event_once_it_is_back() {
    let receiver = Receiver::start().await;
    let secret = new_secret();
    let only = Subscription::parse(["user.created"]).unwrap();
    let app = app_with(&receiver, &[&secret], only).await;
    receiver.stop().await;
    assert_eq!(app.register(&unique_email()).await.0, StatusCode::CREATED);
    eventually(
        "the refused connection recorded",
        Duration::from_secs(5),
        || async {
            rows(&app)
                .await
                .first()
                .is_some_and(|r| r.attempts == 1 && r.lease_until.is_none())
        },
    )
    .await;
    let row = &rows(&app).await[0];
    assert_eq!(
        (row.status, row.last_response_status),
        (Status::Pending, None)
    );
    let back = Receiver::start_on(receiver.port).await;
    app.clock.advance_ms(6_000);
    let got = back.wait_for(1, Duration::from_secs(5)).await;
    eventually("delivered", Duration::from_secs(5), || async {
        rows(&app).await[0].status == Status::Delivered
    })
    .await;
    assert_eq!(got[0].id, row.webhook_id);
}

pub(crate) async fn failed_total(app: &TestApp) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("authd_webhook_deliveries_total{outcome=\"failed\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// How far the test clock is moved after each attempt of the schedule:
/// past the longest delay (10 h and its spread).
pub(crate) const PAST_A_DELAY_MS: i64 = 11 * 3600 * 1000;

/// Lets the app's one delivery row (queued, with `receiver` refusing it)
/// run through its whole schedule on the test clock, moved forward
/// `PAST_A_DELAY_MS` after each of the 8 attempts; returns once it is
/// failed.
pub(crate) async fn through_the_schedule(app: &TestApp, receiver: &Receiver) {
    let before = receiver.got().len();
    for attempt in 1..=8 {
        receiver
            .wait_for(before + attempt, Duration::from_secs(5))
            .await;
        eventually("the attempt recorded", Duration::from_secs(5), || async {
            let r = &rows(app).await[0];
            r.attempts == attempt as i32 && r.lease_until.is_none()
        })
        .await;
        app.clock.advance_ms(PAST_A_DELAY_MS);
    }
    eventually("failed", Duration::from_secs(5), || async {
        rows(app).await[0].status == Status::Failed
    })
    .await;
}

#[tokio::test]
async fn after_the_whole_schedule_a_refused_event_is_failed_and_counted() {
    let receiver = Receiver::start().await;
    receiver.answer(&[Answer::Status(503); 20]);
    let secret = new_secret();
    let only = Subscription::parse(["user.created"]).unwrap();
    let app = app_with(&receiver, &[&secret], only).await;
    let failed_before = failed_total(&app).await;
    assert_eq!(app.register(&unique_email()).await.0, StatusCode::CREATED);
    through_the_schedule(&app, &receiver).await;
    let row = &rows(&app).await[0];
    assert_eq!((row.attempts, row.last_response_status), (8, Some(503)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.got().len(), 8, "no attempt after the last");
    assert!(failed_total(&app).await >= failed_before + 1.0);
}

/// `authd worker` as a process, with the test's database and queue and
/// this webhook endpoint (from the environment).
fn worker_process(settings: &authd::config::Settings, url: &str, secret: &str) -> Child {
    use base64::Engine;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authd"));
    cmd.arg("worker")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AUTH_DATABASE_URL", &settings.database_url)
        .env("AUTH_DATA_DIR", &settings.data_dir)
        .env("AUTH_SMTP_URL", "smtp://127.0.0.1:9")
        .env("AUTH_LOG", "warn")
        .env("AUTH_QUEUE_NAME", &settings.queue_name)
        .env("AUTH_WEBHOOK_URL", url)
        .env("AUTH_WEBHOOK_SECRET", secret)
        .env("AUTH_WEBHOOK_EVENTS", "user.created, user.email_verified")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(redis) = &settings.redis_url {
        cmd.env("AUTH_REDIS_URL", redis.as_str());
    }
    if let Some(key) = &settings.encryption_key {
        let key = base64::engine::general_purpose::STANDARD.encode(&key.0);
        cmd.env("AUTH_ENCRYPTION_KEY", key);
    }
    cmd.spawn().expect("cannot start `authd worker`")
}

#[tokio::test]
async fn an_event_held_by_a_killed_worker_is_delivered_by_the_next_worker() {
    let receiver = Receiver::start().await;
    receiver.answer(&[Answer::Hang]);
    let secret = new_secret();
    let hook = endpoint(
        &receiver.url(),
        &[&secret],
        Subscription::parse(["user.created"]).unwrap(),
    );
    let app = builder()
        .without_worker()
        .settings(move |s| s.webhooks = vec![hook])
        .spawn()
        .await;
    assert_eq!(app.register(&unique_email()).await.0, StatusCode::CREATED);
    let mut dead = worker_process(&app.settings, &receiver.url(), &secret);
    receiver.wait_for(1, Duration::from_secs(30)).await;
    let row = &rows(&app).await[0];
    assert_eq!((row.status, row.attempts), (Status::Pending, 1));
    assert!(row.lease_until.is_some(), "held by the worker");
    dead.kill().expect("kill -9");
    let _ = dead.wait();

    // The next worker, with the clock past the dead one's lease.
    let mut settings = app.settings.clone();
    settings.webhook_tuning.poll_interval = Duration::from_millis(50);
    let clock = Arc::new(jobs::OffsetClock::default());
    clock.advance_ms(10 * 60 * 1000);
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn({
        let stop = stop.clone();
        async move {
            authd::startup::run_worker_with_clock(settings, clock, stop.cancelled_owned()).await
        }
    });
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got[0].id, got[1].id, "the same event");
    eventually("delivered", Duration::from_secs(5), || async {
        rows(&app).await[0].status == Status::Delivered
    })
    .await;
    assert_eq!(rows(&app).await[0].attempts, 2);
    // The dead worker's attempt was signed on the real clock (the library
    // refuses a timestamp 5 minutes off now; the next worker's is 10 ahead).
    verify_with_python(&secret, &got[..1]);
    stop.cancel();
    worker.await.unwrap().unwrap();
}

#[test]
fn bad_webhook_settings_stop_startup_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let secret = new_secret();
    let run = |envs: &[(&str, &str)]| {
        let mut cmd = crate::binary::authd(dir.path());
        cmd.args(["config", "check"]).env_remove("AUTH_WEBHOOK_URL");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let short = "whsec_c2hvcnQtc2VjcmV0";
    for (envs, words) in [
        (
            vec![
                ("AUTH_WEBHOOK_URL", "http://hooks.example.com/h"),
                ("AUTH_WEBHOOK_SECRET", secret.as_str()),
            ],
            vec!["AUTH_WEBHOOK_URL", "https"],
        ),
        (
            vec![
                ("AUTH_WEBHOOK_URL", "https://hooks.example.com/h"),
                ("AUTH_WEBHOOK_SECRET", short),
            ],
            vec!["AUTH_WEBHOOK_SECRET", "24 bytes"],
        ),
        (
            vec![
                ("AUTH_WEBHOOK_URL", "https://hooks.example.com/h"),
                ("AUTH_WEBHOOK_SECRET", "hunter2"),
            ],
            vec!["AUTH_WEBHOOK_SECRET", "whsec_"],
        ),
        (
            vec![
                ("AUTH_WEBHOOK_URL", "https://hooks.example.com/h"),
                ("AUTH_WEBHOOK_SECRET", secret.as_str()),
                ("AUTH_WEBHOOK_EVENTS", "user.created,user.exploded"),
            ],
            vec!["AUTH_WEBHOOK_EVENTS", "user.exploded"],
        ),
    ] {
        let (code, stdout, stderr) = run(&envs);
        assert_eq!(code, Some(2), "{envs:?}: {stdout}{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        for word in words {
            assert!(stderr.contains(word), "{word} not in {stderr}");
        }
        assert!(
            !stderr.contains(&secret) && !stderr.contains(short) && !stderr.contains("hunter2")
        );
    }

    // `[[webhooks]]` tables in the file: checked, listed without secrets.
    let file = dir.path().join("hooks.toml");
    let table = |url: &str, secret: &str| {
        format!(
            "[[webhooks]]\nurl = \"{url}\"\nsecret = [\"{secret}\", \"{secret}\"]\nevents = [\"user.created\"]\n"
        )
    };
    std::fs::write(&file, table("http://10.0.0.8/h", &secret)).unwrap();
    let (code, _, stderr) = run(&[("AUTH_CONFIG", file.to_str().unwrap())]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("[[webhooks]] #1") && stderr.contains("loopback"),
        "{stderr}"
    );
    std::fs::write(&file, table("https://hooks.example.com/h", &secret)).unwrap();
    let (code, stdout, stderr) = run(&[
        ("AUTH_CONFIG", file.to_str().unwrap()),
        ("AUTH_WEBHOOK_URL", "http://localhost:9000/h"),
        ("AUTH_WEBHOOK_SECRET", secret.as_str()),
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        !stdout.contains(&secret) && !stderr.contains(&secret),
        "{stdout}"
    );
    for line in [
        "webhook_secret = <redacted>",
        "webhook_url = \"http://localhost:9000/h\"",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line} not in {stdout}");
    }
    assert!(stdout.contains("hooks.example.com"), "{stdout}");
}

/// The address moved (and moved back), and the account disabled and
/// enabled by an admin: `user.email_changed`, `user.disabled` and
/// `user.enabled`, each with the user as it is after the change.
#[tokio::test]
async fn an_address_change_and_an_admins_disable_and_enable_are_sent() {
    let receiver = Receiver::start().await;
    let secret = new_secret();
    let app = app_with(&receiver, &[&secret], Subscription::All).await;
    let email = unique_email();
    app.verified_user(&email).await;
    let (access, _) = app.tokens_for(&email, PASSWORD).await;

    let moved = unique_email();
    let (status, body) = app
        .post_bearer(
            "/api/v1/auth/change-email/",
            &access,
            &json!({ "password": PASSWORD, "new_email": moved }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mails = app
        .smtp
        .wait_for_subject(
            &moved,
            "Confirm your new email address",
            1,
            Duration::from_secs(10),
        )
        .await;
    let mail = mails[0].token();
    crate::helpers::remember_secret(&mail);
    let (status, body) = app
        .post(
            "/api/v1/auth/confirm-email-change/",
            &json!({ "token": mail }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let key = authd::admin_keys::create_key(&app.settings, "hooks", false)
        .await
        .expect("create-key");
    crate::helpers::remember_secret(&key);
    let id = app
        .user(&moved.to_lowercase())
        .await
        .unwrap()
        .id
        .0
        .to_string();
    for disabled in [true, false] {
        let resp = app
            .client
            .patch(app.url(&format!("/api/v1/admin/users/{id}/")))
            .bearer_auth(&key)
            .json(&json!({ "disabled": disabled }))
            .send()
            .await
            .unwrap();
        let (status, body) = crate::helpers::read(resp).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    for (event, wanted) in [
        ("user.email_changed", moved.as_str()),
        ("user.disabled", moved.as_str()),
        ("user.enabled", moved.as_str()),
    ] {
        let mut got = receiver.of_type(event);
        for _ in 0..100 {
            if !got.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            got = receiver.of_type(event);
        }
        assert_eq!(got.len(), 1, "{event}: {got:#?}");
        let body = got[0].json();
        assert_eq!(body["data"]["user_id"], id.as_str(), "{body}");
        assert_eq!(body["data"]["user"]["email"], wanted, "{body}");
        verify_with_python(&secret, &got);
    }
}
