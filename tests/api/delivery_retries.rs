//! apalis owns the retries: a transient SMTP failure is retried by the
//! queue's retry layer on the row's backoff, the relay pushes a row again
//! only when the queue lost its job, and no mail is ever sent twice.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;

use crate::delivery::{RedisServer, failed_for_good, spawn_worker_process};
use crate::helpers::{TestApp, builder, eventually, redis_url, unique_email};
use crate::smtp::{self, SmtpServer};

async fn attempts(app: &TestApp) -> i32 {
    app.outbox().await.first().map_or(0, |r| r.attempts)
}

#[tokio::test]
async fn apalis_retries_a_transient_failure_without_the_relay() {
    // The relay pushes the new row when woken by the registration, and
    // would look at the outbox again only after an hour: every retry seen
    // here is the queue's own.
    let smtp = SmtpServer::start();
    smtp.set_mode(smtp::TRANSIENT);
    let app = builder()
        .smtp(smtp.clone())
        .settings(|s| {
            s.delivery.redispatch_after = Duration::from_secs(3600);
            s.delivery.relay_interval = Duration::from_secs(3600);
        })
        .spawn()
        .await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.0, StatusCode::CREATED);
    eventually("three attempts", Duration::from_secs(10), || async {
        attempts(&app).await >= 3
    })
    .await;
    let row = &app.outbox().await[0];
    assert_eq!(row.status, jobs::outbox::Status::Pending);
    assert!(row.last_error.as_deref().is_some_and(|e| e.contains("451")));
    assert!(smtp.mails_to(&email).is_empty());
    smtp.set_mode(smtp::ACCEPT);
    smtp.wait_for(&email, 1, Duration::from_secs(10)).await;
    eventually("the row marked sent", Duration::from_secs(5), || async {
        app.outbox().await[0].status == jobs::outbox::Status::Sent
    })
    .await;
}

#[tokio::test]
async fn smtp_answering_451_for_ten_minutes_then_accepting_delivers_once_on_the_backoff() {
    // Production backoff (10 s doubling, capped at 15 min, 15 attempts),
    // with the clock moved instead of waited for.
    let smtp = SmtpServer::start();
    smtp.set_mode(smtp::TRANSIENT);
    let app = builder()
        .smtp(smtp.clone())
        .settings(|s| {
            let production = jobs::DeliveryTuning::default();
            s.delivery.backoff_base = production.backoff_base;
            s.delivery.backoff_cap = production.backoff_cap;
            s.delivery.max_attempts = production.max_attempts;
            s.delivery.redispatch_after = Duration::from_secs(3600);
        })
        .spawn()
        .await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.0, StatusCode::CREATED);
    eventually("the first attempt", Duration::from_secs(10), || async {
        attempts(&app).await == 1
    })
    .await;

    // Attempts fall at 0, 10, 30, 70, 150 and 310 s, the next at 630 s:
    // ten minutes of 451 see six of them.
    let step_ms = 5_000;
    for _ in 0..(600_000 / step_ms) {
        app.clock.advance_ms(step_ms);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(attempts(&app).await, 6, "six attempts in ten minutes");
    assert!(smtp.mails_to(&email).is_empty());

    smtp.set_mode(smtp::ACCEPT);
    let mut moved = 600_000;
    while smtp.mails_to(&email).is_empty() {
        assert!(moved < 1_200_000, "no delivery after the seventh backoff");
        app.clock.advance_ms(step_ms);
        moved += step_ms;
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    eventually("the row marked sent", Duration::from_secs(5), || async {
        app.outbox().await[0].status == jobs::outbox::Status::Sent
    })
    .await;
    let row = &app.outbox().await[0];
    assert_eq!(row.attempts, 7);
    assert!(row.payload.is_none());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.mails_to(&email).len(), 1);
}

#[tokio::test]
async fn a_transient_failure_past_the_last_attempt_is_recorded_as_failed() {
    let smtp = SmtpServer::start();
    smtp.set_mode(smtp::TRANSIENT);
    let app = builder()
        .smtp(smtp.clone())
        .settings(|s| s.delivery.max_attempts = 3)
        .spawn()
        .await;
    assert_eq!(app.register(&unique_email()).await.0, StatusCode::CREATED);
    let row = failed_for_good(&app, 3).await;
    assert!(row.last_error.as_deref().is_some_and(|e| e.contains("451")));
}

pub(crate) fn flushall(port: u16) {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "FLUSHALL"])
        .output()
        .expect("redis-cli");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("OK"),
        "{out:?}"
    );
}

/// A private Redis for a test that flushes it (FLUSHALL on the shared one
/// would wipe the other tests' queues).
pub(crate) fn private_redis() -> Option<(RedisServer, u16, url::Url)> {
    if redis_url().is_none() {
        eprintln!(
            "skipped: set AUTH_TEST_REDIS_URL (and have redis-server on PATH) to run the Redis flush tests"
        );
        return None;
    }
    let port = smtp::free_port();
    let server = RedisServer::start(port)
        .expect("redis-server must be on PATH when AUTH_TEST_REDIS_URL is set");
    let url = url::Url::parse(&format!("redis://127.0.0.1:{port}")).expect("url");
    Some((server, port, url))
}

#[tokio::test]
async fn redis_flushed_while_jobs_wait_in_the_queue_then_every_mail_arrives_once() {
    let Some((_redis, port, url)) = private_redis() else {
        return;
    };
    // An API node without a worker; the test pushes the jobs itself, so they
    // sit in Redis with no worker to take them.
    let app = builder()
        .without_worker()
        .settings({
            let url = url.clone();
            move |s| s.redis_url = Some(url)
        })
        .spawn()
        .await;
    let emails: Vec<String> = (0..5).map(|_| unique_email()).collect();
    for email in &emails {
        assert_eq!(app.register(email).await.0, StatusCode::CREATED);
    }
    let queue = jobs::Queue::redis(url.as_str(), &app.settings.queue_name)
        .await
        .expect("queue");
    let relay = jobs::relay::Relay {
        db: app.db.clone(),
        queue,
        clock: app.clock.clone(),
        tuning: app.settings.delivery.clone(),
        wake: Arc::new(tokio::sync::Notify::new()),
    };
    assert_eq!(relay.tick().await.expect("relay pass"), 5);
    flushall(port);

    let settings = app.settings.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn({
        let stop = stop.clone();
        let clock = app.clock.clone();
        async move {
            authd::startup::run_worker_with_clock(settings, clock, stop.cancelled_owned()).await
        }
    });
    // Nothing is in the queue: the mails come from the relay pushing the
    // rows again once their redispatch time (3 s here) has passed.
    for email in &emails {
        app.smtp.wait_for(email, 1, Duration::from_secs(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    for email in &emails {
        assert_eq!(app.smtp.mails_to(email).len(), 1, "{email}");
    }
    stop.cancel();
    worker.await.expect("join").expect("worker");
}

#[tokio::test]
async fn redis_flushed_while_jobs_are_being_retried_then_every_mail_arrives_once() {
    let Some((_redis, port, url)) = private_redis() else {
        return;
    };
    let smtp = SmtpServer::start();
    smtp.set_mode(smtp::TRANSIENT);
    let app = builder()
        .smtp(smtp.clone())
        .settings(move |s| s.redis_url = Some(url))
        .spawn()
        .await;
    let emails: Vec<String> = (0..5).map(|_| unique_email()).collect();
    for email in &emails {
        assert_eq!(app.register(email).await.0, StatusCode::CREATED);
    }
    eventually("every row attempted", Duration::from_secs(10), || async {
        let rows = app.outbox().await;
        rows.len() == 5 && rows.iter().all(|r| r.attempts >= 1)
    })
    .await;
    flushall(port);
    smtp.set_mode(smtp::ACCEPT);
    for email in &emails {
        smtp.wait_for(email, 1, Duration::from_secs(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    for email in &emails {
        assert_eq!(smtp.mails_to(email).len(), 1, "{email}");
    }
    let rows = app.outbox().await;
    assert!(rows.iter().all(|r| r.status == jobs::outbox::Status::Sent));
}

#[tokio::test]
async fn two_worker_processes_and_a_relay_node_never_send_one_mail_twice() {
    // A node running the relay and a worker, plus two `authd worker`
    // processes, all on one database and one queue; SMTP refuses for a
    // while so that retries, redispatches and three workers overlap.
    let smtp = SmtpServer::start();
    smtp.set_mode(smtp::TRANSIENT);
    let app = builder().smtp(smtp.clone()).spawn().await;
    let mut workers: Vec<_> = (0..2)
        .map(|_| spawn_worker_process(&app.settings, &smtp.url()))
        .collect();
    let emails: Vec<String> = (0..20).map(|_| unique_email()).collect();
    let registrations = emails.iter().map(|e| app.register(e));
    for (status, _) in futures::future::join_all(registrations).await {
        assert_eq!(status, StatusCode::CREATED);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    smtp.set_mode(smtp::ACCEPT);
    for email in &emails {
        smtp.wait_for(email, 1, Duration::from_secs(30)).await;
    }
    // Past a redispatch window (3 s) and a lease (3 s): still one each.
    tokio::time::sleep(Duration::from_secs(7)).await;
    for w in &mut workers {
        w.kill().ok();
        let _ = w.wait();
    }
    for email in &emails {
        assert_eq!(smtp.mails_to(email).len(), 1, "{email}");
    }
    assert_eq!(smtp.mails().len(), 20);
}

/// Jobs the queue still keeps a record of: the SQLite queue's `Jobs` rows,
/// or the Redis queue's data hash plus its done and dead sets.
async fn queue_records(app: &TestApp) -> usize {
    let name = &app.settings.queue_name;
    match &app.settings.redis_url {
        Some(url) => {
            let client = redis::Client::open(url.as_str()).expect("redis url");
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("redis");
            let data: usize = redis::cmd("HLEN")
                .arg(format!("{name}:data"))
                .query_async(&mut conn)
                .await
                .expect("HLEN");
            let mut sets = 0;
            for set in ["done", "dead"] {
                let n: usize = redis::cmd("SCARD")
                    .arg(format!("{name}:{set}"))
                    .query_async(&mut conn)
                    .await
                    .expect("SCARD");
                sets += n;
            }
            data + sets
        }
        None => {
            use sea_orm::ConnectionTrait;
            let path = app.settings.data_dir.join("queue.db");
            let db = sea_orm::Database::connect(format!("sqlite://{}", path.display()))
                .await
                .expect("queue db");
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    "SELECT COUNT(*) AS n FROM Jobs".to_owned(),
                ))
                .await
                .expect("count")
                .expect("a row");
            usize::try_from(row.try_get::<i64>("", "n").expect("n")).expect("count")
        }
    }
}

#[tokio::test]
async fn the_queue_forgets_jobs_that_ended() {
    let smtp = SmtpServer::start();
    let app = builder().smtp(smtp.clone()).spawn().await;
    let emails: Vec<String> = (0..3).map(|_| unique_email()).collect();
    for email in &emails {
        assert_eq!(app.register(email).await.0, StatusCode::CREATED);
        smtp.wait_for(email, 1, Duration::from_secs(10)).await;
    }
    eventually("every row marked sent", Duration::from_secs(5), || async {
        app.outbox()
            .await
            .iter()
            .all(|r| r.status == jobs::outbox::Status::Sent)
    })
    .await;
    // The worker acknowledges a job just after marking its row.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(queue_records(&app).await >= 3, "the queue remembers them");
    let queue = match &app.settings.redis_url {
        Some(url) => jobs::Queue::redis(url.as_str(), &app.settings.queue_name).await,
        None => {
            jobs::Queue::sqlite(
                &app.settings.data_dir.join("queue.db"),
                &app.settings.queue_name,
            )
            .await
        }
    }
    .expect("queue");
    assert!(queue.vacuum(Duration::ZERO).await.expect("vacuum") >= 3);
    assert_eq!(queue_records(&app).await, 0);
}

#[tokio::test]
async fn mails_waiting_out_a_backoff_hold_no_sending_slot() {
    // Ten addresses whose server answers "try later" (greylisting) wait
    // out the production backoff (10 s and up, on a clock that does not
    // move here); the worker sends 8 at a time. Mail to anyone else still
    // goes out at once: a waiting job holds none of the 8 slots.
    let smtp = SmtpServer::start();
    smtp.set_mode(smtp::GREYLIST);
    let app = builder()
        .smtp(smtp.clone())
        .settings(|s| {
            let production = jobs::DeliveryTuning::default();
            s.delivery.backoff_base = production.backoff_base;
            s.delivery.backoff_cap = production.backoff_cap;
        })
        .spawn()
        .await;
    let greylisted: Vec<String> = (0..10)
        .map(|_| format!("greylisted-{}", unique_email()))
        .collect();
    for email in &greylisted {
        assert_eq!(app.register(email).await.0, StatusCode::CREATED);
    }
    eventually(
        "a first attempt at every greylisted mail",
        Duration::from_secs(15),
        || async {
            let rows = app.outbox().await;
            rows.len() == greylisted.len() && rows.iter().all(|r| r.attempts == 1)
        },
    )
    .await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.0, StatusCode::CREATED);
    smtp.wait_for(&email, 1, Duration::from_secs(5)).await;
    assert!(greylisted.iter().all(|e| smtp.mails_to(e).is_empty()));
}

#[tokio::test]
async fn a_delivery_cut_short_after_the_server_took_the_mail_still_records_it() {
    // apalis drops a job's future when it restarts a worker (Redis flushed
    // or blipped) or gives a job up. Here the future is dropped while the
    // server, which already keeps the message, has not answered yet; the
    // row must still end up sent, so that when its lease runs out nothing
    // sends it again.
    let smtp = SmtpServer::start();
    let app = builder().smtp(smtp.clone()).without_worker().spawn().await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.0, StatusCode::CREATED);
    let id = app.outbox().await[0].id;
    let key = authd::keys::resolve(
        app.settings.encryption_key.as_ref(),
        &app.settings.data_dir,
        "encryption_key",
        "AUTH_ENCRYPTION_KEY",
        32,
        authd::keys::Generate::Allowed,
    )
    .expect("key");
    let key: [u8; 32] = key.0.as_slice().try_into().expect("32 bytes");
    let delivery = Arc::new(jobs::worker::Delivery {
        db: app.db.clone(),
        mailer: jobs::Mailer::smtp(
            &smtp.url(),
            app.settings.mail_from.clone(),
            app.settings.delivery.smtp_timeout,
        )
        .expect("mailer"),
        sealer: Arc::new(jobs::Sealer::new(&key)),
        clock: app.clock.clone(),
        tuning: app.settings.delivery.clone(),
    });
    smtp.set_mode(smtp::SLOW_ACK);
    let cut = tokio::time::timeout(Duration::from_millis(500), delivery.deliver(id)).await;
    assert!(cut.is_err(), "the server answers after a second");
    assert_eq!(smtp.mails_to(&email).len(), 1, "the server kept the mail");
    smtp.set_mode(smtp::ACCEPT);
    eventually(
        "the row recorded as sent",
        Duration::from_secs(5),
        || async { app.outbox().await[0].status == jobs::outbox::Status::Sent },
    )
    .await;
    // Past the lease: the row is not claimed, nor sent, again.
    app.clock
        .advance_ms(i64::try_from(app.settings.delivery.lease.as_millis()).expect("ms") + 1000);
    assert!(matches!(
        delivery.deliver(id).await.expect("deliver"),
        jobs::worker::Outcome::Finished
    ));
    assert_eq!(smtp.mails_to(&email).len(), 1);
}
