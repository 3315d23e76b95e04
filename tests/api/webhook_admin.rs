//! Webhook deliveries in the admin API: listed newest first by status, a
//! failed one retried by hand (once, however many admins ask at once) and
//! then delivered with its own `webhook-id` and a valid signature; finished
//! rows pruned by the janitor after the outbox retention; and no event lost
//! when Redis is flushed.

use std::time::Duration;

use jobs::webhooks::{Status, Subscription, WebhookTuning, deliveries};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::admin::{admin_get, admin_send, key};
use crate::helpers::{TestApp, assert_error, builder, eventually, unique_email};
use crate::webhooks::{
    Answer, PAST_A_DELAY_MS, Receiver, all_delivered, app_with, failed_total, new_secret, rows,
    through_the_schedule, verify_with_python,
};

const LIST: &str = "/api/v1/admin/webhooks/deliveries/";

fn retry_path(id: &str) -> String {
    format!("/api/v1/admin/webhooks/deliveries/{id}/retry/")
}

async fn list(app: &TestApp, key: &str, query: &str) -> Value {
    let (status, body) = admin_get(app, key, &format!("{LIST}?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body["data"].clone()
}

/// The ids of a listed page, in its order.
fn ids(page: &Value) -> Vec<String> {
    page["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| d["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn retry(app: &TestApp, key: &str, id: &str) -> (StatusCode, Value) {
    admin_send(app, Method::POST, key, &retry_path(id), None).await
}

async fn events_total(app: &TestApp, key: &str) -> usize {
    let (status, body) = admin_get(app, key, "/api/v1/admin/events/?limit=100").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["events"].as_array().expect("events").len()
}

/// A receiver that refuses `user.created` with 500 through the whole
/// schedule (on the test clock), and its app, whose one delivery is then
/// failed. The clock is moved back to the real time afterwards, so that
/// the next attempt is signed with a timestamp the Python library takes.
async fn failed_delivery() -> (Receiver, String, TestApp) {
    let receiver = Receiver::start().await;
    receiver.answer(&[Answer::Status(500); 8]);
    let secret = new_secret();
    let only = Subscription::parse(["user.created"]).expect("types");
    let app = app_with(&receiver, &[&secret], only).await;
    assert_eq!(app.register(&unique_email()).await.0, StatusCode::CREATED);
    through_the_schedule(&app, &receiver).await;
    app.clock.advance_ms(-8 * PAST_A_DELAY_MS);
    (receiver, secret, app)
}

#[tokio::test]
async fn a_failed_delivery_is_listed_then_retried_by_hand_and_arrives_with_its_webhook_id() {
    let (receiver, secret, app) = failed_delivery().await;
    assert!(failed_total(&app).await >= 1.0, "counted as failed");
    let first = receiver.got()[0].clone();
    let reader = key(&app, "auditor", true).await;
    let writer = key(&app, "ops", false).await;

    // Listed as failed (read-only keys may list), and only there.
    let page = list(&app, &reader, "status=failed").await;
    let listed = &page["deliveries"][0];
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1, "{page}");
    let id = listed["id"].as_str().unwrap().to_owned();
    assert_eq!(listed["type"], "user.created");
    assert_eq!(listed["webhook_id"], first.id.as_str());
    assert_eq!(listed["status"], "failed");
    assert_eq!(listed["attempts"], 8);
    assert_eq!(listed["last_response_status"], 500);
    assert_eq!(listed["endpoint"], receiver.url().as_str());
    let at = listed["last_attempt_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(at).is_ok() && at.ends_with('Z'),
        "{at}"
    );
    assert!(page["next_cursor"].is_null());
    for other in ["status=pending", "status=delivered"] {
        assert!(ids(&list(&app, &reader, other).await).is_empty(), "{other}");
    }

    // A read-only key may not retry it; unknown and malformed ids are 404.
    let (status, body) = retry(&app, &reader, &id).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error(&body, 403, "Forbidden");
    for missing in [uuid::Uuid::now_v7().to_string(), "not-an-id".to_owned()] {
        let (status, body) = retry(&app, &writer, &missing).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}: {body}");
        assert_error(&body, 404, "Not found");
    }

    // The receiver is fixed (it answers 200 from now on); a retry by hand.
    let events_before = events_total(&app, &reader).await;
    let (status, body) = retry(&app, &writer, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let retried = &body["data"]["delivery"];
    assert_eq!(retried["id"], id.as_str());
    assert_eq!(retried["status"], "pending");
    assert_eq!(retried["attempts"], 0, "the whole schedule again");
    assert_eq!(retried["webhook_id"], first.id.as_str());
    let got = receiver.wait_for(9, Duration::from_secs(5)).await;
    let again = &got[8];
    assert_eq!(again.id, first.id, "the same webhook-id");
    assert_eq!(again.body, first.body, "the same body");
    verify_with_python(&secret, std::slice::from_ref(again));
    all_delivered(&app, Duration::from_secs(5)).await;
    let page = list(&app, &reader, "status=delivered").await;
    assert_eq!(ids(&page), std::slice::from_ref(&id));
    assert_eq!(page["deliveries"][0]["attempts"], 1);
    assert_eq!(page["deliveries"][0]["last_response_status"], 200);
    // Not a security event of the user.
    assert_eq!(events_total(&app, &reader).await, events_before);
    // Delivered: not retried again.
    let (status, body) = retry(&app, &writer, &id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, 409, "Conflict");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.got().len(), 9, "sent once more, not twice");
}

#[tokio::test]
async fn parallel_retries_of_one_failed_delivery_give_one_200_and_the_rest_409() {
    let (receiver, _secret, app) = failed_delivery().await;
    let writer = key(&app, "ops", false).await;
    let id = rows(&app).await[0].id.to_string();
    let answers = futures::future::join_all((0..8).map(|_| retry(&app, &writer, &id))).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|(s, _)| *s).collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let conflict = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflict), (1, 7), "{answers:#?}");
    receiver.wait_for(9, Duration::from_secs(5)).await;
    all_delivered(&app, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.got().len(), 9, "one retry, one attempt");
}

#[tokio::test]
async fn deliveries_are_listed_newest_first_a_page_at_a_time_and_bad_input_is_400() {
    let receiver = Receiver::start().await;
    let secret = new_secret();
    let only = Subscription::parse(["user.created"]).expect("types");
    let app = app_with(&receiver, &[&secret], only).await;
    for _ in 0..3 {
        assert_eq!(app.register(&unique_email()).await.0, StatusCode::CREATED);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    receiver.wait_for(3, Duration::from_secs(5)).await;
    let reader = key(&app, "auditor", true).await;
    let newest_first: Vec<String> = rows(&app)
        .await
        .iter()
        .rev()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids(&list(&app, &reader, "").await), newest_first);
    let first = list(&app, &reader, "limit=2").await;
    assert_eq!(ids(&first), newest_first[..2]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = list(&app, &reader, &format!("limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&second), newest_first[2..]);
    assert!(second["next_cursor"].is_null());

    let (status, body) = admin_get(&app, &reader, &format!("{LIST}?status=lost")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["status"].is_array(), "{body}");
    for query in ["limit=0", "limit=101", "cursor=junk", "status=Failed"] {
        let (status, body) = admin_get(&app, &reader, &format!("{LIST}?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_error(&body, 400, "Invalid request");
    }
    let resp = app.client.get(app.url(LIST)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Delivered ones are not retried (409); nothing secret is listed.
    let writer = key(&app, "ops", false).await;
    let (status, body) = retry(&app, &writer, &newest_first[0]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let listed = list(&app, &reader, "").await.to_string();
    assert!(!listed.contains(&secret) && !listed.contains("payload"));
}

/// `receiver` as an endpoint taking `user.created`, with a new secret.
fn created_endpoint(receiver: &Receiver) -> jobs::webhooks::Endpoint {
    let only = Subscription::parse(["user.created"]).expect("types");
    crate::webhooks::endpoint(&receiver.url(), &[&new_secret()], only)
}

/// A sender of the test's own, for `until` to hold: with no endpoint it
/// marks every due row failed (its endpoint is no longer configured);
/// with the app's, it delivers them.
async fn send_until<F, Fut>(app: &TestApp, endpoints: bool, what: &str, until: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let hooks = if endpoints {
        app.settings.webhooks.clone()
    } else {
        Vec::new()
    };
    let tuning = WebhookTuning {
        poll_interval: Duration::from_millis(50),
        ..WebhookTuning::default()
    };
    let sender = jobs::webhooks::Sender::new(
        app.db.clone(),
        app.clock.clone(),
        jobs::Webhooks::new(hooks),
        tuning,
    )
    .expect("sender");
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(sender.run(stop.clone()));
    eventually(what, Duration::from_secs(10), until).await;
    stop.cancel();
    running.await.expect("sender stopped");
}

async fn with_status(app: &TestApp, status: Status) -> usize {
    rows(app)
        .await
        .iter()
        .filter(|r| r.status == status)
        .count()
}

/// Registers `users` (each queues `user.created`), then sends until
/// `total` rows are `status` (see `send_until`).
async fn register_and_send(
    app: &TestApp,
    users: usize,
    endpoints: bool,
    status: Status,
    total: usize,
) {
    for _ in 0..users {
        assert_eq!(app.register(&unique_email()).await.0, StatusCode::CREATED);
    }
    send_until(app, endpoints, "sent", || async {
        with_status(app, status).await == total
    })
    .await;
}

#[tokio::test]
async fn the_janitor_prunes_old_delivered_and_failed_deliveries_and_keeps_recent_and_pending_ones()
{
    const DAY: i64 = 24 * 3600 * 1000;
    let receiver = Receiver::start().await;
    let hook = created_endpoint(&receiver);
    // No worker: the test sends with senders of its own, when it wants.
    let app = builder()
        .without_worker()
        .settings(move |s| {
            s.webhooks = vec![hook];
            s.outbox_retention_days = 1;
            s.janitor.batch = 1;
        })
        .spawn()
        .await;
    // Day 0: two failed, one delivered.
    register_and_send(&app, 2, false, Status::Failed, 2).await;
    register_and_send(&app, 1, true, Status::Delivered, 1).await;
    // Two days later: one of the failed retried (and failed again), one
    // new delivered: recent by their last attempt.
    app.clock.advance_ms(2 * DAY);
    let now = jobs::Clock::now_ms(app.clock.as_ref());
    let old_failed = rows(&app).await[0].id;
    let retried = deliveries::retry_failed(&app.db, old_failed, now)
        .await
        .unwrap()
        .expect("a failed row");
    register_and_send(&app, 0, false, Status::Failed, 2).await;
    register_and_send(&app, 1, true, Status::Delivered, 2).await;
    // And one queued three days ago that is still pending.
    let none: Option<&Value> = None;
    let queued = jobs::webhooks::queue(
        &app.db,
        &jobs::Webhooks::new(app.settings.webhooks.clone()),
        jobs::EventType::UserCreated,
        uuid::Uuid::new_v4(),
        none,
        now - 3 * DAY,
    )
    .await
    .unwrap();
    assert!(queued);
    let before: Vec<_> = rows(&app).await;
    assert_eq!(before.len(), 5);

    let report = crate::janitor::pass(&app).await;
    assert_eq!(report.count("webhook_deliveries"), 2, "{report:?}");
    let left = rows(&app).await;
    let kept = |id: uuid::Uuid| left.iter().any(|r| r.id == id);
    assert!(kept(retried.id), "failed again today: kept");
    let pending: Vec<_> = left
        .iter()
        .filter(|r| r.status == Status::Pending)
        .collect();
    assert_eq!(pending.len(), 1, "{left:#?}");
    assert!(pending[0].created_at < now - 2 * DAY, "an old pending row");
    let delivered: Vec<_> = left
        .iter()
        .filter(|r| r.status == Status::Delivered)
        .collect();
    assert_eq!(delivered.len(), 1, "{left:#?}");
    assert!(delivered[0].created_at >= now, "the recent one");
    assert_eq!(left.len(), 3);
    assert_eq!(
        crate::janitor::pass(&app).await.count("webhook_deliveries"),
        0
    );
}

/// Deliveries live in the database, not in Redis: flushing Redis while
/// they wait for a retry loses none.
#[tokio::test]
async fn a_redis_flush_while_deliveries_are_pending_loses_no_webhook() {
    let Some((_redis, port, url)) = crate::delivery_retries::private_redis() else {
        return;
    };
    let receiver = Receiver::start().await;
    receiver.answer(&[Answer::Status(503); 5]);
    let hook = created_endpoint(&receiver);
    let app = builder()
        .settings(move |s| {
            s.redis_url = Some(url);
            s.webhooks = vec![hook];
            s.webhook_tuning.poll_interval = Duration::from_millis(50);
            s.webhook_tuning.timeout = Duration::from_secs(2);
        })
        .spawn()
        .await;
    for _ in 0..5 {
        assert_eq!(app.register(&unique_email()).await.0, StatusCode::CREATED);
    }
    eventually(
        "every delivery refused once",
        Duration::from_secs(10),
        || async {
            let rows = rows(&app).await;
            rows.len() == 5
                && rows.iter().all(|r| {
                    r.status == Status::Pending && r.attempts == 1 && r.lease_until.is_none()
                })
        },
    )
    .await;
    crate::delivery_retries::flushall(port);
    app.clock.advance_ms(10_000);
    let got = receiver.wait_for(10, Duration::from_secs(10)).await;
    all_delivered(&app, Duration::from_secs(5)).await;
    let mut ids: Vec<&str> = got[5..].iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5, "every event arrived");
}

/// The list's statements read an index, not the whole table (and the
/// janitor's delete by status and age reads the same one).
#[tokio::test]
async fn listing_deliveries_newest_first_reads_an_index() {
    let app = crate::helpers::spawn_app().await;
    for (sql, index) in [
        (
            "SELECT * FROM webhook_deliveries WHERE status = 'failed' ORDER BY created_at DESC, id DESC LIMIT 21",
            "webhook_deliveries_status_created_idx",
        ),
        (
            "SELECT * FROM webhook_deliveries ORDER BY created_at DESC, id DESC LIMIT 21",
            "webhook_deliveries_created_idx",
        ),
        (
            "SELECT id FROM webhook_deliveries WHERE status = 'delivered' AND created_at < 5 AND (last_attempt_at IS NULL OR last_attempt_at < 5) LIMIT 1000",
            "webhook_deliveries_status_created_idx",
        ),
    ] {
        let plan = crate::indexes::plan(&app, sql).await;
        assert!(plan.contains(index), "{sql}\n{plan}");
    }
}
