//! Two application instances on one database (PostgreSQL + Redis in CI).

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{PASSWORD, TestApp, builder, redis_url, unique_email};

async fn two_nodes(rate_limit: u32) -> (TestApp, TestApp) {
    let a = builder()
        .settings(move |s| s.rate_limit_per_minute = rate_limit)
        .spawn()
        .await;
    let b = a.second_node().await;
    (a, b)
}

#[tokio::test]
async fn a_logout_on_one_node_is_refused_on_the_other_within_a_second() {
    let (a, b) = two_nodes(10_000).await;
    let (access, _) = a.logged_in().await;
    assert_eq!(
        b.verify_token(&access).await.0,
        StatusCode::OK,
        "node B has seen the token valid"
    );
    assert_eq!(a.logout(&access, None).await.0, StatusCode::OK);
    let started = Instant::now();
    loop {
        if b.verify_token(&access).await.0 == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "node B still accepts the token after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn failures_on_both_nodes_add_up_to_one_lock() {
    let (a, b) = two_nodes(10_000).await;
    let email = unique_email();
    a.verified_user(&email).await;
    for i in 0..5 {
        let node = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            node.login(&email, "Wrong-Password-9").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        a.login(&email, PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        b.login(&email, PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn parallel_failures_on_two_nodes_check_at_most_five_passwords() {
    let (a, b) = two_nodes(10_000).await;
    let email = unique_email();
    a.verified_user(&email).await;
    let attempts = (0..20).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        let email = email.clone();
        async move { node.login(&email, "Wrong-Password-9").await.0 }
    });
    let statuses = futures::future::join_all(attempts).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(checked, 5, "{statuses:?}");
}

#[tokio::test]
async fn the_rate_limit_holds_across_both_nodes() {
    if redis_url().is_none() {
        eprintln!("skipped: the shared rate limit needs AUTH_TEST_REDIS_URL");
        return;
    }
    let (a, b) = two_nodes(5).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let node = if i % 2 == 0 { &a } else { &b };
        statuses.push(
            node.login_from("192.0.2.77", &unique_email(), PASSWORD)
                .await
                .0,
        );
    }
    assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_reset_on_one_node_signs_the_account_out_on_the_other() {
    let (a, b) = two_nodes(10_000).await;
    let (email, access, refresh) = a.logged_in_user().await;
    assert_eq!(b.verify_token(&access).await.0, StatusCode::OK);
    a.request_reset(&email).await;
    let token = a.reset_token(&email, 1).await;
    let new_password = "Brand-New-Secret-77";
    assert_eq!(
        a.confirm_reset(&token, new_password).await.0,
        StatusCode::OK
    );
    let started = Instant::now();
    while b.verify_token(&access).await.0 != StatusCode::UNAUTHORIZED {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "node B still accepts the old access token after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(b.refresh(&refresh).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(b.login(&email, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    let (new_access, _) = b.tokens_for(&email, new_password).await;
    assert_eq!(a.verify_token(&new_access).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_second_step_started_on_one_node_finishes_on_the_other_and_codes_stay_used() {
    let (a, b) = two_nodes(10_000).await;
    let user = a.mfa_user().await;
    let code = a.code_now(&user.secret);
    let token = a.mfa_token(&user.email).await;
    assert_eq!(b.mfa_verify(&token, &code).await.0, StatusCode::OK);
    let again = b.mfa_token(&user.email).await;
    assert_eq!(
        a.mfa_verify(&again, &code).await.0,
        StatusCode::UNAUTHORIZED,
        "a code used on B is refused on A"
    );
    let recovery = b.mfa_token(&user.email).await;
    assert_eq!(
        a.recover(&recovery, &user.backup_codes[0]).await.0,
        StatusCode::OK
    );
    let last = a.mfa_token(&user.email).await;
    assert_eq!(
        b.recover(&last, &user.backup_codes[0]).await.0,
        StatusCode::UNAUTHORIZED,
        "a backup code used on A is refused on B"
    );
}
