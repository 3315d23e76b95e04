//! Readiness means "send me traffic": the database only. Redis down takes
//! no node out of service (every request is served without it); its state
//! is the `authd_redis_up` gauge. (The database stopped: `outage.rs`.)

use std::time::Duration;

use reqwest::StatusCode;

use crate::delivery::RedisServer;
use crate::helpers::{TestApp, builder, eventually, redis_url, unique_email};
use crate::metrics::{scrape, value};
use crate::smtp;

async fn ready(app: &TestApp) -> StatusCode {
    app.client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .status()
}

async fn redis_up(app: &TestApp) -> f64 {
    value(&scrape(app).await, "authd_redis_up", &[])
}

#[tokio::test]
async fn redis_down_leaves_the_node_ready_and_serving_and_the_gauge_says_so() {
    if redis_url().is_none() {
        eprintln!(
            "skipped: set AUTH_TEST_REDIS_URL (and have redis-server on PATH) to run the Redis readiness test"
        );
        return;
    }
    let port = smtp::free_port();
    let redis = RedisServer::start(port).expect("redis-server must be on PATH");
    let url = url::Url::parse(&format!("redis://127.0.0.1:{port}")).expect("url");
    let app = builder()
        .settings(move |s| s.redis_url = Some(url))
        .spawn()
        .await;
    assert_eq!(ready(&app).await, StatusCode::OK);
    eventually("authd_redis_up 1", Duration::from_secs(10), || async {
        redis_up(&app).await == 1.0
    })
    .await;

    redis.stop();
    eventually("authd_redis_up 0", Duration::from_secs(10), || async {
        redis_up(&app).await == 0.0
    })
    .await;
    for _ in 0..4 {
        assert_eq!(ready(&app).await, StatusCode::OK, "ready without Redis");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(app.register(&unique_email()).await.0, StatusCode::CREATED);

    let _redis = RedisServer::start(port).expect("redis-server again");
    eventually(
        "authd_redis_up 1 again",
        Duration::from_secs(15),
        || async { redis_up(&app).await == 1.0 },
    )
    .await;
    assert_eq!(ready(&app).await, StatusCode::OK);
}
