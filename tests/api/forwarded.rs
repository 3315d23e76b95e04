//! The client behind a trusted proxy (the test app trusts 127.0.0.1, the
//! test client's own address) is read from `X-Forwarded-For` as raw bytes,
//! from the right: a hop that is not an address (non-UTF-8 bytes, a word)
//! never makes the request the proxy's own, and the address the proxy
//! appended is believed whatever the client wrote before it. From a peer
//! that is not trusted the header is ignored, with one warning per peer.

use reqwest::StatusCode;
use reqwest::header::HeaderValue;

use crate::helpers::{TestApp, builder};

const LOGIN: &str = "/api/v1/auth/login/";

/// A rate limit of 5 a minute per client, the test client a trusted proxy.
async fn limited() -> TestApp {
    builder()
        .settings(|s| s.rate_limit_per_minute = 5)
        .spawn()
        .await
}

/// POSTs an empty login (400 unless rate limited) with these
/// `X-Forwarded-For` lines, in order, as raw bytes.
async fn login_via(app: &TestApp, lines: &[&[u8]]) -> StatusCode {
    let mut req = app
        .client
        .post(app.url(LOGIN))
        .header("content-type", "application/json")
        .body("{}");
    for line in lines {
        let value = HeaderValue::from_bytes(line).expect("header bytes");
        req = req.header("x-forwarded-for", value);
    }
    req.send().await.expect("request failed").status()
}

/// Spends the 5 requests of a budget with `lines`, then checks the sixth
/// is refused: they were all counted as one client.
async fn spend(app: &TestApp, lines: &[&[u8]]) {
    for n in 1..=5 {
        let status = login_via(app, lines).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "request {n} of {lines:?}");
    }
    let status = login_via(app, lines).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{lines:?}");
}

#[tokio::test]
async fn a_hop_that_is_not_an_address_never_makes_the_client_the_proxy() {
    let app = limited().await;
    // The hop next to the proxy is not an address: who sent this is not
    // known, so neither that hop nor anything left of it is believed.
    spend(&app, &[b"203.0.113.7, \xff"]).await;
    // The proxy's own requests (no header) were not spent ...
    assert_eq!(login_via(&app, &[]).await, StatusCode::BAD_REQUEST);
    // ... nor those of the address left of the garbage.
    assert_eq!(
        login_via(&app, &[b"203.0.113.7"]).await,
        StatusCode::BAD_REQUEST
    );
    // A word there is no better than a stray byte.
    assert_eq!(
        login_via(&app, &[b"203.0.113.7, unknown"]).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(login_via(&app, &[]).await, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_address_a_proxy_appended_is_believed_whatever_bytes_the_client_wrote_before_it() {
    let app = limited().await;
    // nginx's `$proxy_add_x_forwarded_for`: the client's own header, then
    // the address the proxy saw.
    spend(&app, &[b"\xff\xfe, 198.51.100.7"]).await;
    // That client is 198.51.100.7, however it is written ...
    assert_eq!(
        login_via(&app, &[b"198.51.100.7"]).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ... and the proxy itself was not spent.
    assert_eq!(login_via(&app, &[]).await, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn several_x_forwarded_for_lines_are_one_list_read_from_the_last() {
    let app = limited().await;
    // The last line holds the hop nearest the proxy.
    spend(&app, &[b"\xff", b"192.0.2.10, 198.51.100.8"]).await;
    assert_eq!(
        login_via(&app, &[b"198.51.100.8"]).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_via(&app, &[b"192.0.2.10"]).await,
        StatusCode::BAD_REQUEST
    );
    // Garbage in the last line: unknown, not the proxy, not the first line.
    spend(&app, &[b"192.0.2.11", b"\xff"]).await;
    assert_eq!(login_via(&app, &[]).await, StatusCode::BAD_REQUEST);
    assert_eq!(
        login_via(&app, &[b"192.0.2.11"]).await,
        StatusCode::BAD_REQUEST
    );
}

/// Without `AUTH_TRUSTED_PROXIES`, a forwarding header from the peer is
/// ignored, and the log says so once for that peer, not once a request.
#[tokio::test]
async fn a_forwarding_header_from_an_untrusted_peer_is_warned_about_once() {
    use std::time::Duration;

    use crate::binary::serve_json;

    let dir = tempfile::tempdir().unwrap();
    let (mut app, port) = serve_json(dir.path(), |cmd| {
        cmd.env_remove("AUTH_TRUSTED_PROXIES");
    });
    let client = reqwest::Client::new();
    for (header, value) in [
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-for", "203.0.113.8"),
        ("forwarded", "for=203.0.113.9"),
    ] {
        let resp = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    app.wait_for(Duration::from_secs(10), |l| {
        l.contains("AUTH_TRUSTED_PROXIES")
    })
    .expect("the warning");
    app.drain(Duration::from_millis(500));
    let warnings: Vec<&String> = app
        .seen
        .iter()
        .filter(|l| l.contains("AUTH_TRUSTED_PROXIES"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].contains("WARN"), "{warnings:#?}");
    assert!(warnings[0].contains("127.0.0.1"), "{warnings:#?}");
}
