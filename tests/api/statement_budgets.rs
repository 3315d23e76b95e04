//! Statement budgets of the hot operations: each test counts the database
//! statements one operation issues and fails when a change adds one.
//!
//! How they are counted: the node under test is built with a
//! [`StatementLog`] (`Hooks::statements`), which `store::connect` installs
//! on its pool: sea-orm's metric callback notes the SQL of every statement
//! (those inside a `DatabaseTransaction` too), and on SQLite the
//! connection's commit and rollback hooks (installed in sqlx's
//! `after_connect`) note every transaction that committed a write
//! ([`StatementLog::COMMIT`]) or rolled back. `BEGIN` and a `COMMIT` on
//! PostgreSQL are not seen: sea-orm runs them through sqlx's transaction
//! manager, around its metric callback, and sqlx has no per-statement hook
//! on a PostgreSQL connection. So a budget counts statements, plus on
//! SQLite one entry per write transaction (an autocommit write is one).
//! Entries are noted as they finish: an autocommit write's commit (noted
//! by SQLite as it commits) comes just before the statement itself.
//!
//! What is not counted: the node under test runs no worker, so no outbox
//! relay, janitor or email worker shares its pool (the metrics upkeep and
//! Redis watch issue no SQL). Users are registered and verified on a
//! second node with a worker (its own pool, not noted), on the same
//! database; the test's own queries use `TestApp::db` (not noted either).
//! Each repetition prepares what it needs (a login, a fresh user ...),
//! then the log is emptied, the one request is made, and what the log
//! holds when the answer has arrived is the count: every statement of the
//! operations below is issued before the answer (none spawns work that
//! writes later).
//!
//! Steady state: each operation runs once to warm up (the user's gate
//! actor, keys, prepared statements), then three times; the three counts
//! must be equal and within the budget. The TokenRegistry keeps a user
//! and a session's "not revoked" for 0.5 s of wall time: refresh, logout
//! and verify-token use a fresh user and session per repetition, so they
//! are measured with those caches cold (what a client that refreshes or
//! verifies once in a while costs); a repeat within 0.5 s costs the two
//! SELECTs less (checked for verify-token when the repeat came in time).

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use actors::hooks::StatementLog;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, builder, postgres_url, remember_secret, unique_email};

/// Most statements an operation may issue, per backend.
struct Budget {
    sqlite: usize,
    postgres: usize,
}

impl Budget {
    fn here(&self) -> (usize, &'static str) {
        if postgres_url().is_some() {
            (self.postgres, "PostgreSQL")
        } else {
            (self.sqlite, "SQLite")
        }
    }
}

/// A node with a worker (setup: registration mail, 2FA) and a node without
/// one on the same database whose every statement is noted.
struct Nodes {
    setup: TestApp,
    counted: TestApp,
    log: Arc<StatementLog>,
}

async fn nodes() -> Nodes {
    let setup = builder().spawn().await;
    let log = Arc::new(StatementLog::default());
    let settings = setup.settings.clone();
    let counted = builder()
        .smtp(setup.smtp.clone())
        .settings(move |s| *s = settings)
        .without_worker()
        .statements(log.clone())
        .spawn()
        .await;
    Nodes {
        setup,
        counted,
        log,
    }
}

impl Nodes {
    /// A verified user (registered on the setup node), logged in on the
    /// counted node: (email, access token, refresh token).
    async fn fresh_login(&self) -> (String, String, String) {
        let email = unique_email();
        self.setup.verified_user(&email).await;
        let (access, refresh) = self.counted.tokens_for(&email, PASSWORD).await;
        (email, access, refresh)
    }

    /// A password login on the counted node presenting `device` (the
    /// `device_token` of the account's last completed login), which must
    /// succeed: its answer's data.
    async fn login_on(&self, email: &str, device: Option<String>) -> Value {
        let mut body = json!({ "email": email, "password": PASSWORD });
        if let Some(device) = device {
            body["device_token"] = json!(device);
        }
        let (status, body) = self.counted.post("/api/v1/auth/login/", &body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].clone()
    }

    /// Runs `op` once to warm up and three times measured; each time
    /// `prepare` runs first, not counted. Asserts the three counts are
    /// equal and within `budget`, printing the statements counted.
    async fn assert_budget<P, PF, O, OF, T>(
        &self,
        operation: &str,
        budget: &Budget,
        mut prepare: P,
        mut op: O,
    ) -> Vec<String>
    where
        P: FnMut() -> PF,
        PF: Future<Output = T>,
        O: FnMut(T) -> OF,
        OF: Future<Output = ()>,
    {
        let mut runs = Vec::new();
        for _ in 0..4 {
            let input = prepare().await;
            self.log.take();
            op(input).await;
            runs.push(self.log.take());
        }
        let runs = &runs[1..];
        let shown = show(runs);
        let (allowed, backend) = budget.here();
        assert!(
            runs.iter().all(|r| r.len() == runs[0].len()),
            "{operation}: the count differs between repetitions on {backend}:\n{shown}"
        );
        assert!(
            runs[0].len() <= allowed,
            "{operation}: {} statements on {backend}, the budget is {allowed}; \
             a new statement is among these:\n{shown}",
            runs[0].len()
        );
        // A budget is kept exact, so that a statement saved is not spent
        // again unnoticed: one that is no longer needed lowers the budget.
        assert!(
            runs[0].len() == allowed,
            "{operation}: {} statements on {backend}, under its budget of {allowed}: \
             lower the budget (and its list) to what is issued now:\n{shown}",
            runs[0].len()
        );
        println!(
            "{operation} on {backend}: {} statements\n{shown}",
            runs[0].len()
        );
        runs[0].clone()
    }
}

/// The statements of each repetition, one a line, shortened by [`digest`].
fn show(runs: &[Vec<String>]) -> String {
    let mut out = String::new();
    for (i, run) in runs.iter().enumerate() {
        out.push_str(&format!(
            "repetition {} ({} statements):\n",
            i + 1,
            run.len()
        ));
        for sql in run {
            out.push_str(&format!("  {}\n", digest(sql)));
        }
    }
    out
}

/// A statement on one line, its column lists left out (`SELECT … FROM`,
/// `INSERT INTO "t" (…)`, `RETURNING …`) so its table and `WHERE` show,
/// cut at 220 characters.
fn digest(sql: &str) -> String {
    let mut line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.starts_with("SELECT ")
        && let Some(from) = line.find(" FROM ")
    {
        line = format!("SELECT …{}", &line[from..]);
    }
    if line.starts_with("INSERT INTO ")
        && let (Some(open), Some(values)) = (line.find(" ("), line.find(") VALUES"))
        && open < values
    {
        line = format!("{} (…) VALUES …", &line[..open]);
    }
    if !line.starts_with("WITH ")
        && let Some(returning) = line.find(" RETURNING ")
    {
        line = format!("{} RETURNING …", &line[..returning]);
    }
    let cut: String = line.chars().take(220).collect();
    if cut.len() < line.len() {
        format!("{cut} …")
    } else {
        cut
    }
}

/// Password login of a user without 2FA, from a device it knows (the
/// `device_token` of its last login: each login renews it).
///
/// Budget: 10 statements; SQLite 12 (with 2 write commits).
///  1. SELECT users by `email_normalized`: whose gate the attempt goes to.
///  2. SELECT devices by `token_hash` and user: the `device_token` is a
///     known device, so the attempt spends that device's budget.
///  3. SELECT devices by id and user, 4. SELECT users by id: the gate reads
///     the lock state it claims a failure on (the device's) and the user,
///     fresh from the database (other nodes count too); the same rows as
///     1 and 2.
///  5. UPDATE devices (compare-and-swap): one failure claimed before the
///     password is checked, committed on its own (SQLite: a commit).
///  6. BEGIN; UPDATE users `updated_at` WHERE `credential_version` = the
///     version checked: the credentials did not change meanwhile.
///  7. UPDATE devices: the claim cleared, the device token renewed.
///  8. INSERT audit_events (`login_succeeded`), 9. INSERT sessions,
///  10. INSERT refresh_tokens; COMMIT (SQLite: a commit).
#[tokio::test]
async fn password_login_stays_within_its_statement_budget() {
    let n = &nodes().await;
    let email = unique_email();
    n.setup.verified_user(&email).await;
    let email = &email;
    let device = &RefCell::new(None);
    let budget = Budget {
        sqlite: 12,
        postgres: 10,
    };
    n.assert_budget(
        "login",
        &budget,
        move || async move { device.borrow_mut().take() },
        move |known| async move {
            let data = n.login_on(email, known).await;
            *device.borrow_mut() = device_token(&data);
        },
    )
    .await;
}

/// The `device_token` of a completed login.
fn device_token(data: &Value) -> Option<String> {
    let token = data["device_token"].as_str()?;
    remember_secret(token);
    Some(token.to_owned())
}

/// The TOTP second step of a login (`auth/mfa/verify`), on a device the
/// account knows (the password step, not counted, presented its token).
///
/// Budget: 13 statements; SQLite 16 (with 3 write commits).
///  1. SELECT mfa_challenges by `token_hash`: the `mfa_token`'s user, whose
///     gate the code goes to.
///  2. SELECT mfa_challenges by id: the gate's precheck of the challenge
///     (the same row as 1), which gives the budget of the first step.
///  3. SELECT devices by id and user, 4. SELECT users by id: the lock
///     state the failure is claimed on, and the user.
///  5. UPDATE devices (compare-and-swap): the failure claimed, committed
///     on its own (SQLite: a commit).
///  6. BEGIN; UPDATE mfa_challenges `used_at`: the challenge used once.
///  7. SELECT mfa_secrets by user, 8. UPDATE mfa_secrets `last_used_step`:
///     the code checked and its step used once (no replay); COMMIT
///     (SQLite: a commit).
///  9. BEGIN; UPDATE users `updated_at` WHERE `credential_version`: the
///     credentials did not change since the password step.
///  10. UPDATE devices: the claim cleared, the device token renewed.
///  11. INSERT audit_events (`login_succeeded`), 12. INSERT sessions,
///  13. INSERT refresh_tokens; COMMIT (SQLite: a commit).
#[tokio::test]
async fn mfa_verify_stays_within_its_statement_budget() {
    let n = &nodes().await;
    let user = &n.setup.mfa_user().await;
    let device = &RefCell::new(None);
    let budget = Budget {
        sqlite: 16,
        postgres: 13,
    };
    n.assert_budget(
        "mfa/verify",
        &budget,
        move || async move {
            // A new 30-second step, so the code is not a replay.
            n.counted.next_step();
            let known = device.borrow_mut().take();
            let data = n.login_on(&user.email, known).await;
            let token = data["mfa_token"].as_str().unwrap().to_owned();
            remember_secret(&token);
            (token, n.counted.code_now(&user.secret))
        },
        move |(token, code)| async move {
            let (status, body) = n.counted.mfa_verify(&token, &code).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            *device.borrow_mut() = device_token(&body["data"]);
        },
    )
    .await;
}

/// `token/refresh` of a session's refresh token (the user not seen by
/// this node's TokenRegistry in the last 0.5 s).
///
/// Budget: 2 statements; SQLite 3 (with 1 write commit).
///  1. SELECT refresh_tokens by `token_hash`: the presented token.
///  2. The claim: on PostgreSQL one statement (a data-modifying CTE: the
///     session touched if it is live and its account active, the token
///     marked used, its successor inserted); on SQLite BEGIN, the same
///     three as one batch, COMMIT (a commit).
///
/// The account's state is part of the claim: the SELECT of the user that
/// followed it (the TokenRegistry's user cache, cold) is gone, and a
/// disabled account's token is no longer used up by a refused refresh.
#[tokio::test]
async fn token_refresh_stays_within_its_statement_budget() {
    let n = &nodes().await;
    let budget = Budget {
        sqlite: 3,
        postgres: 2,
    };
    n.assert_budget(
        "token/refresh",
        &budget,
        move || async move { n.fresh_login().await.2 },
        move |refresh| async move {
            let (status, body) = n.counted.refresh(&refresh).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        },
    )
    .await;
}

/// `logout` with the access token and the session's refresh token (an
/// access token this node has not checked yet).
///
/// Budget: 6 statements; SQLite 7 (with 1 write commit).
///  1. SELECT sessions by id, 2. SELECT users by id: the bearer token
///     accepted (session not revoked, user active; the TokenRegistry's
///     caches, cold).
///  3. SELECT refresh_tokens by `token_hash`: the session the refresh
///     token names (here the same as the bearer's, so nothing more).
///  4. BEGIN; UPDATE sessions `revoked_at` RETURNING: the session ended.
///  5. UPDATE refresh_tokens `revoked_at` of the session.
///  6. INSERT audit_events (`logged_out`); COMMIT (SQLite: a commit).
#[tokio::test]
async fn logout_stays_within_its_statement_budget() {
    let n = &nodes().await;
    let budget = Budget {
        sqlite: 7,
        postgres: 6,
    };
    n.assert_budget(
        "logout",
        &budget,
        move || async move {
            let (_, access, refresh) = n.fresh_login().await;
            (access, refresh)
        },
        move |(access, refresh)| async move {
            let body = json!({ "refresh_token": refresh });
            let (status, body) = n.counted.logout(&access, Some(body)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        },
    )
    .await;
}

/// `verify-token` of an access token the node has not checked yet.
///
/// Budget: 2 statements on both backends (no write).
///  1. SELECT sessions by id: the session not revoked (cached 0.5 s as
///     "not revoked").
///  2. SELECT users by id: the user active, its "issued before" mark
///     (cached 0.5 s).
///
/// The same token again within 0.5 s: 0 statements.
#[tokio::test]
async fn verify_token_stays_within_its_statement_budget() {
    let n = &nodes().await;
    let budget = Budget {
        sqlite: 2,
        postgres: 2,
    };
    n.assert_budget(
        "verify-token",
        &budget,
        move || async move { n.fresh_login().await.1 },
        move |access| async move {
            let (status, body) = n.counted.verify_token(&access).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        },
    )
    .await;

    // Checked again within the caches' 0.5 s: no statement at all.
    let access = n.fresh_login().await.1;
    let started = Instant::now();
    assert_eq!(n.counted.verify_token(&access).await.0, StatusCode::OK);
    n.log.take();
    assert_eq!(n.counted.verify_token(&access).await.0, StatusCode::OK);
    let repeat = n.log.take();
    if started.elapsed().as_millis() < 400 {
        assert!(
            repeat.is_empty(),
            "a repeated verify-token ran statements:\n{}",
            show(&[repeat])
        );
    } else {
        println!("the repeat came after the caches' lifetime; not checked");
    }
}

/// `register` of a new address.
///
/// Budget: 5 statements; SQLite 6 (with 1 write commit).
///  1. SELECT users by `email_normalized`: an address already taken is
///     refused before the password is hashed.
///  2. BEGIN; INSERT users, 3. INSERT one_time_tokens (the verification
///     link), 4. INSERT email_outbox (its mail, sealed), 5. INSERT
///     audit_events (`registered`); COMMIT (SQLite: a commit).
#[tokio::test]
async fn register_stays_within_its_statement_budget() {
    let n = &nodes().await;
    let budget = Budget {
        sqlite: 6,
        postgres: 5,
    };
    n.assert_budget(
        "register",
        &budget,
        move || async move { unique_email() },
        move |email| async move {
            let (status, body) = n.counted.register(&email).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        },
    )
    .await;
}
