//! PostgreSQL stopped for 10 s under a mixed load of register, login,
//! refresh and verify-token: 503 envelopes promptly while it is down
//! (readyz too), every endpoint working within 5 s of its return, no
//! registration half written and no lockout count lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, assert_error, builder, postgres_url, registration, remember_secret,
    tokens_of, unique_email,
};
use crate::private_postgres::PrivatePostgres;
use crate::smtp;

const DOWN_FOR: Duration = Duration::from_secs(10);
/// Every answer, 503 included, comes within this (the pool's acquire
/// timeout is 3 s).
const PROMPT: Duration = Duration::from_secs(6);
/// Within this of the server's return every endpoint works again.
const RECOVERY: Duration = Duration::from_secs(5);
const WRONG_PASSWORD: &str = "Not-The-Password-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Register,
    Login,
    Refresh,
    Verify,
    WrongLogin,
    Ready,
}

impl Op {
    /// What the operation answers while the database is up.
    fn expected(self) -> StatusCode {
        match self {
            Op::Register => StatusCode::CREATED,
            Op::WrongLogin => StatusCode::UNAUTHORIZED,
            Op::Login | Op::Refresh | Op::Verify | Op::Ready => StatusCode::OK,
        }
    }
}

/// One request the load made.
struct Sent {
    op: Op,
    at: Instant,
    took: Duration,
    status: StatusCode,
    body: Value,
    email: Option<String>,
}

/// One stream of requests of one kind, one at a time.
struct Driver<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    op: Op,
    /// The account (login, wrong login) or token (refresh, verify) it uses.
    credential: String,
}

impl Driver<'_> {
    async fn run(mut self, stop: &AtomicBool) -> Vec<Sent> {
        let mut sent = Vec::new();
        let pause = if self.op == Op::Ready { 200 } else { 20 };
        while !stop.load(Ordering::Relaxed) {
            sent.push(self.once().await);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        sent
    }

    async fn once(&mut self) -> Sent {
        let url = |p: &str| self.app.url(p);
        let mut email = None;
        let req = match self.op {
            Op::Register => {
                let e = unique_email();
                email = Some(e.clone());
                self.client
                    .post(url("/api/v1/auth/register/"))
                    .json(&registration(&e))
            }
            Op::Login | Op::WrongLogin => {
                let password = if self.op == Op::Login {
                    PASSWORD
                } else {
                    WRONG_PASSWORD
                };
                self.client
                    .post(url("/api/v1/auth/login/"))
                    .json(&json!({ "email": self.credential, "password": password }))
            }
            Op::Refresh => self
                .client
                .post(url("/api/v1/auth/token/refresh/"))
                .json(&json!({ "refresh_token": self.credential })),
            Op::Verify => self
                .client
                .get(url("/api/v1/auth/verify-token/"))
                .bearer_auth(&self.credential),
            Op::Ready => self.client.get(url("/readyz")),
        };
        let at = Instant::now();
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{:?} got no answer (a hang?): {e}", self.op));
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let took = at.elapsed();
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{:?}: not JSON ({status}): {text}", self.op));
        if self.op == Op::Refresh && status == StatusCode::OK {
            let (_, refresh) = tokens_of(&body);
            self.credential = refresh;
        }
        Sent {
            op: self.op,
            at,
            took,
            status,
            body,
            email,
        }
    }
}

/// When the server went down and came back.
struct Timeline {
    stopped: Instant,
    resuming: Instant,
    back: Instant,
}

async fn blocking(f: impl FnOnce() -> Result<(), String> + Send + 'static) {
    tokio::task::spawn_blocking(f)
        .await
        .expect("join")
        .expect("pg_ctl");
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_gives_prompt_503s_then_recovers_and_loses_nothing() {
    if postgres_url().is_none() {
        eprintln!(
            "skipped: the database restart test belongs to the PostgreSQL suite (set AUTH_TEST_DATABASE_URL)"
        );
        return;
    }
    let port = smtp::free_port();
    let pg = match tokio::task::spawn_blocking(move || PrivatePostgres::start(port))
        .await
        .expect("join")
    {
        Ok(pg) => std::sync::Arc::new(pg),
        Err(why) => {
            eprintln!("skipped: cannot start a private PostgreSQL: {why}");
            return;
        }
    };
    let url = pg.url();
    let app = builder()
        .settings(move |s| {
            s.database_url = url;
            s.lockout_threshold = 1_000_000;
            s.rate_limit_per_minute = 1_000_000;
            s.refresh_rate_per_minute = 1_000_000;
        })
        .spawn()
        .await;

    // Accounts for the load: a few logged in, and one that only ever gets
    // wrong passwords.
    let mut logged_in = Vec::new();
    for _ in 0..3 {
        logged_in.push(app.logged_in_user().await);
    }
    let victim = unique_email();
    app.verified_user(&victim).await;
    remember_secret(WRONG_PASSWORD);

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let driver = |op, credential: &str| Driver {
        app: &app,
        client: client.clone(),
        op,
        credential: credential.to_owned(),
    };
    let drivers = vec![
        driver(Op::Register, ""),
        driver(Op::Register, ""),
        driver(Op::Login, &logged_in[0].0),
        driver(Op::Refresh, &logged_in[1].2),
        driver(Op::Verify, &logged_in[2].1),
        driver(Op::WrongLogin, &victim),
        driver(Op::Ready, ""),
    ];

    let stop = AtomicBool::new(false);
    let control = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let p = pg.clone();
        blocking(move || p.stop()).await;
        let stopped = Instant::now();
        tokio::time::sleep(DOWN_FOR).await;
        let resuming = Instant::now();
        let p = pg.clone();
        blocking(move || p.resume()).await;
        let back = Instant::now();
        tokio::time::sleep(RECOVERY + Duration::from_secs(3)).await;
        stop.store(true, Ordering::Relaxed);
        Timeline {
            stopped,
            resuming,
            back,
        }
    };
    let (timeline, sent) = tokio::join!(
        control,
        futures::future::join_all(drivers.into_iter().map(|d| d.run(&stop)))
    );
    let sent: Vec<Sent> = sent.into_iter().flatten().collect();
    summarise(&sent);

    check_answers(&sent, &timeline);
    check_nothing_lost(&app, &sent, &victim).await;
}

/// Answers by operation and status, and the slowest, for the log.
fn summarise(sent: &[Sent]) {
    let mut counts = std::collections::BTreeMap::new();
    for s in sent {
        *counts
            .entry((format!("{:?}", s.op), s.status.as_u16()))
            .or_insert(0) += 1;
    }
    let slowest = sent.iter().map(|s| s.took).max().unwrap_or_default();
    eprintln!("answers: {counts:?}; slowest {slowest:?}");
}

/// 503 envelopes promptly while down, every endpoint back within 5 s.
fn check_answers(sent: &[Sent], t: &Timeline) {
    let ops = [
        Op::Register,
        Op::Login,
        Op::Refresh,
        Op::Verify,
        Op::WrongLogin,
        Op::Ready,
    ];
    for s in sent {
        assert!(
            s.status == s.op.expected() || s.status == StatusCode::SERVICE_UNAVAILABLE,
            "{:?} answered {} {}",
            s.op,
            s.status,
            s.body
        );
        if s.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_error(&s.body, 503, "Service unavailable");
        }
        assert!(s.took < PROMPT, "{:?} took {:?}", s.op, s.took);
    }
    // While it is down, every operation says so: from a second after the
    // stop (the caches keep a "live" for half a second) until the pool's
    // acquire timeout (3 s, half a second of slack) before the restart (a
    // request waiting for a connection then gets one).
    let down = t.stopped + Duration::from_secs(1)..t.resuming - Duration::from_millis(3_500);
    let recovered = t.back + RECOVERY;
    for op in ops {
        let during: Vec<_> = sent
            .iter()
            .filter(|s| s.op == op && down.contains(&s.at))
            .collect();
        assert!(!during.is_empty(), "no {op:?} while the database was down");
        for s in &during {
            assert_eq!(
                s.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{op:?} while down: {}",
                s.body
            );
        }
        let after: Vec<_> = sent
            .iter()
            .filter(|s| s.op == op && s.at >= recovered)
            .collect();
        assert!(!after.is_empty(), "no {op:?} after the recovery window");
        for s in &after {
            assert_eq!(
                s.status,
                op.expected(),
                "{op:?} {:?} after the database came back: {}",
                s.at - t.back,
                s.body
            );
        }
    }
}

/// Every user has its verification mail and every mail its user; every
/// 201 is a user; the victim's failure count is exactly its 401s.
async fn check_nothing_lost(app: &TestApp, sent: &[Sent], victim: &str) {
    let users_without_mail = scalar(
        &app.db,
        "SELECT COUNT(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM email_outbox o \
         WHERE o.user_id = u.id AND o.kind = 'verify_email')",
    )
    .await;
    assert_eq!(users_without_mail, 0, "a user without its mail");
    let mails_without_user = scalar(
        &app.db,
        "SELECT COUNT(*) FROM email_outbox o WHERE o.user_id IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM users u WHERE u.id = o.user_id)",
    )
    .await;
    assert_eq!(mails_without_user, 0, "a mail without its user");
    let created: Vec<_> = sent
        .iter()
        .filter(|s| s.op == Op::Register && s.status == StatusCode::CREATED)
        .filter_map(|s| s.email.as_deref())
        .collect();
    assert!(!created.is_empty());
    for email in created {
        assert!(app.user(email).await.is_some(), "201 but no user {email}");
    }
    let wrong = sent
        .iter()
        .filter(|s| s.op == Op::WrongLogin && s.status == StatusCode::UNAUTHORIZED)
        .count();
    let unavailable = sent
        .iter()
        .filter(|s| s.op == Op::WrongLogin && s.status == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(unavailable > 0 && wrong > 0);
    let user = app.user(victim).await.expect("the victim");
    assert_eq!(
        usize::try_from(user.failed_attempts).unwrap(),
        wrong,
        "failures counted vs 401s answered ({unavailable} 503s)"
    );
}
