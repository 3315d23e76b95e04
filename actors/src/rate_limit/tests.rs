use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::FakeRelativeClock;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::local::Local;
use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn proxies(entries: &[&str]) -> TrustedProxies {
    let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
    TrustedProxies::parse(&entries).unwrap()
}

async fn burst(limiter: &RateLimiter, endpoint: &'static str, client: IpAddr, n: usize) -> usize {
    let mut passed = 0;
    for _ in 0..n {
        if limiter.check(endpoint, client).await.is_ok() {
            passed += 1;
        }
    }
    passed
}

#[tokio::test]
async fn local_five_pass_then_sixth_refused() {
    let limiter = RateLimiter::local(5);
    let a = ip("1.2.3.4");
    for _ in 0..5 {
        assert_eq!(limiter.check("login", a).await, Ok(()));
    }
    let RetryAfter(wait) = limiter.check("login", a).await.unwrap_err();
    assert!((1..=60).contains(&wait), "retry after {wait}");
    assert!(
        (11..=12).contains(&wait),
        "GCRA 5/min frees one in 12 s, got {wait}"
    );
    assert_eq!(limiter.check("login", ip("1.2.3.5")).await, Ok(()));
    assert_eq!(limiter.check("register", a).await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_thirty_concurrent_checks_let_exactly_five_through() {
    let limiter = RateLimiter::local(5);
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.check("login", ip("9.9.9.9")).await.is_ok() })
        })
        .collect();
    let mut passed = 0;
    for task in tasks {
        passed += usize::from(task.await.unwrap());
    }
    assert_eq!(passed, 5);
}

#[tokio::test]
async fn mapped_ipv6_counts_as_its_ipv4() {
    let limiter = RateLimiter::local(1);
    assert!(limiter.check("login", ip("1.2.3.4")).await.is_ok());
    assert!(limiter.check("login", ip("::ffff:1.2.3.4")).await.is_err());
}

#[test]
fn local_refills_one_every_interval() {
    let clock = FakeRelativeClock::default();
    let local = Local::with_clock(quota(5, MINUTE), clock.clone());
    let a = ip("1.2.3.4");
    for _ in 0..5 {
        assert!(local.check("login", a).is_ok());
    }
    assert_eq!(local.check("login", a), Err(RetryAfter(12)));
    clock.advance(Duration::from_secs(11));
    assert_eq!(local.check("login", a), Err(RetryAfter(1)));
    clock.advance(Duration::from_secs(1));
    assert!(local.check("login", a).is_ok());
    assert!(local.check("login", a).is_err());
}

#[test]
fn local_sweeps_stale_keys() {
    let clock = FakeRelativeClock::default();
    let local = Local::with_clock(quota(5, MINUTE), clock.clone());
    for n in 0..=255u8 {
        assert!(
            local
                .check("login", IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)))
                .is_ok()
        );
    }
    assert_eq!(local.len(), 256);
    clock.advance(Duration::from_secs(61));
    local.sweep();
    assert_eq!(local.len(), 0);
}

/// A burst from many addresses and then silence: the timer drops the
/// burst's keys once they are stale, with no request to trigger a sweep.
#[tokio::test(start_paused = true)]
async fn a_timer_sweeps_stale_keys_when_no_request_follows() {
    let limiter = RateLimiter::build(5, Duration::from_millis(20), None);
    for n in 0..=255u8 {
        let client = IpAddr::V4(Ipv4Addr::new(10, 0, 1, n));
        assert!(limiter.check("login", client).await.is_ok());
    }
    assert_eq!(limiter.local.len(), 256);
    // Stale on governor's (real) clock; then the paused Tokio clock runs
    // the timer.
    std::thread::sleep(Duration::from_millis(50));
    for _ in 0..100 {
        if limiter.local.len() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(limiter.local.len(), 0, "the timer did not sweep");
}

#[test]
fn local_sweeps_by_itself_under_many_ips() {
    let clock = FakeRelativeClock::default();
    let local = Local::with_clock(quota(5, MINUTE), clock.clone());
    for n in 0..5000u32 {
        clock.advance(Duration::from_millis(100));
        let _ = local.check("login", IpAddr::V4(Ipv4Addr::from(n)));
    }
    // One key per 100 ms stays live for 12 s: about 120 live keys plus at
    // most one sweep gap of stale ones.
    assert!(local.len() < 1500, "{} keys kept", local.len());
}

#[test]
fn retry_after_rounds_up_to_whole_seconds() {
    assert_eq!(RetryAfter::from_duration(Duration::ZERO), RetryAfter(1));
    assert_eq!(
        RetryAfter::from_duration(Duration::from_millis(11_001)),
        RetryAfter(12)
    );
    assert_eq!(
        RetryAfter::from_duration(Duration::from_secs(12)),
        RetryAfter(12)
    );
    assert_eq!(RetryAfter::from_micros(1), RetryAfter(1));
    assert_eq!(RetryAfter::from_micros(12_000_000), RetryAfter(12));
    assert_eq!(RetryAfter::from_micros(12_000_001), RetryAfter(13));
}

#[test]
fn untrusted_peer_is_the_client_whatever_the_header_says() {
    let trusted = proxies(&["10.0.0.0/8"]);
    let peer = ip("203.0.113.7");
    assert_eq!(trusted.client_ip(peer, &[b"1.2.3.4"]), peer);
    assert_eq!(
        TrustedProxies::default().client_ip(ip("10.0.0.1"), &[b"1.2.3.4"]),
        ip("10.0.0.1")
    );
}

#[test]
fn trusted_peer_names_the_first_untrusted_from_the_right() {
    let trusted = proxies(&["10.0.0.0/8"]);
    let peer = ip("10.0.0.1");
    assert_eq!(
        trusted.client_ip(peer, &[b"1.2.3.4, 10.0.0.2"]),
        ip("1.2.3.4")
    );
    // A client-written (spoofed) entry left of the real client is ignored.
    assert_eq!(
        trusted.client_ip(peer, &[b"6.6.6.6, 1.2.3.4, 10.0.0.2"]),
        ip("1.2.3.4")
    );
    assert_eq!(
        trusted.client_ip(peer, &[b"10.1.1.1, 10.0.0.2"]),
        ip("10.1.1.1")
    );
    assert_eq!(trusted.client_ip(peer, &[]), peer);
}

#[test]
fn a_hop_that_is_not_an_address_makes_the_client_unknown_never_the_proxy() {
    let trusted = proxies(&["10.0.0.0/8"]);
    let peer = ip("10.0.0.1");
    for garbage in [
        &b"not an ip"[..],
        b"unknown",
        b"1.2.3.4, \xff",
        b"1.2.3.4, junk, 10.0.0.2",
        b"1.2.3.4:99999999",
        b"[::1",
        b"\x00\xef\xbf\xbf\xc3\xa9",
        b"1.2.3.4, 10.0.0.2 \xff",
    ] {
        let client = trusted.client_ip(peer, &[garbage]);
        assert_eq!(client, UNKNOWN_CLIENT, "{}", garbage.escape_ascii());
    }
    let huge = "1.2.3.4,".repeat(100_000) + &"x".repeat(1_000_000);
    assert_eq!(trusted.client_ip(peer, &[huge.as_bytes()]), UNKNOWN_CLIENT);
    // Garbage the walk never reaches (left of the client) changes nothing.
    assert_eq!(
        trusted.client_ip(peer, &[b"\xff\xfe, junk, 1.2.3.4, 10.0.0.2"]),
        ip("1.2.3.4")
    );
    // An untrusted peer is the client whatever its header holds.
    assert_eq!(
        trusted.client_ip(ip("192.0.2.1"), &[b"\xff"]),
        ip("192.0.2.1")
    );
}

#[test]
fn empty_hops_are_skipped_and_no_hop_at_all_is_the_peer() {
    let trusted = proxies(&["10.0.0.0/8"]);
    let peer = ip("10.0.0.1");
    assert_eq!(trusted.client_ip(peer, &[b""]), peer);
    assert_eq!(trusted.client_ip(peer, &[b" , ,"]), peer);
    assert_eq!(trusted.client_ip(peer, &[b"1.2.3.4,,"]), ip("1.2.3.4"));
    assert_eq!(trusted.client_ip(peer, &[b"1.2.3.4", b""]), ip("1.2.3.4"));
    let long_chain = "10.0.0.3,".repeat(100_000) + "10.0.0.2";
    assert_eq!(
        trusted.client_ip(peer, &[long_chain.as_bytes()]),
        ip("10.0.0.3")
    );
}

#[test]
fn several_lines_are_one_list_and_the_last_line_is_nearest() {
    let trusted = proxies(&["10.0.0.0/8"]);
    let peer = ip("10.0.0.1");
    assert_eq!(
        trusted.client_ip(peer, &[b"6.6.6.6", b"1.2.3.4, 10.0.0.2"]),
        ip("1.2.3.4")
    );
    assert_eq!(
        trusted.client_ip(peer, &[b"\xff", b"1.2.3.4"]),
        ip("1.2.3.4")
    );
    assert_eq!(
        trusted.client_ip(peer, &[b"1.2.3.4", b"10.0.0.2"]),
        ip("1.2.3.4")
    );
    assert_eq!(
        trusted.client_ip(peer, &[b"1.2.3.4", b"\xff"]),
        UNKNOWN_CLIENT
    );
}

#[test]
fn ports_and_brackets_are_understood() {
    let trusted = proxies(&["10.0.0.0/8", "fd00::/8"]);
    assert_eq!(
        trusted.client_ip(ip("10.0.0.1"), &[b"1.2.3.4:5678"]),
        ip("1.2.3.4")
    );
    assert_eq!(
        trusted.client_ip(ip("10.0.0.1"), &[b"[2001:db8::1]:443"]),
        ip("2001:db8::1")
    );
    assert_eq!(
        trusted.client_ip(ip("10.0.0.1"), &[b"[2001:db8::1]"]),
        ip("2001:db8::1")
    );
}

#[test]
fn ipv6_proxies_and_clients() {
    let trusted = proxies(&["::1", "fd00::/8"]);
    assert_eq!(
        trusted.client_ip(ip("::1"), &[b"2001:db8::7, fd00::2"]),
        ip("2001:db8::7")
    );
    assert_eq!(
        trusted.client_ip(ip("fd12::1"), &[b"2001:db8::7"]),
        ip("2001:db8::7")
    );
    assert_eq!(
        trusted.client_ip(ip("2001:db8::9"), &[b"2001:db8::7"]),
        ip("2001:db8::9")
    );
    // A dual-stack socket reports an IPv4 proxy as mapped IPv6.
    let v4 = proxies(&["10.0.0.1"]);
    assert_eq!(
        v4.client_ip(ip("::ffff:10.0.0.1"), &[b"1.2.3.4"]),
        ip("1.2.3.4")
    );
    assert_eq!(
        v4.client_ip(ip("::ffff:10.0.0.1"), &[b"::ffff:1.2.3.4"]),
        ip("1.2.3.4")
    );
}

#[test]
fn all_trusted_gives_the_leftmost() {
    let trusted = proxies(&["10.0.0.0/8"]);
    assert_eq!(
        trusted.client_ip(ip("10.0.0.1"), &[b"10.0.0.9, 10.0.0.2"]),
        ip("10.0.0.9")
    );
}

#[test]
fn parse_accepts_addresses_and_cidrs_and_names_bad_entries() {
    let trusted = proxies(&["10.0.0.1", " 192.168.0.0/16 ", "::1", "fd00::/8"]);
    assert!(trusted.contains(ip("10.0.0.1")));
    assert!(!trusted.contains(ip("10.0.0.2")));
    assert!(trusted.contains(ip("192.168.44.1")));
    assert!(trusted.contains(ip("fd00::5")));
    for bad in [
        "10.0.0.0/33",
        "fd00::/129",
        "banana",
        "10.0.0/8",
        "",
        "1.2.3.4:80",
        "/8",
    ] {
        let entries = vec!["10.0.0.1".to_string(), bad.to_string()];
        let error = TrustedProxies::parse(&entries).unwrap_err();
        assert!(matches!(&error, RateLimitError::InvalidProxy { entry, .. } if entry == bad));
        assert!(error.to_string().contains(&format!("`{bad}`")), "{error}");
    }
}

#[tokio::test]
async fn redis_unreachable_at_startup_is_an_error_quickly() {
    let started = Instant::now();
    let result = RateLimiter::redis("redis://127.0.0.1:1", 5, "unreachable").await;
    assert!(result.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(RateLimiter::redis("not a url", 5, "bad").await.is_err());
}

#[tokio::test]
async fn redis_that_never_answers_is_an_error_quickly() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let result = RateLimiter::redis(&format!("redis://127.0.0.1:{port}"), 5, "silent").await;
    assert!(
        matches!(result, Err(RateLimitError::RedisTimeout(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    hold.abort();
}

fn redis_url() -> Option<String> {
    let url = std::env::var("AUTH_TEST_REDIS_URL").ok();
    if url.is_none() {
        eprintln!("skipped: AUTH_TEST_REDIS_URL is not set");
    }
    url
}

fn unique_prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4())
}

#[tokio::test]
async fn redis_two_nodes_share_one_budget() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix();
    let one = RateLimiter::redis(&url, 5, &prefix).await.unwrap();
    let two = RateLimiter::redis(&url, 5, &prefix).await.unwrap();
    assert!(one.is_shared());
    let client = ip("1.2.3.4");
    let mut passed = 0;
    for n in 0..10 {
        let node = if n % 2 == 0 { &one } else { &two };
        passed += usize::from(node.check("login", client).await.is_ok());
    }
    assert_eq!(passed, 5);
    let RetryAfter(wait) = two.check("login", client).await.unwrap_err();
    assert!((11..=12).contains(&wait), "retry after {wait}");
    assert!(one.check("login", ip("1.2.3.5")).await.is_ok());
    assert!(two.check("register", client).await.is_ok());
    assert!(one.check("login", ip("2001:db8::1")).await.is_ok());

    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:rl:login:1.2.3.4"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 62_000, "ttl {ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_thirty_concurrent_checks_let_exactly_five_through() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix();
    let nodes = [
        RateLimiter::redis(&url, 5, &prefix).await.unwrap(),
        RateLimiter::redis(&url, 5, &prefix).await.unwrap(),
    ];
    let tasks: Vec<_> = (0..30)
        .map(|n| {
            let limiter = nodes[n % 2].clone();
            tokio::spawn(async move { limiter.check("login", ip("9.9.9.9")).await.is_ok() })
        })
        .collect();
    let mut passed = 0;
    for task in tasks {
        passed += usize::from(task.await.unwrap());
    }
    assert_eq!(passed, 5);
}

/// A TCP relay to Redis that can be cut, to play an outage.
struct Relay {
    port: u16,
    tasks: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks = Arc::new(std::sync::Mutex::new(Vec::new()));
        let spawned = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                spawned.lock().unwrap().push(task);
            }
        });
        Self {
            port,
            tasks,
            accept,
        }
    }

    fn cut(self) {
        self.accept.abort();
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

#[tokio::test]
async fn redis_outage_falls_back_to_the_local_limiter() {
    let Some(url) = redis_url() else { return };
    let target = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_string();
    let relay = Relay::start(target).await;
    let limiter = RateLimiter::redis(
        &format!("redis://127.0.0.1:{}", relay.port),
        5,
        &unique_prefix(),
    )
    .await
    .unwrap();
    let client = ip("1.2.3.4");
    assert_eq!(burst(&limiter, "login", client, 2).await, 2);
    relay.cut();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let started = Instant::now();
    assert_eq!(burst(&limiter, "login", client, 10).await, 5);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(limiter.check("login", ip("1.2.3.5")).await.is_ok());
}

#[test]
fn ipv6_is_keyed_by_its_prefix_and_ipv4_by_its_address() {
    let key = |text: &str, len: u8| Subject::ip(ip(text), len).to_string();
    assert_eq!(key("2001:db8:1:2::1", 64), "2001:db8:1:2::/64");
    assert_eq!(
        key("2001:db8:1:2:ffff:ffff:ffff:ffff", 64),
        "2001:db8:1:2::/64"
    );
    assert_eq!(key("2001:db8:1:3::1", 64), "2001:db8:1:3::/64");
    assert_eq!(key("2001:db8:1:2::1", 48), "2001:db8:1::/48");
    assert_eq!(key("2001:db8:1:2::1", 128), "2001:db8:1:2::1/128");
    assert_eq!(key("2001:db8::1", 0), key("2001:db8::1", 1), "clamped to 1");
    assert_eq!(key("2001:db8::1", 200), "2001:db8::1/128", "clamped to 128");
    assert_eq!(key("192.0.2.1", 64), "192.0.2.1");
    assert_eq!(key("192.0.2.1", 1), "192.0.2.1", "IPv4 is never grouped");
    assert_eq!(key("::ffff:192.0.2.1", 64), "192.0.2.1");
    assert_ne!(key("192.0.2.1", 64), key("192.0.2.2", 64));
}

#[test]
fn ids_are_keyed_by_a_hash_never_the_id() {
    let subject = Subject::hashed("someone@example.org");
    let shown = subject.to_string();
    assert_eq!(shown.len(), 32);
    assert!(!shown.contains("someone"));
    assert_eq!(subject, Subject::hashed("someone@example.org"));
    assert_ne!(subject, Subject::hashed("someone-else@example.org"));
}

#[tokio::test]
async fn one_64_shares_a_budget_and_the_next_64_has_its_own() {
    let limiter = RateLimiter::local(5);
    for n in 1..=5 {
        let client = ip(&format!("2001:db8:1:2::{n}"));
        assert!(limiter.check("login", client).await.is_ok());
    }
    assert!(limiter.check("login", ip("2001:db8:1:2::6")).await.is_err());
    assert!(limiter.check("login", ip("2001:db8:1:3::1")).await.is_ok());
    let per_address = RateLimiter::local(1).with_ipv6_prefix(128);
    assert!(per_address.check("login", ip("2001:db8::1")).await.is_ok());
    assert!(per_address.check("login", ip("2001:db8::2")).await.is_ok());
    assert!(per_address.check("login", ip("2001:db8::1")).await.is_err());
}

#[tokio::test]
async fn a_quota_per_hour_refuses_with_a_long_wait_and_ids_have_their_own_budgets() {
    let limiter = RateLimiter::local(5).with_quota(3, Duration::from_secs(3600));
    assert_eq!(limiter.count(), 3);
    for _ in 0..3 {
        assert!(limiter.check_id("mail", "a@example.org").await.is_ok());
    }
    let RetryAfter(wait) = limiter.check_id("mail", "a@example.org").await.unwrap_err();
    assert!(
        (1199..=1200).contains(&wait),
        "one more in 20 min, got {wait}"
    );
    assert!(limiter.check_id("mail", "b@example.org").await.is_ok());
}

#[tokio::test]
async fn mail_budget_counts_per_normalised_address_and_zero_is_off() {
    use crate::domain::Email;
    let backend = RateLimiter::local(5);
    let budget = MailBudget::new(&backend, 2);
    let lower = Email::parse("ada@example.org").unwrap();
    let upper = Email::parse("ADA@Example.org").unwrap();
    assert!(budget.allow(&lower).await);
    assert!(budget.allow(&upper).await);
    assert!(!budget.allow(&lower).await);
    assert!(
        budget
            .allow(&Email::parse("bob@example.org").unwrap())
            .await
    );
    let off = MailBudget::new(&backend, 0);
    for _ in 0..10 {
        assert!(off.allow(&lower).await);
    }
}

#[tokio::test]
async fn redis_keys_ipv6_by_prefix_and_ids_by_hash() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix();
    let one = RateLimiter::redis(&url, 1, &prefix).await.unwrap();
    let two = RateLimiter::redis(&url, 1, &prefix).await.unwrap();
    assert!(one.check("login", ip("2001:db8:1:2::1")).await.is_ok());
    assert!(two.check("login", ip("2001:db8:1:2::2")).await.is_err());
    assert!(two.check("login", ip("2001:db8:1:3::1")).await.is_ok());
    let mail_one = one.with_quota(1, Duration::from_secs(3600));
    let mail_two = two.with_quota(1, Duration::from_secs(3600));
    assert!(mail_one.check_id("mail", "a@example.org").await.is_ok());
    assert!(mail_two.check_id("mail", "a@example.org").await.is_err());

    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        keys.contains(&format!("{prefix}:rl:login:2001:db8:1:2::/64")),
        "{keys:?}"
    );
    assert!(keys.iter().all(|k| !k.contains("example.org")), "{keys:?}");
    let hashed = format!("{prefix}:rl:mail:{}", Subject::hashed("a@example.org"));
    assert!(keys.contains(&hashed), "{keys:?}");
}

/// A flood of distinct addresses holds one key each: the key stays small
/// (no allocation behind it, 40 bytes inline).
#[test]
fn a_local_key_is_small_and_owns_no_allocation() {
    assert!(std::mem::size_of::<super::local::Key>() <= 40);
}
