//! `/metrics`: the counters a flow moves, the separate listener, and labels
//! that random paths cannot multiply. The recorder is global to the process;
//! nextest runs each test in a process of its own, and every check compares
//! values before and after anyway.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, builder, spawn_app, unique_email};

pub(crate) async fn scrape(app: &TestApp) -> String {
    scrape_at(&app.client, &app.url("/metrics")).await
}

async fn scrape_at(client: &reqwest::Client, url: &str) -> String {
    let resp = client.get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain"), "{ct}");
    resp.text().await.unwrap()
}

/// The sum of the samples of `name` whose labels include `labels`.
pub(crate) fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((m, rest)) => (m, rest),
                None => (series, ""),
            };
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| v.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

struct Moved {
    before: String,
    after: String,
}

impl Moved {
    fn by(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        value(&self.after, name, labels) - value(&self.before, name, labels)
    }
}

#[tokio::test]
async fn a_flow_moves_each_counter_by_what_happened() {
    let app = builder()
        .settings(|s| {
            s.rate_limit_per_minute = 6;
            s.lockout_threshold = 2;
        })
        .spawn()
        .await;
    let before = scrape(&app).await;

    // register, verify, a wrong and a good login, refresh, logout
    let email = unique_email();
    app.verified_user(&email).await;
    assert_eq!(
        app.login(&email, "Wrong-Horse-42").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (access, refresh) = app.tokens_for(&email, PASSWORD).await;
    let (status, body) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["data"]["token"].as_str().map_or(access, str::to_owned);
    assert_eq!(app.logout(&access, None).await.0, StatusCode::OK);

    // a refresh token presented twice
    let (_, refresh) = app.tokens_for(&email, PASSWORD).await;
    assert_eq!(app.refresh(&refresh).await.0, StatusCode::OK);
    assert_eq!(app.refresh(&refresh).await.0, StatusCode::UNAUTHORIZED);

    // a lockout: two wrong passwords, then a refused attempt
    let other = unique_email();
    app.verified_user(&other).await;
    for _ in 0..2 {
        assert_eq!(
            app.login(&other, "Wrong-Horse-42").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login(&other, PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "locked"
    );

    // a 429 from the per-IP limit (6 a minute)
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let (status, _) = app
            .post(
                "/api/v1/auth/resend-verification/",
                &json!({ "email": email }),
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));

    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let after = loop {
        let text = scrape(&app).await;
        let moved_by = |name| value(&text, name, &[]) - value(&before, name, &[]);
        // The relay pushes each mail after its commit: wait for all five.
        if moved_by("authd_email_jobs_sent_total") >= 2.0
            && moved_by("authd_email_jobs_queued_total") >= 5.0
        {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "emails not sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let moved = Moved { before, after };

    let requests = |op, status| {
        moved.by(
            "authd_http_requests_total",
            &[("operation", op), ("status", status)],
        )
    };
    let logins = |outcome| moved.by("authd_logins_total", &[("outcome", outcome)]);
    assert_eq!(logins("success"), 2.0);
    assert_eq!(logins("wrong_password"), 3.0);
    assert_eq!(logins("locked"), 1.0);
    assert_eq!(logins("mfa_required"), 0.0);
    assert_eq!(moved.by("authd_lockouts_total", &[]), 1.0);
    assert_eq!(moved.by("authd_tokens_issued_total", &[]), 2.0);
    assert_eq!(moved.by("authd_tokens_refreshed_total", &[]), 2.0);
    assert_eq!(moved.by("authd_refresh_reuse_total", &[]), 1.0);
    // the logout's session and the reused token's session
    assert_eq!(moved.by("authd_tokens_revoked_total", &[]), 2.0);
    // two verification mails and three alerts: the second login of
    // `email` came from a new device, its token was reused, `other` locked
    assert_eq!(moved.by("authd_email_jobs_queued_total", &[]), 5.0);
    for alert in ["new_device", "refresh_reused", "account_locked"] {
        let queued = moved.by("authd_alerts_queued_total", &[("alert", alert)]);
        assert_eq!(queued, 1.0, "{alert}");
    }
    assert_eq!(moved.by("authd_email_jobs_failed_total", &[]), 0.0);
    assert_eq!(
        moved.by(
            "authd_rate_limited_total",
            &[("operation", "resendVerification")]
        ),
        1.0
    );
    // the lockout's 429 is not a rate limit
    assert_eq!(moved.by("authd_rate_limited_total", &[]), 1.0);
    assert_eq!(requests("login", "429"), 1.0);
    assert_eq!(requests("register", "201"), 2.0);
    assert_eq!(requests("login", "200"), 2.0);
    assert_eq!(requests("login", "401"), 3.0);
    assert_eq!(requests("refreshToken", "200"), 2.0);
    assert_eq!(requests("logout", "200"), 1.0);
    assert_eq!(requests("resendVerification", "429"), 1.0);
    assert!(
        moved.by(
            "authd_http_request_duration_seconds_count",
            &[("operation", "login")]
        ) >= 6.0
    );
    for gauge in [
        "authd_email_outbox_backlog",
        "authd_argon2_queue_depth",
        "authd_user_actors",
    ] {
        assert!(
            moved.after.lines().any(|l| l.starts_with(gauge)),
            "{gauge} missing"
        );
    }
    assert!(value(&moved.after, "authd_user_actors", &[]) >= 1.0);
}

#[tokio::test]
async fn random_paths_count_as_one_unknown_operation() {
    let app = spawn_app().await;
    let before = scrape(&app).await;
    for i in 0..5 {
        let path = format!("/no-such-page-{i}-{}", uuid::Uuid::new_v4().simple());
        assert_eq!(app.get(&path).await.0, StatusCode::NOT_FOUND);
    }
    let after = scrape(&app).await;
    assert!(!after.contains("no-such-page"), "{after}");
    let moved = Moved { before, after };
    assert_eq!(
        moved.by(
            "authd_http_requests_total",
            &[("operation", "unknown"), ("status", "404")]
        ),
        5.0
    );
    let labels = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("authd_http_requests_total{"))
            .filter(|l| l.contains("operation=\"unknown\""))
            .count()
    };
    assert_eq!(labels(&moved.after), 1, "{}", moved.after);
}

#[tokio::test]
async fn metrics_bind_serves_metrics_on_its_own_port_only() {
    let app = builder()
        .settings(|s| s.metrics_bind = Some("127.0.0.1:0".parse().unwrap()))
        .spawn()
        .await;
    let (status, body) = app.get("/metrics").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["status_code"], 404, "{body}");
    let metrics = app.metrics_address.clone().expect("metrics listener");
    assert_ne!(metrics, app.address);
    let text = scrape_at(&app.client, &format!("{metrics}/metrics")).await;
    assert!(text.contains("authd_http_requests_total"), "{text}");
}

#[tokio::test]
async fn metrics_are_not_in_the_openapi_document_nor_rate_limited() {
    let app = builder()
        .settings(|s| s.rate_limit_per_minute = 1)
        .spawn()
        .await;
    for _ in 0..5 {
        scrape(&app).await;
    }
    let (_, spec) = app.get("/openapi.json").await;
    assert!(spec["paths"].get("/metrics").is_none());
}

/// The answer to `GET path` (status, body) with extra headers.
async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut req = app.client.get(app.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// `/metrics` answers exactly as a path that does not exist.
async fn assert_hidden(app: &TestApp, headers: &[(&str, &str)]) {
    let (_, unknown) = get_with(app, "/no-such-page", &[]).await;
    for path in ["/metrics", "/metrics/"] {
        let (status, body) = get_with(app, path, headers).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} {headers:?}: {body}");
        assert_eq!(body, unknown, "{path} {headers:?}");
    }
    let mut post = app.client.post(app.url("/metrics"));
    for (name, value) in headers {
        post = post.header(*name, *value);
    }
    let resp = post.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "POST {headers:?}");
}

/// An app listening on every interface (not loopback), reached over
/// 127.0.0.1 as usual.
async fn on_every_interface(token: Option<&'static str>) -> TestApp {
    builder()
        .settings(move |s| {
            s.bind = "0.0.0.0:0".parse().unwrap();
            set_token(s, token);
        })
        .spawn()
        .await
}

#[tokio::test]
async fn metrics_on_a_bind_that_is_not_loopback_are_a_404_without_a_token() {
    let app = on_every_interface(None).await;
    assert_hidden(&app, &[]).await;
    assert_hidden(&app, &[("authorization", "Bearer anything")]).await;
}

#[tokio::test]
async fn a_scrape_forwarded_by_a_proxy_to_a_loopback_bind_is_not_local() {
    let app = spawn_app().await;
    scrape(&app).await;
    assert_hidden(&app, &[("x-forwarded-for", "203.0.113.7")]).await;
    assert_hidden(&app, &[("forwarded", "for=203.0.113.7")]).await;
}

fn set_token(s: &mut authd::config::Settings, token: Option<&str>) {
    s.metrics_token = token.map(|t| authd::config::Secret(t.as_bytes().to_vec()));
}

const TOKEN: &str = "m3tr1cs-0123456789abcdef-0123456789";

#[tokio::test]
async fn the_metrics_token_opens_metrics_on_a_bind_that_is_not_loopback() {
    let app = on_every_interface(Some(TOKEN)).await;
    assert_hidden(&app, &[]).await;
    let prefix = &TOKEN[..TOKEN.len() - 1];
    for wrong in [
        format!("Bearer {prefix}"),
        format!("Bearer {TOKEN}x"),
        format!("Basic {TOKEN}"),
        TOKEN.to_owned(),
    ] {
        assert_hidden(&app, &[("authorization", &wrong)]).await;
    }
    let bearer = format!("Bearer {TOKEN}");
    for path in ["/metrics", "/metrics/"] {
        let (status, text) = get_with(&app, path, &[("authorization", &bearer)]).await;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        assert!(text.contains("authd_http_requests_total"), "{text}");
    }
    // Through a proxy, too: the token is what counts.
    let (status, _) = get_with(
        &app,
        "/metrics",
        &[
            ("authorization", &bearer),
            ("x-forwarded-for", "203.0.113.7"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn the_binary_refuses_a_short_metrics_token_with_one_line_that_does_not_show_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .arg("migrate")
        .env("AUTH_METRICS_TOKEN", "hunter2-metrics")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("AUTH_METRICS_TOKEN"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test]
async fn a_worker_serves_probes_and_metrics_on_the_metrics_bind() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::smtp::free_port();
    let mut worker = crate::binary::Running::start({
        let mut cmd = crate::binary::authd(dir.path());
        cmd.env("AUTH_METRICS_BIND", format!("127.0.0.1:{port}"))
            .arg("worker");
        cmd
    });
    assert!(
        worker
            .wait_for(Duration::from_secs(20), |l| l.contains("worker probes"))
            .is_some(),
        "{:?}",
        worker.seen
    );
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    for (path, message) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let resp = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["success"], json!(true), "{path}");
        assert_eq!(body["message"], json!(message), "{path}");
    }
    let text = scrape_at(&client, &format!("{base}/metrics")).await;
    for gauge in [
        "authd_email_outbox_backlog",
        "authd_email_outbox_failed",
        "authd_db_pool_connections",
        "authd_process_open_fds",
        "authd_process_resident_memory_bytes",
    ] {
        assert!(text.contains(gauge), "{gauge} in {text}");
    }
}

#[tokio::test]
async fn every_series_says_what_it_counts_and_the_build_is_named() {
    let app = spawn_app().await;
    let _ = app.logged_in().await;
    let text = scrape(&app).await;
    for name in [
        "authd_logins_total",
        "authd_http_requests_total",
        "authd_build_info",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
    }
    assert!(
        text.contains(&format!(
            "authd_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
}
