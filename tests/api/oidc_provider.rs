//! A real OpenID provider for the sign-in tests: panva's `oidc-provider`
//! (tests/oidc/provider.mjs, run by Node), and a browser stand-in that logs in
//! on its own login page. The provider needs `node` and `npm ci` in
//! tests/oidc; without them a test skips and says so, unless
//! `AUTH_TEST_REQUIRE_OIDC` is set (`.ci/run` sets it after installing): then
//! it fails.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

use crate::helpers::{remember_secret, unique_email};

/// The client the default [`ProviderConfig`] registers.
pub(crate) const CLIENT_ID: &str = "authd-test";
/// Its secret (`client_secret_basic`).
pub(crate) const CLIENT_SECRET: &str = "authd-test-secret-0123456789abcdef-a8f3c2d1";
/// Its redirect URI: any port, the callback of an authd provider with id `test`.
pub(crate) const REDIRECT_URI_PATTERN: &str = "http://127.0.0.1:*/api/v1/auth/oidc/test/callback/";

/// How long the provider may take to say it listens (it takes under a
/// second; a start that hangs is killed and another started).
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How many starts a test tries before it fails.
const START_ATTEMPTS: u32 = 3;
/// How long a restart keeps trying to bind its old port.
const REBIND_FOR: Duration = Duration::from_secs(10);

fn oidc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// What the provider serves: its clients (client metadata as oidc-provider
/// takes it; a redirect URI may have `*` as its port), its accounts
/// (`{"<login>": {"email"?, "email_verified"?, "given_name"?,
/// "family_name"?, "name"?}}`; the login is the `sub`, as the provider's own
/// login page makes it, so a `"sub"` other than the login is refused; a login
/// not listed signs in with only a `sub`), and whether the ID token carries the
/// email and profile claims (otherwise only userinfo has them).
#[derive(Debug, Clone)]
pub(crate) struct ProviderConfig {
    pub(crate) clients: Vec<Value>,
    pub(crate) accounts: Value,
    pub(crate) claims_in_id_token: bool,
}

impl Default for ProviderConfig {
    /// One client, [`CLIENT_ID`] with [`CLIENT_SECRET`] by
    /// `client_secret_basic`, redirecting to [`REDIRECT_URI_PATTERN`]; one
    /// account, `alice` (alice@example.com, verified, Alice Liddell); claims
    /// from userinfo only.
    fn default() -> Self {
        ProviderConfig {
            clients: vec![json!({
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [REDIRECT_URI_PATTERN],
                "token_endpoint_auth_method": "client_secret_basic",
            })],
            accounts: json!({
                "alice": {
                    "email": "alice@example.com",
                    "email_verified": true,
                    "given_name": "Alice",
                    "family_name": "Liddell",
                },
            }),
            claims_in_id_token: false,
        }
    }
}

/// A running OpenID provider on 127.0.0.1, killed when dropped (and gone by
/// itself when the test process dies: it exits when its stdin closes).
/// Its login page takes any password; consent is never asked; PKCE S256 is
/// required; every start signs with a new RSA key (random `kid`).
pub(crate) struct OidcProvider {
    child: Option<Child>,
    clients: Vec<Value>,
    /// The configured accounts and those added since, kept for a restart.
    accounts: Mutex<Value>,
    claims_in_id_token: bool,
    issuer: String,
    port: u16,
}

enum Spawned {
    Ready(Child, String, u16),
    /// The process ended before it listened (e.g. the port still taken).
    Exited(String),
}

impl OidcProvider {
    /// Starts the provider on a free port. None when `node` or
    /// tests/oidc/node_modules is missing (the test should return: it prints
    /// `skipped: …`), a panic instead when `AUTH_TEST_REQUIRE_OIDC` is set.
    pub(crate) async fn start(cfg: ProviderConfig) -> Option<OidcProvider> {
        let required = std::env::var_os("AUTH_TEST_REQUIRE_OIDC").is_some();
        let installed = oidc_dir().join("node_modules/oidc-provider/package.json");
        if !installed.exists() {
            let why = format!(
                "the OpenID provider is not installed ({} missing: cd tests/oidc && npm ci)",
                installed.display()
            );
            if required {
                panic!("{why}");
            }
            eprintln!("skipped: {why}");
            return None;
        }
        for client in &cfg.clients {
            if let Some(secret) = client["client_secret"].as_str() {
                // The suite's log check looks for it in every log line.
                remember_secret(secret);
            }
        }
        let mut provider = OidcProvider {
            child: None,
            clients: cfg.clients,
            accounts: Mutex::new(cfg.accounts),
            claims_in_id_token: cfg.claims_in_id_token,
            issuer: String::new(),
            port: 0,
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            match provider.spawn(0).await {
                Ok(Spawned::Ready(child, issuer, port)) => {
                    provider.child = Some(child);
                    provider.issuer = issuer;
                    provider.port = port;
                    return Some(provider);
                }
                Ok(Spawned::Exited(why)) if attempts < START_ATTEMPTS => {
                    eprintln!("the OpenID provider did not start ({why}): starting another");
                }
                Ok(Spawned::Exited(why)) => panic!("the OpenID provider did not start: {why}"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                    eprintln!("skipped: the OpenID provider needs node (Node.js 20 or later): {e}");
                    return None;
                }
                Err(e) => panic!("cannot run node for the OpenID provider: {e}"),
            }
        }
    }

    /// Its issuer, `http://127.0.0.1:<port>` (no trailing slash).
    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The port it listens on (the same after a restart).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Adds (or replaces) an account while it runs; kept across restarts.
    /// `claims` as in [`ProviderConfig::accounts`].
    pub(crate) async fn add_account(&self, login: &str, claims: Value) {
        let body = json!({ login: claims });
        let resp = reqwest::Client::new()
            .post(format!("{}/__test/accounts", self.issuer))
            .json(&body)
            .send()
            .await
            .expect("the OpenID provider answers");
        let status = resp.status();
        assert_eq!(
            status.as_u16(),
            204,
            "adding the account {login}: {}",
            resp.text().await.unwrap_or_default()
        );
        if let Some(accounts) = self.accounts.lock().unwrap().as_object_mut() {
            accounts.insert(login.to_owned(), body[login].clone());
        }
    }

    /// Takes the provider down (connections to its port are refused) until
    /// [`OidcProvider::restart`].
    pub(crate) async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Stops it and starts it again on the same port, with the same clients
    /// and accounts: the same issuer, a new signing key, and its sessions,
    /// codes and tokens forgotten.
    pub(crate) async fn restart(&mut self) {
        self.stop().await;
        let since = Instant::now();
        loop {
            match self.spawn(self.port).await {
                Ok(Spawned::Ready(child, issuer, port)) => {
                    assert_eq!((issuer.as_str(), port), (self.issuer.as_str(), self.port));
                    self.child = Some(child);
                    return;
                }
                Ok(Spawned::Exited(why)) if since.elapsed() < REBIND_FOR => {
                    eprintln!("the OpenID provider did not restart ({why}), trying again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(Spawned::Exited(why)) => {
                    panic!(
                        "the OpenID provider did not restart on port {}: {why}",
                        self.port
                    )
                }
                Err(e) => panic!("cannot run node for the OpenID provider: {e}"),
            }
        }
    }

    async fn spawn(&self, port: u16) -> std::io::Result<Spawned> {
        let accounts = self.accounts.lock().unwrap().to_string();
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(oidc_dir())
            .env("OIDC_PORT", port.to_string())
            .env(
                "OIDC_CLIENTS",
                Value::from(self.clients.clone()).to_string(),
            )
            .env("OIDC_ACCOUNTS", accounts)
            .env(
                "OIDC_CLAIMS_IN_ID_TOKEN",
                if self.claims_in_id_token { "1" } else { "0" },
            )
            // Kept open: the provider exits when it closes.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Ok(ready) = serde_json::from_str::<Value>(&line)
                    && let (Some(issuer), Some(port)) =
                        (ready["issuer"].as_str(), ready["port"].as_u64())
                {
                    return Ok(Some((issuer.to_owned(), port)));
                }
                eprintln!("oidc provider: {line}");
            }
            Ok::<_, std::io::Error>(None)
        })
        .await;
        match ready {
            Ok(Ok(Some((issuer, port)))) => {
                // Anything it prints later goes to the test's output.
                tokio::spawn(async move {
                    while let Ok(Some(line)) = lines.next_line().await {
                        eprintln!("oidc provider: {line}");
                    }
                });
                let port = u16::try_from(port).expect("a port");
                Ok(Spawned::Ready(child, issuer, port))
            }
            Ok(Ok(None)) | Ok(Err(_)) => {
                let status = child.wait().await?;
                Ok(Spawned::Exited(format!(
                    "it exited ({status}) before listening; its stderr is above"
                )))
            }
            Err(_) => {
                // Seen about once in a few hundred starts in CI: node ran
                // (its warning printed) but never said it listened. Not
                // understood yet; the caller starts another.
                let _ = child.kill().await;
                Ok(Spawned::Exited(format!(
                    "it did not say it listened within {START_TIMEOUT:?}"
                )))
            }
        }
    }
}

/// Plays the browser at the provider: opens `authorize_url`, signs in as
/// `login` (any password) on the provider's own login page, and follows the
/// provider's redirects until one leaves its origin. Returns that URL, the
/// relying party's callback with `code` and `state` (or `error=…`). Panics,
/// with the page, on anything else.
pub(crate) async fn login_at_provider(authorize_url: &str, login: &str) -> String {
    let mut browser = Browser::new(authorize_url);
    let mut at = authorize_url.to_owned();
    let mut signed_in = false;
    for _ in 0..20 {
        let page = match browser.get(&at).await {
            Step::Left(url) => return url,
            Step::Redirect(url) => {
                at = url;
                continue;
            }
            Step::Page(page) => page,
        };
        if signed_in || !page.contains("name=\"login\"") {
            panic!("unexpected page at the OpenID provider ({at}):\n{page}");
        }
        let Some((action, mut fields)) = form(&page) else {
            panic!("no login form at the OpenID provider ({at}):\n{page}");
        };
        fields.insert("login".to_owned(), login.to_owned());
        fields.insert("password".to_owned(), "any password".to_owned());
        let action = browser.resolve(&at, &action);
        match browser.post_form(&action, &fields).await {
            Step::Left(url) => return url,
            Step::Redirect(url) => at = url,
            Step::Page(page) => panic!("the login was not taken ({action}):\n{page}"),
        }
        signed_in = true;
    }
    panic!("the OpenID provider redirected too often, last to {at}");
}

/// Plays the browser at the provider, but cancels on its login page (its
/// `[ Cancel ]` link). Returns the relying party's callback URL, which carries
/// `error=access_denied`.
pub(crate) async fn cancel_at_provider(authorize_url: &str) -> String {
    let mut browser = Browser::new(authorize_url);
    let mut at = authorize_url.to_owned();
    let mut cancelled = false;
    for _ in 0..20 {
        let page = match browser.get(&at).await {
            Step::Left(url) => return url,
            Step::Redirect(url) => {
                at = url;
                continue;
            }
            Step::Page(page) => page,
        };
        let abort = links(&page)
            .into_iter()
            .find(|href| href.ends_with("/abort"));
        match abort {
            Some(href) if !cancelled => {
                at = browser.resolve(&at, &href);
                cancelled = true;
            }
            _ => panic!("unexpected page at the OpenID provider ({at}):\n{page}"),
        }
    }
    panic!("the OpenID provider redirected too often, last to {at}");
}

/// A browser limited to one origin: its cookies (name and value, for every
/// path), redirects seen one at a time.
struct Browser {
    client: reqwest::Client,
    origin: url::Origin,
    cookies: BTreeMap<String, String>,
}

enum Step {
    /// A redirect to another origin: where the browser leaves the provider.
    Left(String),
    /// A redirect within the provider's origin.
    Redirect(String),
    /// A page (200), its text.
    Page(String),
}

impl Browser {
    fn new(authorize_url: &str) -> Browser {
        let origin = Url::parse(authorize_url)
            .unwrap_or_else(|e| panic!("authorize URL {authorize_url}: {e}"))
            .origin();
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            origin,
            cookies: BTreeMap::new(),
        }
    }

    fn resolve(&self, base: &str, href: &str) -> String {
        Url::parse(base)
            .and_then(|b| b.join(&html_unescape(href)))
            .unwrap_or_else(|e| panic!("link {href} at {base}: {e}"))
            .to_string()
    }

    async fn get(&mut self, url: &str) -> Step {
        let req = self.client.get(url);
        self.send(url, req).await
    }

    async fn post_form(&mut self, url: &str, fields: &BTreeMap<String, String>) -> Step {
        let req = self.client.post(url).form(fields);
        self.send(url, req).await
    }

    async fn send(&mut self, url: &str, req: reqwest::RequestBuilder) -> Step {
        let same_origin = Url::parse(url).map(|u| u.origin() == self.origin);
        assert_eq!(same_origin, Ok(true), "{url} is not at the OpenID provider");
        let req = if self.cookies.is_empty() {
            req
        } else {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req.header(reqwest::header::COOKIE, cookie)
        };
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("the OpenID provider at {url}: {e}"));
        for set in resp.headers().get_all(reqwest::header::SET_COOKIE) {
            self.set_cookie(set.to_str().unwrap_or_default());
        }
        let status = resp.status();
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or_else(|| panic!("a {status} without Location from {url}"));
            let next = Url::parse(url).unwrap().join(location).unwrap();
            return if next.origin() == self.origin {
                Step::Redirect(next.to_string())
            } else {
                Step::Left(next.to_string())
            };
        }
        let text = resp.text().await.unwrap_or_default();
        if status != reqwest::StatusCode::OK {
            panic!("{status} from the OpenID provider at {url}:\n{text}");
        }
        Step::Page(text)
    }

    fn set_cookie(&mut self, header: &str) {
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
            return;
        };
        let expired = parts.any(|attr| {
            let attr = attr.trim().to_ascii_lowercase();
            attr == "max-age=0" || (attr.starts_with("expires=") && attr.contains("1970"))
        });
        let name = name.trim().to_owned();
        if expired || value.is_empty() {
            self.cookies.remove(&name);
        } else {
            self.cookies.insert(name, value.trim().to_owned());
        }
    }
}

/// The value of `attr="…"` in one tag's text.
fn attribute(tag: &str, attr: &str) -> Option<String> {
    let start = tag.find(&format!("{attr}=\""))? + attr.len() + 2;
    let len = tag[start..].find('"')?;
    Some(html_unescape(&tag[start..start + len]))
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The first form of a page: its action and its inputs that have a value.
fn form(page: &str) -> Option<(String, BTreeMap<String, String>)> {
    let start = page.find("<form")?;
    let end = start + page[start..].find("</form>")?;
    let form = &page[start..end];
    let action = attribute(&form[..form.find('>')?], "action")?;
    let mut fields = BTreeMap::new();
    for input in form.split("<input").skip(1) {
        let tag = &input[..input.find('>').unwrap_or(input.len())];
        if let (Some(name), Some(value)) = (attribute(tag, "name"), attribute(tag, "value")) {
            fields.insert(name, value);
        }
    }
    Some((action, fields))
}

/// Every link's `href` on a page.
fn links(page: &str) -> Vec<String> {
    page.split("<a ")
        .skip(1)
        .filter_map(|a| attribute(&a[..a.find('>').unwrap_or(a.len())], "href"))
        .collect()
}

// The provider and the browser stand-in, checked against each other.

/// The callback the requests name: a port authd could have.
const REDIRECT_URI: &str = "http://127.0.0.1:12345/api/v1/auth/oidc/test/callback/";

struct Request {
    url: String,
    state: String,
    nonce: String,
    verifier: String,
}

fn random() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

async fn discovery(op: &OidcProvider) -> Value {
    reqwest::get(format!("{}/.well-known/openid-configuration", op.issuer()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// An authorization request as a relying party builds it: code, PKCE
/// S256, state and nonce.
async fn authorize(op: &OidcProvider, redirect_uri: &str) -> Request {
    let doc = discovery(op).await;
    let (state, nonce, verifier) = (random(), random(), random());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = Url::parse(doc["authorization_endpoint"].as_str().unwrap()).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid email profile")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    Request {
        url: url.to_string(),
        state,
        nonce,
        verifier,
    }
}

fn query(url: &str) -> BTreeMap<String, String> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Logs in at the provider and redeems the code: the token response.
async fn login_and_redeem(op: &OidcProvider, login: &str) -> (Request, Value) {
    let req = authorize(op, REDIRECT_URI).await;
    let callback = login_at_provider(&req.url, login).await;
    assert!(
        callback.starts_with(&format!("{REDIRECT_URI}?")),
        "{callback}"
    );
    let q = query(&callback);
    assert_eq!(q.get("state"), Some(&req.state), "{callback}");
    assert_eq!(
        q.get("iss").map(String::as_str),
        Some(op.issuer()),
        "{callback}"
    );
    let code = q
        .get("code")
        .unwrap_or_else(|| panic!("no code: {callback}"));
    let doc = discovery(op).await;
    let resp = reqwest::Client::new()
        .post(doc["token_endpoint"].as_str().unwrap())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &req.verifier),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let tokens: Value = resp.json().await.unwrap();
    assert_eq!(status.as_u16(), 200, "{tokens}");
    (req, tokens)
}

/// A JWT's header and payload, unverified.
fn jwt_parts(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut decode =
        || serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    (decode(), decode())
}

async fn kids(op: &OidcProvider) -> Vec<String> {
    let doc = discovery(op).await;
    let jwks: Value = reqwest::get(doc["jwks_uri"].as_str().unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_provider_issues_an_id_token_for_a_code_got_through_its_login_page() {
    let started = Instant::now();
    let Some(op) = OidcProvider::start(ProviderConfig::default()).await else {
        return;
    };
    eprintln!("provider started in {:?}", started.elapsed());
    assert_eq!(op.issuer(), format!("http://127.0.0.1:{}", op.port()));

    let (req, tokens) = login_and_redeem(&op, "alice").await;
    let (header, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(
        kids(&op).await,
        vec![header["kid"].as_str().unwrap().to_owned()]
    );
    assert_eq!(claims["iss"], op.issuer());
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["nonce"], req.nonce.as_str());
    assert_eq!(claims["sub"], "alice");
    // By default the ID token has no email: userinfo has it.
    assert!(claims.get("email").is_none(), "{claims}");
    let doc = discovery(&op).await;
    let userinfo: Value = reqwest::Client::new()
        .get(doc["userinfo_endpoint"].as_str().unwrap())
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        userinfo,
        json!({
            "sub": "alice",
            "email": "alice@example.com",
            "email_verified": true,
            "given_name": "Alice",
            "family_name": "Liddell",
        })
    );
}

#[tokio::test]
async fn cancelling_on_the_providers_login_page_answers_access_denied() {
    let Some(op) = OidcProvider::start(ProviderConfig::default()).await else {
        return;
    };
    let req = authorize(&op, REDIRECT_URI).await;
    let callback = cancel_at_provider(&req.url).await;
    assert!(
        callback.starts_with(&format!("{REDIRECT_URI}?")),
        "{callback}"
    );
    let q = query(&callback);
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
    assert_eq!(q.get("state"), Some(&req.state));
}

#[tokio::test]
async fn a_restarted_provider_signs_with_a_new_key_and_keeps_its_accounts() {
    let Some(mut op) = OidcProvider::start(ProviderConfig::default()).await else {
        return;
    };
    let (bob, email) = (
        format!("bob-{}", uuid::Uuid::new_v4().simple()),
        unique_email(),
    );
    op.add_account(&bob, json!({"email": email, "email_verified": false}))
        .await;
    let before = kids(&op).await;
    let issuer = op.issuer().to_owned();

    op.stop().await;
    assert!(reqwest::get(&issuer).await.is_err(), "still answering");
    let started = Instant::now();
    op.restart().await;
    eprintln!("provider restarted in {:?}", started.elapsed());

    assert_eq!(op.issuer(), issuer);
    let after = kids(&op).await;
    assert_ne!(before, after);
    let (_, tokens) = login_and_redeem(&op, &bob).await;
    let (header, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(after, vec![header["kid"].as_str().unwrap().to_owned()]);
    assert_eq!(claims["sub"], bob.as_str());
    let doc = discovery(&op).await;
    let userinfo: Value = reqwest::Client::new()
        .get(doc["userinfo_endpoint"].as_str().unwrap())
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["email"], email.as_str());
    assert_eq!(userinfo["email_verified"], false);

    // The login is the sub: another one is refused.
    let resp = reqwest::Client::new()
        .post(format!("{issuer}/__test/accounts"))
        .json(&json!({"dave": {"sub": "someone-else"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn claims_in_id_token_puts_the_email_and_names_in_the_id_token() {
    let cfg = ProviderConfig {
        claims_in_id_token: true,
        ..ProviderConfig::default()
    };
    let Some(op) = OidcProvider::start(cfg).await else {
        return;
    };
    let email = unique_email();
    op.add_account(
        "carol",
        json!({"email": email, "email_verified": true, "name": "Carol C"}),
    )
    .await;
    let (_, tokens) = login_and_redeem(&op, "carol").await;
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "carol");
    assert_eq!(claims["email"], email.as_str());
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "Carol C");
}

#[tokio::test]
async fn the_provider_refuses_other_redirect_uris_and_requests_without_pkce() {
    let Some(op) = OidcProvider::start(ProviderConfig::default()).await else {
        return;
    };
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for other in [
        "http://127.0.0.1:12345/api/v1/auth/oidc/other/callback/",
        "http://localhost:12345/api/v1/auth/oidc/test/callback/",
        "http://127.0.0.1:0/api/v1/auth/oidc/test/callback/",
        "http://127.0.0.1/api/v1/auth/oidc/test/callback/",
    ] {
        let req = authorize(&op, other).await;
        let resp = no_redirects.get(&req.url).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{other}");
        let page = resp.text().await.unwrap();
        assert!(page.contains("redirect_uri"), "{other}: {page}");
    }

    let req = authorize(&op, REDIRECT_URI).await;
    let mut url = Url::parse(&req.url).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let resp = no_redirects.get(url.as_str()).send().await.unwrap();
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    assert_eq!(
        query(&location).get("error").map(String::as_str),
        Some("invalid_request")
    );
}
