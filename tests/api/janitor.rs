//! The janitor (issue 11, "nothing grows without bound"): passes run with
//! the moved clock through `Janitor::run_once`, and what is left is
//! compared with what the test itself knows to be live.

use std::time::Duration;

use actors::hooks::Hooks;
use actors::janitor::{Janitor, PassReport};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, builder, eventually, spawn_app, unique_email};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A janitor of `app`'s settings, database and clock (a name of its own).
fn janitor(app: &TestApp) -> Janitor {
    authd::startup::janitor(
        &app.settings,
        app.db.clone(),
        app.clock.clone(),
        Hooks::default(),
        None,
    )
}

/// One pass, which must get the lease.
pub(crate) async fn pass(app: &TestApp) -> PassReport {
    janitor(app)
        .run_once()
        .await
        .expect("janitor pass")
        .expect("the lease was free")
}

async fn rows(app: &TestApp, table: &str) -> i64 {
    let backend = app.db.get_database_backend();
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

pub(crate) async fn rows_where(app: &TestApp, table: &str, condition: &str) -> i64 {
    rows(app, &format!("{table} WHERE {condition}")).await
}

fn now(app: &TestApp) -> i64 {
    jobs::Clock::now_ms(app.clock.as_ref())
}

/// Waits until every outbox row is sent (the worker is done with them).
async fn mail_settled(app: &TestApp) {
    eventually("every mail sent", Duration::from_secs(20), || async {
        rows_where(app, "email_outbox", "status = 'pending'").await == 0
    })
    .await;
}

/// A session the test started: when, and how many refresh tokens it issued.
struct Started {
    at: i64,
    refresh_rows: i64,
}

#[tokio::test]
async fn a_month_of_steady_load_leaves_only_what_is_live() {
    const DAYS: i64 = 30;
    const AUDIT_DAYS: i64 = 10;
    const OUTBOX_DAYS: i64 = 3;
    let app = builder()
        .settings(|s| {
            s.audit_retention_days = AUDIT_DAYS as u32;
            s.outbox_retention_days = OUTBOX_DAYS as u32;
        })
        .spawn()
        .await;
    let mfa = app.mfa_user().await;
    let mut sessions = vec![Started {
        at: now(&app),
        refresh_rows: 1,
    }];
    let mut devices = 1;
    // (registered at, email, link) of accounts never verified.
    let mut unverified: Vec<(i64, String, String)> = Vec::new();
    // (asked at, used) of reset links.
    let mut resets: Vec<(i64, bool)> = Vec::new();
    // (day start, audit rows made that day, outbox rows made that day).
    let mut days: Vec<(i64, i64, i64)> = Vec::new();
    let mut unknown_addresses: Vec<i64> = Vec::new();
    let mut last_refresh = String::new();
    let mut audit_before = rows(&app, "audit_events").await;
    let mut outbox_before = rows(&app, "email_outbox").await;

    for day in 0..DAYS {
        if day > 0 {
            app.clock.advance_ms(DAY);
            pass(&app).await;
            audit_before = rows(&app, "audit_events").await;
            outbox_before = rows(&app, "email_outbox").await;
        }
        let start = now(&app);
        // A registration verified, and one never verified.
        let email = unique_email();
        app.verified_user(&email).await;
        let squatted = unique_email();
        let link = app.register_and_get_token(&squatted).await;
        unverified.push((start, squatted, link));
        // A login, a refresh, and every third day a logout.
        let (_, refresh) = app.tokens_for(&email, PASSWORD).await;
        devices += 1;
        let (status, body) = app.refresh(&refresh).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        sessions.push(Started {
            at: start,
            refresh_rows: 2,
        });
        let access = body["data"]["token"].as_str().unwrap().to_owned();
        last_refresh = body["data"]["refresh_token"].as_str().unwrap().to_owned();
        if day % 3 == 1 {
            assert_eq!(app.logout(&access, None).await.0, StatusCode::OK);
        }
        // A reset asked for, used every other day (which ends the sessions).
        assert_eq!(app.request_reset(&email).await.0, StatusCode::OK);
        let reset = app.reset_token(&email, 1).await;
        let used = day % 2 == 0;
        if used {
            let (status, body) = app.confirm_reset(&reset, "Another-Horse-43").await;
            assert_eq!(status, StatusCode::OK, "{body}");
            // A reset forgets the account's device: voided now, pruned by
            // the next pass (past the grace).
            devices -= 1;
        }
        resets.push((start, used));
        // Wrong passwords for two addresses with no account.
        for _ in 0..2 {
            let (status, _) = app.login(&unique_email(), "Wrong-Horse-41").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            unknown_addresses.push(start);
        }
        // A 2FA login: its challenge answered every other day, else left.
        let challenge = app.mfa_token(&mfa.email).await;
        if day % 2 == 0 {
            let (status, body) = app.mfa_verify(&challenge, &app.code_now(&mfa.secret)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            sessions.push(Started {
                at: start,
                refresh_rows: 1,
            });
            devices += 1;
        }
        mail_settled(&app).await;
        days.push((
            start,
            rows(&app, "audit_events").await - audit_before,
            rows(&app, "email_outbox").await - outbox_before,
        ));
    }
    app.clock.advance_ms(12 * HOUR);
    pass(&app).await;
    let end = now(&app);

    // What is live, from what the test did.
    let young = |at: i64, ms: i64| end - at < ms;
    let removed = |at: i64| !young(at, 2 * DAY);
    let live_unverified = unverified.iter().filter(|(at, ..)| young(*at, 2 * DAY));
    let expected_users = DAYS + 1 + live_unverified.clone().count() as i64;
    let expected_links = live_unverified.count() as i64
        + resets
            .iter()
            .filter(|(at, used)| !used && young(*at, DAY))
            .count() as i64;
    let live_sessions: Vec<&Started> = sessions.iter().filter(|s| young(s.at, 14 * DAY)).collect();
    let expected_refresh: i64 = live_sessions.iter().map(|s| s.refresh_rows).sum();
    let expected_addresses = unknown_addresses
        .iter()
        .filter(|at| young(**at, DAY))
        .count() as i64;
    // A removed account's `registered` event and verification mail went
    // with it.
    let expected_audit: i64 = days
        .iter()
        .filter(|(at, ..)| young(*at, AUDIT_DAYS * DAY))
        .map(|(at, made, _)| made - i64::from(removed(*at)))
        .sum();
    let expected_outbox: i64 = days
        .iter()
        .filter(|(at, ..)| young(*at, OUTBOX_DAYS * DAY))
        .map(|(at, _, made)| made - i64::from(removed(*at)))
        .sum();

    let mut found = Vec::new();
    let mut wanted = Vec::new();
    for (table, expected) in [
        ("users", expected_users),
        ("one_time_tokens", expected_links),
        ("mfa_challenges", 0),
        ("sessions", live_sessions.len() as i64),
        ("refresh_tokens", expected_refresh),
        ("devices", devices),
        ("address_failures", expected_addresses),
        ("audit_events", expected_audit),
        ("email_outbox", expected_outbox),
    ] {
        found.push((table, rows(&app, table).await));
        wanted.push((table, expected));
    }
    assert_eq!(found, wanted);
    // Something was kept and something pruned in each table that has a rule.
    assert!(expected_links > 0 && live_sessions.len() > 1 && expected_addresses > 0);
    assert!(expected_audit > 0 && expected_outbox > 0);

    // What is live still works; what went is gone.
    let (_, _, newest_link) = unverified.last().unwrap();
    assert_eq!(app.verify_email(newest_link).await.0, StatusCode::OK);
    let (_, old_address, old_link) = &unverified[unverified.len() - 3];
    assert_eq!(app.verify_email(old_link).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(app.register(old_address).await.0, StatusCode::CREATED);
    assert_eq!(app.refresh(&last_refresh).await.0, StatusCode::OK);
}

#[tokio::test]
async fn one_janitor_runs_at_a_time_and_a_dead_holders_lease_is_taken_over() {
    let app = spawn_app().await;
    let (a, b) = (janitor(&app), janitor(&app));
    assert_ne!(a.holder, b.holder);

    // A holds the lease mid-pass: B does not run.
    let held = a.hooks.janitor_pass.clone();
    held.arm();
    let running = tokio::spawn(async move { a.run_once().await });
    held.reached().await;
    assert!(b.run_once().await.unwrap().is_none(), "B ran beside A");
    held.resume();
    assert!(running.await.unwrap().unwrap().is_some());
    assert!(
        b.run_once().await.unwrap().is_some(),
        "A released the lease"
    );

    // C dies holding it: nobody runs until the lease runs out.
    let c = janitor(&app);
    let held = c.hooks.janitor_pass.clone();
    held.arm();
    let dying = tokio::spawn(async move { c.run_once().await });
    held.reached().await;
    dying.abort();
    assert!(dying.await.unwrap_err().is_cancelled());
    assert!(
        b.run_once().await.unwrap().is_none(),
        "B ran under C's lease"
    );
    app.clock
        .advance_ms(i64::try_from(app.settings.janitor.lease.as_millis()).unwrap() - MINUTE);
    assert!(
        b.run_once().await.unwrap().is_none(),
        "the lease ran out early"
    );
    app.clock.advance_ms(2 * MINUTE);
    assert!(
        b.run_once().await.unwrap().is_some(),
        "C's lease was not taken over"
    );

    // Eight janitors started together (as eight workers would): one pass.
    let janitors: Vec<Janitor> = (0..8).map(|_| janitor(&app)).collect();
    for j in &janitors {
        j.hooks.janitor_pass.arm();
    }
    let pauses: Vec<_> = janitors
        .iter()
        .map(|j| j.hooks.janitor_pass.clone())
        .collect();
    let tasks: Vec<_> = janitors
        .into_iter()
        .map(|j| tokio::spawn(async move { j.run_once().await }))
        .collect();
    eventually("seven janitors to give up", Duration::from_secs(10), || {
        let done = tasks.iter().filter(|t| t.is_finished()).count();
        async move { done == 7 }
    })
    .await;
    for p in &pauses {
        p.resume();
    }
    let mut ran = 0;
    for t in tasks {
        ran += usize::from(t.await.unwrap().unwrap().is_some());
    }
    assert_eq!(ran, 1);
}

#[tokio::test]
async fn sessions_and_refresh_tokens_stay_while_any_of_their_tokens_can_be_presented() {
    let app = spawn_app().await;
    // Logged out: the session is revoked, its access token not expired.
    let (revoked_access, _) = app.logged_in().await;
    assert_eq!(app.logout(&revoked_access, None).await.0, StatusCode::OK);
    // Live, with a rotated (used) refresh token that must still be caught.
    let (_, used_refresh) = app.logged_in().await;
    let (status, body) = app.refresh(&used_refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["data"]["token"].as_str().unwrap().to_owned();
    let newest_refresh = body["data"]["refresh_token"].as_str().unwrap().to_owned();

    app.clock.advance_ms(30 * MINUTE);
    let report = pass(&app).await;
    assert_eq!(report.count("sessions"), 0);
    assert_eq!(report.count("refresh_tokens"), 0);
    assert_eq!(rows(&app, "sessions").await, 2);
    assert_eq!(
        rows_where(&app, "sessions", "revoked_at IS NOT NULL").await,
        1
    );
    assert_eq!(rows(&app, "refresh_tokens").await, 3);
    let second = app.second_node().await;
    assert_eq!(
        second.verify_token(&revoked_access).await.0,
        StatusCode::UNAUTHORIZED,
        "the revoked session's access token came back on a fresh node"
    );
    assert_eq!(app.verify_token(&access).await.0, StatusCode::OK);
    // The used token, presented again, still ends its session.
    assert_eq!(app.refresh(&used_refresh).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.refresh(&newest_refresh).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Every token expired (refresh lifetime, 14 days): all of it goes.
    app.clock.advance_ms(14 * DAY);
    let report = pass(&app).await;
    assert_eq!(report.count("sessions"), 2);
    assert_eq!(report.count("refresh_tokens"), 3);
    assert_eq!(rows(&app, "sessions").await, 0);
    assert_eq!(
        app.verify_token(&revoked_access).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_unverified_account_goes_once_its_links_expired_and_its_address_can_register_again() {
    let app = spawn_app().await;
    let squatted = unique_email();
    let link = app.register_and_get_token(&squatted).await;
    let resent = unique_email();
    app.register_and_get_token(&resent).await;
    mail_settled(&app).await;

    // Just before the 48-hour link expires, a new link for the second.
    app.clock.advance_ms(47 * HOUR);
    assert_eq!(pass(&app).await.count("users"), 0);
    let (status, _) = app
        .post(
            "/api/v1/auth/resend-verification/",
            &json!({ "email": resent }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.smtp.wait_for(&resent, 2, Duration::from_secs(10)).await;
    mail_settled(&app).await;

    let id = app.user(&squatted).await.unwrap().id;
    let of_squatter = || async {
        use actors::store::{audit_events, one_time_tokens};
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        let links = one_time_tokens::Entity::find()
            .filter(one_time_tokens::Column::UserId.eq(id))
            .count(&app.db);
        let events = audit_events::Entity::find()
            .filter(audit_events::Column::UserId.eq(id))
            .count(&app.db);
        let mails = jobs::outbox::Outbox::find()
            .filter(jobs::outbox::Column::UserId.eq(id))
            .count(&app.db);
        [
            links.await.unwrap(),
            events.await.unwrap(),
            mails.await.unwrap(),
        ]
    };
    assert_eq!(of_squatter().await, [1, 1, 1]);

    app.clock.advance_ms(2 * HOUR);
    let report = pass(&app).await;
    assert_eq!(report.count("users"), 1);
    assert!(app.user(&squatted).await.is_none());
    assert!(app.user(&resent).await.is_some(), "its newer link is live");
    // Everything of the removed account went with it.
    assert_eq!(of_squatter().await, [0, 0, 0]);
    assert_eq!(app.verify_email(&link).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(app.register(&squatted).await.0, StatusCode::CREATED);

    app.clock.advance_ms(2 * DAY);
    assert_eq!(pass(&app).await.count("users"), 1);
    assert!(app.user(&resent).await.is_none());
}

#[tokio::test]
async fn an_unverified_account_with_mail_pending_waits_for_it() {
    let app = builder().without_worker().spawn().await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.0, StatusCode::CREATED);
    app.clock.advance_ms(3 * DAY);
    let report = pass(&app).await;
    assert_eq!(report.count("users"), 0);
    assert!(app.user(&email).await.is_some());
    assert_eq!(rows(&app, "email_outbox").await, 1);
}

#[tokio::test]
async fn a_verification_that_commits_first_wins_over_the_removal() {
    let app = spawn_app().await;
    let email = unique_email();
    let link = app.register_and_get_token(&email).await;
    mail_settled(&app).await;
    // The link is still live for the verification; for the janitor (a
    // node whose clock is three days ahead) it expired long ago.
    app.clock.advance_ms(47 * HOUR);
    let ahead = std::sync::Arc::new(jobs::OffsetClock::default());
    ahead.advance_ms(47 * HOUR + 3 * DAY);
    let j = authd::startup::janitor(&app.settings, app.db.clone(), ahead, Hooks::default(), None);

    // The pass takes the lease, then the verification uses the link and
    // marks the account, and holds its transaction open.
    let janitor_held = j.hooks.janitor_pass.clone();
    janitor_held.arm();
    let pass = tokio::spawn(async move { j.run_once().await });
    janitor_held.reached().await;
    app.hooks.before_verify_commit.arm();
    let verifying = {
        let (url, body) = (
            app.url("/api/v1/auth/verify-email/"),
            json!({ "token": link }),
        );
        let client = app.client.clone();
        tokio::spawn(async move { client.post(url).json(&body).send().await.unwrap().status() })
    };
    app.hooks.before_verify_commit.reached().await;
    // The pass finds the account unverified and waits for the
    // verification's locks to delete it; then the verification commits.
    janitor_held.resume();
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.hooks.before_verify_commit.resume();
    assert_eq!(verifying.await.unwrap(), StatusCode::OK);
    let report = pass.await.unwrap().unwrap().unwrap();
    assert_eq!(report.count("users"), 0);
    let user = app.user(&email).await.expect("the verified account stays");
    assert!(user.email_verified_at.is_some());
}

#[tokio::test]
async fn a_void_device_goes_and_its_token_still_counts_as_none() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    let device_of = |body: &serde_json::Value| {
        let token = body["data"]["device_token"].as_str().unwrap().to_owned();
        crate::helpers::remember_secret(&token);
        token
    };
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let voided = device_of(&body);
    assert_eq!(app.login(&email, PASSWORD).await.0, StatusCode::OK);
    let with_device = |password: &'static str| {
        let body = json!({ "email": email, "password": password, "device_token": voided });
        let app = &app;
        async move { app.post("/api/v1/auth/login/", &body).await }
    };
    for _ in 0..5 {
        assert_eq!(
            with_device("Wrong-Horse-41").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        rows_where(&app, "devices", "revoked_at IS NOT NULL").await,
        1
    );
    app.clock.advance_ms(10 * MINUTE);
    assert_eq!(pass(&app).await.count("devices"), 1);
    assert_eq!(rows(&app, "devices").await, 1, "the live device stays");
    // The void token, gone, still counts as no token: a new device.
    let (status, body) = with_device(PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(device_of(&body), voided);
    assert_eq!(rows(&app, "devices").await, 2);
}

#[tokio::test]
async fn a_running_lockout_of_an_address_with_no_account_is_never_cut_short() {
    let app = spawn_app().await;
    let nobody = unique_email();
    for _ in 0..5 {
        assert_eq!(
            app.login(&nobody, "Wrong-Horse-41").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login(&nobody, "Wrong-Horse-41").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock.advance_ms(30_000);
    assert_eq!(pass(&app).await.count("address_failures"), 0);
    assert_eq!(
        app.login(&nobody, "Wrong-Horse-41").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The lock is over, the count not forgotten for a day.
    app.clock.advance_ms(23 * HOUR);
    assert_eq!(pass(&app).await.count("address_failures"), 0);
    app.clock.advance_ms(2 * HOUR);
    assert_eq!(pass(&app).await.count("address_failures"), 1);
    assert_eq!(rows(&app, "address_failures").await, 0);
}

#[tokio::test]
async fn eml_files_go_after_the_outbox_retention_and_nothing_else_is_touched() {
    let app = builder().settings(|s| s.smtp_url = None).spawn().await;
    let dir = app.settings.outbox_dir.clone();
    assert_eq!(app.register(&unique_email()).await.0, StatusCode::CREATED);
    let emls = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().unwrap().is_file())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
            .count()
    };
    eventually("an .eml file", Duration::from_secs(10), || {
        let n = emls(&dir);
        async move { n == 1 }
    })
    .await;
    let outside = app.dir.path().join("outside.eml");
    std::fs::write(&outside, "not ours").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("link.eml")).unwrap();
    std::fs::create_dir(dir.join("folder.eml")).unwrap();
    std::fs::write(dir.join("folder.eml").join("inner.eml"), "x").unwrap();
    for other in ["notes.txt", ".half-written.eml", "eml"] {
        std::fs::write(dir.join(other), "x").unwrap();
    }
    let names = |dir: &std::path::Path| {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    let before = names(&dir);

    app.clock.advance_ms(6 * DAY);
    assert_eq!(pass(&app).await.count("outbox_files"), 0);
    assert_eq!(names(&dir), before);
    app.clock.advance_ms(DAY + HOUR);
    assert_eq!(pass(&app).await.count("outbox_files"), 1);
    let after = names(&dir);
    assert_eq!(after.len(), before.len() - 1, "{after:?}");
    assert!(after.iter().all(|n| !n.contains('@')), "{after:?}");
    assert!(outside.exists());
    assert!(dir.join("folder.eml").join("inner.eml").exists());
}

#[tokio::test]
async fn the_worker_runs_the_janitor_on_its_own() {
    let app = builder()
        .settings(|s| {
            s.janitor.first_pass_after = Duration::from_millis(100);
            s.janitor.interval = Duration::from_millis(200);
        })
        .spawn()
        .await;
    assert_eq!(
        app.login(&unique_email(), "Wrong-Horse-41").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(rows(&app, "address_failures").await, 1);
    app.clock.advance_ms(2 * DAY);
    eventually(
        "a pass of the worker's janitor",
        Duration::from_secs(10),
        || async { rows(&app, "address_failures").await == 0 },
    )
    .await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("authd_janitor_deleted_total{table=\"address_failures\"}"),
        "{metrics}"
    );
}

/// A backlog far bigger than a batch (`AUTH_TEST_JANITOR_BACKLOG` rows of
/// each kind, default 2,500) goes in one pass, a batch per statement.
#[tokio::test]
async fn a_backlog_goes_in_one_pass_a_batch_at_a_time() {
    use actors::store::{audit_events, one_time_tokens};
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let backlog: i64 = std::env::var("AUTH_TEST_JANITOR_BACKLOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_500);
    let app = spawn_app().await;
    assert_eq!(app.settings.janitor.batch, 1000);
    let email = unique_email();
    app.verified_user(&email).await;
    let user_id = app.user(&email).await.unwrap().id;
    let now = now(&app);
    let mut next = 0;
    while next < backlog {
        let chunk = next..(next + 500).min(backlog);
        next = chunk.end;
        one_time_tokens::Entity::insert_many(chunk.clone().map(|i| one_time_tokens::ActiveModel {
            id: Set(uuid::Uuid::new_v4()),
            user_id: Set(user_id),
            purpose: Set(actors::store::one_time_tokens::LinkKind::PasswordReset),
            token_hash: Set(format!("{i:064x}")),
            expires_at: Set(now - DAY),
            used_at: Set(None),
            created_at: Set(now - 2 * DAY),
            address: Set(None),
        }))
        .exec_without_returning(&app.db)
        .await
        .unwrap();
        audit_events::Entity::insert_many(chunk.map(|_| audit_events::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            user_id: Set(user_id),
            kind: Set("login_failed".into()),
            at: Set(now - 100 * DAY),
            ip: Set(None),
            user_agent: Set(None),
            request_id: Set(None),
            actor: Set(None),
            provider: Set(None),
        }))
        .exec_without_returning(&app.db)
        .await
        .unwrap();
    }
    let started = std::time::Instant::now();
    let report = pass(&app).await;
    eprintln!(
        "a pass over {backlog} dead links and {backlog} old events took {:?}",
        started.elapsed()
    );
    let backlog = u64::try_from(backlog).unwrap();
    assert_eq!(report.count("one_time_tokens"), backlog);
    assert_eq!(report.count("audit_events"), backlog);
    // What is not dead stays: the account's own (used, recent) link and events.
    assert_eq!(rows(&app, "one_time_tokens").await, 1);
    assert_eq!(rows(&app, "audit_events").await, 2);
}
