//! Nothing secret leaks by the side door: caching and sniffing headers on
//! every `/api` answer, `Allow` on every 405, a strict policy for the
//! Swagger UI page, private files on disk, and no registrant-typed text in
//! mail to an address nobody has proven.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use poem::{Route, handler};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{
    PASSWORD, RESET_SUBJECT, builder, eventually, registration, remember_secret, spawn_app,
    unique_email,
};
use crate::smtp::free_port;

/// The headers API.md asks of every `/api` answer.
fn assert_private(resp: &reqwest::Response, what: &str) {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header("cache-control").as_deref(),
        Some("no-store"),
        "{what}"
    );
    assert_eq!(
        header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
}

#[handler]
fn explode() -> &'static str {
    panic!("side door test panic")
}

#[tokio::test]
async fn every_api_answer_carries_no_store_and_nosniff_errors_included() {
    let app = spawn_app().await;
    let c = &app.client;
    let mut big = registration(&unique_email());
    big["first_name"] = json!("x".repeat(70 * 1024));
    let cases = [
        (
            "201",
            c.post(app.url("/api/v1/auth/register/"))
                .json(&registration(&unique_email())),
        ),
        (
            "400",
            c.post(app.url("/api/v1/auth/register/"))
                .header("content-type", "application/json")
                .body("{not json"),
        ),
        (
            "401",
            c.get(app.url("/api/v1/auth/verify-token/"))
                .bearer_auth("not-a-token"),
        ),
        ("404", c.get(app.url("/api/v1/nope"))),
        ("405", c.delete(app.url("/api/v1/auth/register/"))),
        ("413", c.post(app.url("/api/v1/auth/register/")).json(&big)),
    ];
    for (status, request) in cases {
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status().as_str(), status);
        assert_private(&resp, status);
    }

    let limited = builder()
        .settings(|s| s.rate_limit_per_minute = 1)
        .spawn()
        .await;
    let login = || {
        limited
            .client
            .post(limited.url("/api/v1/auth/login/"))
            .json(&json!({"email": unique_email(), "password": PASSWORD}))
            .send()
    };
    let _ = login().await.unwrap();
    let resp = login().await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_private(&resp, "429");

    use poem::listener::{Acceptor, Listener, TcpListener};
    let table = openapi::routes::Routes::new([openapi::routes::Operation::new(
        "/api/boom",
        poem::http::Method::POST,
        "boom",
    )]);
    let ep = openapi::with_middleware(Route::new().at("/api/boom", poem::post(explode)), table);
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(ep));
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/boom"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_private(&resp, "500");
}

#[tokio::test]
async fn every_405_names_the_methods_its_path_accepts() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        (Method::DELETE, "/api/v1/auth/register/", "POST"),
        (Method::GET, "/api/v1/auth/register", "POST"),
        (Method::PUT, "/api/v1/2fa/enable", "POST"),
        (Method::POST, "/api/v1/auth/verify-token/", "GET, HEAD"),
        (Method::PATCH, "/healthz", "GET, HEAD"),
        (Method::POST, "/docs", "GET, HEAD"),
        (Method::DELETE, "/openapi.json", "GET, HEAD"),
    ] {
        let resp = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(
            resp.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "Method not allowed", "{method} {path}");
    }
}

/// The content of every inline `<tag>` element of `html`, read as a browser
/// reads the raw-text elements `<script>` and `<style>`: from the end of the
/// opening tag to the next `</script` or `</style`, no tag inside.
fn inline(html: &str, tag: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = html;
    loop {
        let next = ["script", "style"]
            .into_iter()
            .filter_map(|t| rest.find(&format!("<{t}")).map(|i| (i, t)))
            .min();
        let Some((start, t)) = next else { break };
        let body = &rest[start..];
        let body = &body[body.find('>').unwrap() + 1..];
        let end = body.find(&format!("</{t}")).unwrap();
        if t == tag {
            found.push(body[..end].to_owned());
        }
        rest = &body[end..];
        rest = &rest[rest.find('>').unwrap() + 1..];
    }
    found
}

fn sha256(text: &str) -> String {
    format!(
        "'sha256-{}'",
        data_encoding::BASE64.encode(&Sha256::digest(text.as_bytes()))
    )
}

#[tokio::test]
async fn the_docs_page_runs_only_its_own_inline_script_and_style() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let policy = resp
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .expect("no Content-Security-Policy on /docs")
        .to_owned();
    let html = resp.text().await.unwrap();
    let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
    assert!(directives.contains(&"default-src 'none'"), "{policy}");
    assert!(directives.contains(&"frame-ancestors 'none'"), "{policy}");
    assert!(directives.contains(&"connect-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    for (tag, directive) in [("script", "script-src"), ("style", "style-src")] {
        let allowed: Vec<String> = inline(&html, tag).iter().map(|s| sha256(s)).collect();
        assert!(!allowed.is_empty(), "the page has inline {tag}");
        assert!(
            directives.contains(&format!("{directive} {}", allowed.join(" ")).as_str()),
            "{directive} should allow exactly the page's inline {tag}s: {policy}"
        );
    }
}

#[tokio::test]
async fn the_verification_mail_carries_no_name_the_registrant_typed() {
    let app = spawn_app().await;
    let email = unique_email();
    let mut form = registration(&email);
    form["first_name"] = json!("Visit evil.example now");
    form["last_name"] = json!("Call 555-0100");
    let (status, body) = app.post("/api/v1/auth/register/", &form).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app
        .post(
            "/api/v1/auth/resend-verification/",
            &json!({ "email": email }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let mails = app.smtp.wait_for(&email, 2, Duration::from_secs(10)).await;
    for mail in &mails {
        for part in [&mail.subject, &mail.text, &mail.html, &mail.raw] {
            for typed in ["evil.example", "Visit", "555-0100", "Call"] {
                assert!(!part.contains(typed), "{typed:?} in {part}");
            }
        }
        assert!(mail.text.contains("verify-email?token="), "{}", mail.text);
        assert!(mail.html.contains("verify-email?token="), "{}", mail.html);
    }
    // The resend voided the first link; the second one activates.
    let mut statuses = Vec::new();
    for mail in &mails {
        let token = mail.token();
        remember_secret(&token);
        statuses.push(app.verify_email(&token).await.0);
    }
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
}

#[tokio::test]
async fn a_reset_mail_to_an_unverified_address_carries_no_name_either() {
    let app = spawn_app().await;
    let email = unique_email();
    let mut form = registration(&email);
    form["first_name"] = json!("Visit evil.example now");
    let (status, body) = app.post("/api/v1/auth/register/", &form).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app.request_reset(&email).await;
    assert_eq!(status, StatusCode::OK);
    let mails = app
        .smtp
        .wait_for_subject(&email, RESET_SUBJECT, 1, Duration::from_secs(10))
        .await;
    for part in [
        &mails[0].subject,
        &mails[0].text,
        &mails[0].html,
        &mails[0].raw,
    ] {
        for typed in ["evil.example", "Visit"] {
            assert!(!part.contains(typed), "{typed:?} in {part}");
        }
    }
    assert!(
        mails[0].text.contains("reset-password?token="),
        "{}",
        mails[0].text
    );
    remember_secret(&mails[0].token());

    // Once the address is proved, its reset mail may greet by name.
    let verified = unique_email();
    app.verified_user(&verified).await;
    app.request_reset(&verified).await;
    let mails = app
        .smtp
        .wait_for_subject(&verified, RESET_SUBJECT, 1, Duration::from_secs(10))
        .await;
    remember_secret(&mails[0].token());
    let name = registration(&verified)["first_name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        mails[0].text.contains(&format!("Hello {name},")),
        "{}",
        mails[0].text
    );
}

/// `authd serve`, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every file and directory under `dir`, `dir` included.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn the_data_directory_and_everything_authd_writes_into_it_are_private() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let outbox = data.join("outbox");
    let port = free_port();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_authd"))
            .arg("serve")
            .current_dir(root.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AUTH_BIND", format!("127.0.0.1:{port}"))
            .env("AUTH_DATA_DIR", &data)
            .env(
                "AUTH_DATABASE_URL",
                format!("sqlite://{}/authd.db?mode=rwc", data.display()),
            )
            .env("AUTH_OUTBOX_DIR", &outbox)
            .env("AUTH_ARGON2_MEMORY_KIB", "1024")
            .env("AUTH_ARGON2_ITERATIONS", "1")
            .env("AUTH_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start `authd serve`"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    eventually("authd serve to answer", Duration::from_secs(30), || {
        let req = client.get(format!("{base}/healthz")).send();
        async move { req.await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    let resp = client
        .post(format!("{base}/api/v1/auth/register/"))
        .json(&registration(&unique_email()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    eventually("an .eml file", Duration::from_secs(15), || {
        let outbox = outbox.clone();
        async move {
            std::fs::read_dir(&outbox).is_ok_and(|d| {
                d.flatten()
                    .any(|e| e.path().extension().is_some_and(|x| x == "eml"))
            })
        }
    })
    .await;

    let paths = walk(&data);
    let names: Vec<String> = paths
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    for expected in [
        "authd.db",
        "authd.db-wal",
        "queue.db",
        "outbox",
        "encryption_key",
        "jwt_secret",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not in {names:?}"
        );
    }
    assert!(names.iter().any(|n| n.ends_with(".eml")), "{names:?}");
    for path in paths {
        let meta = std::fs::metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }
}
