//! Keys that differ between nodes: a node whose encryption key or JWT
//! secret is not the one the database records refuses to start with one
//! line naming the setting; a rotation (the old key listed as previous)
//! starts, and tokens of the old secret still verify; on PostgreSQL no key
//! is generated. Refused tokens are counted by reason.

use std::time::Duration;

use authd::config::{Secret, Settings};
use reqwest::StatusCode;

use crate::helpers::{PASSWORD, TestApp, builder, fresh_postgres, postgres_url};
use crate::metrics::{scrape, value};

const KEY_A: [u8; 32] = [1; 32];
const KEY_B: [u8; 32] = [2; 32];
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

fn assert_one_line_naming(line: &str, setting: &str) {
    assert!(!line.contains('\n'), "{line}");
    assert!(
        line.starts_with(&format!(
            "{setting} differs from the key the other nodes use"
        )),
        "{line}"
    );
    assert!(line.contains("Rotating keys"), "{line}");
}

#[tokio::test]
async fn a_node_with_another_encryption_key_is_refused_naming_it() {
    let app = first_node().await;
    let line = another_node(&app, |s| s.encryption_key = Some(Secret(KEY_B.to_vec())))
        .await
        .err()
        .expect("refused");
    assert_one_line_naming(&line, "AUTH_ENCRYPTION_KEY");
    // The worker too.
    let mut settings = app.settings.clone();
    settings.encryption_key = Some(Secret(KEY_B.to_vec()));
    let e = authd::startup::run_worker_only(settings, std::future::pending())
        .await
        .unwrap_err();
    assert_one_line_naming(&format!("{e:#}"), "AUTH_ENCRYPTION_KEY");
}

#[tokio::test]
async fn a_node_with_another_jwt_secret_is_refused_naming_it() {
    let app = first_node().await;
    let line = another_node(&app, |s| s.jwt_secret = Some(Secret(SECRET_B.to_vec())))
        .await
        .err()
        .expect("refused");
    assert_one_line_naming(&line, "AUTH_JWT_SECRET");
}

#[tokio::test]
async fn a_rotation_starts_and_old_tokens_still_verify() {
    let app = first_node().await;
    let (email, old_token, _) = app.logged_in_user().await;
    let rotated = another_node(&app, |s| {
        s.encryption_key = Some(Secret(KEY_B.to_vec()));
        s.encryption_keys_previous = vec![Secret(KEY_A.to_vec())];
        s.jwt_secret = Some(Secret(SECRET_B.to_vec()));
        s.jwt_secret_previous = Some(Secret(SECRET_A.to_vec()));
    })
    .await
    .expect("a rotation starts");
    assert_eq!(rotated.verify_token(&old_token).await.0, StatusCode::OK);
    // (A user registered here: a node on the new key seals its mail with
    // it, which the first node's worker could only set aside.)
    let (new_token, _) = rotated.tokens_for(&email, PASSWORD).await;
    assert_eq!(rotated.verify_token(&new_token).await.0, StatusCode::OK);

    // A node left on the old keys alone is refused now.
    let line = another_node(&app, |_| {}).await.err().expect("refused");
    assert_one_line_naming(&line, "AUTH_ENCRYPTION_KEY");
    // A node told about the new keys but still on the old ones starts.
    another_node(&app, |s| {
        s.encryption_keys_previous = vec![Secret(KEY_B.to_vec())];
        s.jwt_secret_previous = Some(Secret(SECRET_B.to_vec()));
    })
    .await
    .expect("the first step of a rotation starts");
    // Once nothing needs the old keys, the new ones alone start.
    another_node(&app, |s| {
        s.encryption_key = Some(Secret(KEY_B.to_vec()));
        s.jwt_secret = Some(Secret(SECRET_B.to_vec()));
    })
    .await
    .expect("the new keys alone start");
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
