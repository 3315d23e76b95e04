//! Keys that differ between nodes: on PostgreSQL no key is generated.
//! Refused tokens are counted by reason.

use std::time::Duration;

use authd::config::{Secret, Settings};
use reqwest::StatusCode;

use crate::helpers::{PASSWORD, TestApp, builder, fresh_postgres, postgres_url};
use crate::metrics::{scrape, value};

const KEY_A: [u8; 32] = [1; 32];
const SECRET_A: &[u8] = b"secret-a-secret-a-secret-a-secret-a-secret";
const SECRET_B: &[u8] = b"secret-b-secret-b-secret-b-secret-b-secret";

/// A node with keys A on a fresh database.
async fn first_node() -> TestApp {
    builder()
        .settings(|s| {
            s.encryption_key = Some(Secret(KEY_A.to_vec()));
            s.jwt_secret = Some(Secret(SECRET_A.to_vec()));
        })
        .spawn()
        .await
}

/// Builds another node on `app`'s database with `change`d settings: the
/// error line, or the running node.
async fn another_node(
    app: &TestApp,
    change: impl FnOnce(&mut Settings),
) -> Result<TestApp, String> {
    let mut settings = app.settings.clone();
    change(&mut settings);
    builder()
        .smtp(app.smtp.clone())
        .settings(move |s| *s = settings)
        .try_spawn()
        .await
        .map_err(|e| format!("{e:#}"))
}

#[tokio::test]
async fn refused_tokens_are_counted_by_reason() {
    let app = first_node().await;
    let (email, token, _) = app.logged_in_user().await;
    let rotated = another_node(&app, |s| {
        s.jwt_secret = Some(Secret(SECRET_B.to_vec()));
        s.jwt_secret_previous = Some(Secret(SECRET_A.to_vec()));
    })
    .await
    .expect("a rotation starts");
    let (new_token, _) = rotated.tokens_for(&email, PASSWORD).await;

    let before = scrape(&app).await;
    let forged = {
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[2] = "AAAA";
        parts.join(".")
    };
    let cases = [
        (forged.as_str(), "signature"),
        ("not-a-token", "malformed"),
        // Signed by a secret this node does not know.
        (new_token.as_str(), "unknown_key"),
    ];
    for (token, _) in cases {
        assert_eq!(app.verify_token(token).await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = app.logout(&token, None).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(app.verify_token(&token).await.0, StatusCode::UNAUTHORIZED);
    let (fresh, _) = app.logged_in().await;
    app.clock.advance_ms(2 * 3600 * 1000);
    assert_eq!(app.verify_token(&fresh).await.0, StatusCode::UNAUTHORIZED);
    let after = scrape(&app).await;

    let moved = |reason: &str| {
        let labels = [("reason", reason)];
        value(&after, "authd_tokens_rejected_total", &labels)
            - value(&before, "authd_tokens_rejected_total", &labels)
    };
    for reason in [
        "signature",
        "malformed",
        "unknown_key",
        "revoked",
        "expired",
    ] {
        assert!(moved(reason) >= 1.0, "{reason} did not move:\n{after}");
    }
}

#[tokio::test]
async fn on_postgres_a_node_without_keys_refuses_to_start_naming_the_setting() {
    let Some(base) = postgres_url() else {
        eprintln!("skipped: set AUTH_TEST_DATABASE_URL to run it on PostgreSQL");
        return;
    };
    let url = fresh_postgres(&base).await;
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        crate::binary::authd(dir.path())
            .arg("serve")
            .env("AUTH_DATABASE_URL", &url)
            .env("AUTH_BIND", "127.0.0.1:0")
            .env("AUTH_LOG", "warn")
            .env_remove("AUTH_ENCRYPTION_KEY")
            .env_remove("AUTH_JWT_SECRET")
            .output()
            .unwrap()
    });
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .expect("authd stops")
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("AUTH_ENCRYPTION_KEY is not set"),
        "{lines:?}"
    );
}
