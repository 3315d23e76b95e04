//! Log lines as an operator's tools read them: JSON lines with the request
//! id at the top level, probes kept out of INFO, no colours in a pipe.

use std::time::Duration;

use serde_json::Value;

use crate::binary::{Running, authd, serve_json};

#[tokio::test]
async fn json_lines_within_a_request_carry_its_request_id_at_the_top_level() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, port) = serve_json(dir.path(), |_| {});

    let client = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let resp = client
        .post(url("/api/v1/auth/login/"))
        .header("x-request-id", "abc")
        .json(&serde_json::json!({"email": "nobody@example.com", "password": "Wrong-Horse-42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let probe = client
        .get(url("/healthz"))
        .header("x-request-id", "probe-1")
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);
    app.wait_for(Duration::from_secs(10), |l| {
        l.contains("request finished") && l.contains("abc")
    })
    .expect("the request's line");
    app.drain(Duration::from_millis(500));

    let lines: Vec<Value> = app
        .seen
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let in_request: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["request_id"] == "abc"))
        })
        .collect();
    assert!(in_request.len() >= 2, "{:?}", app.seen);
    for line in &in_request {
        assert_eq!(line["request_id"], "abc", "{line}");
        // a wrong password is a user's mistake, never an ERROR
        assert_ne!(line["level"], "ERROR", "{line}");
    }
    assert!(
        !app.seen.iter().any(|l| l.contains("probe-1")),
        "a health probe logged at INFO: {:?}",
        app.seen
    );
}

#[test]
fn text_logs_have_no_colours_when_not_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = authd(dir.path());
    cmd.args(["serve", "--no-worker"])
        .env("AUTH_BIND", "127.0.0.1:0");
    let mut app = Running::start(cmd);
    app.wait_for(Duration::from_secs(30), |l| l.contains("authd listening"))
        .expect("authd listening");
    assert!(
        !app.seen.iter().any(|l| l.contains('\u{1b}')),
        "{:?}",
        app.seen
    );
}

#[test]
fn serve_with_its_worker_starts_without_warnings_other_than_the_generated_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = authd(dir.path());
    cmd.arg("serve")
        .env("AUTH_BIND", "127.0.0.1:0")
        .env_remove("AUTH_SMTP_URL")
        .env_remove("AUTH_REDIS_URL");
    let mut app = Running::start(cmd);
    app.wait_for(Duration::from_secs(30), |l| {
        l.contains("email worker started")
    })
    .expect("the email worker starts");
    // apalis checks the worker's layers once it runs.
    app.drain(Duration::from_secs(2));
    let warnings: Vec<&String> = app
        .seen
        .iter()
        .filter(|l| l.contains("WARN"))
        .filter(|l| !l.contains("generated a random key into the data directory"))
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}
