//! A storm of parallel writers (registrations, wrong and right logins,
//! refreshes, logouts: 200 at once). On SQLite that is a `SQLITE_BUSY`
//! storm: no answer may be a 5xx, and every write answered 2xx is in the
//! database. Runs on PostgreSQL too when the suite does.

use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::Value;

use crate::helpers::{TestApp, builder, remember_secret, tokens_of, unique_email};

const WRONG_PASSWORD: &str = "Not-The-Password-2";
const USERS: usize = 10;
const LOGINS_BEFORE: usize = 6;
const REGISTRATIONS: usize = 60;
const WRONG_PER_VICTIM: usize = 4;
const LOGINS_PER_USER: usize = 4;
const REFRESHES: usize = 30;
const LOGOUTS: usize = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Register,
    WrongLogin,
    Login,
    Refresh,
    Logout,
}

impl Kind {
    fn expected(self) -> StatusCode {
        match self {
            Kind::Register => StatusCode::CREATED,
            Kind::WrongLogin => StatusCode::UNAUTHORIZED,
            Kind::Login | Kind::Refresh | Kind::Logout => StatusCode::OK,
        }
    }
}

type Answer = (Kind, String, StatusCode, Value);

fn request<'a>(
    kind: Kind,
    key: String,
    fut: impl std::future::Future<Output = (StatusCode, Value)> + Send + 'a,
) -> BoxFuture<'a, Answer> {
    fut.map(move |(status, body)| (kind, key, status, body))
        .boxed()
}

async fn verified_users(app: &TestApp, n: usize) -> Vec<String> {
    let emails: Vec<String> = (0..n).map(|_| unique_email()).collect();
    futures::future::join_all(emails.iter().map(|e| app.verified_user(e))).await;
    emails
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_200_parallel_writers_gives_no_5xx_and_loses_no_write() {
    let app = builder()
        .settings(|s| s.lockout_threshold = 1_000)
        .spawn()
        .await;
    remember_secret(WRONG_PASSWORD);
    let users = verified_users(&app, USERS).await;
    let victims = verified_users(&app, USERS).await;
    let mut sessions = Vec::new();
    for email in &users {
        for _ in 0..LOGINS_BEFORE {
            sessions.push(app.tokens_for(email, crate::helpers::PASSWORD).await);
        }
    }
    let (to_refresh, rest) = sessions.split_at(REFRESHES);
    let to_logout = &rest[..LOGOUTS];

    let app = &app;
    let mut storm: Vec<BoxFuture<'_, Answer>> = Vec::new();
    for _ in 0..REGISTRATIONS {
        let email = unique_email();
        storm.push(request(Kind::Register, email.clone(), async move {
            app.register(&email).await
        }));
    }
    for victim in &victims {
        for _ in 0..WRONG_PER_VICTIM {
            storm.push(request(
                Kind::WrongLogin,
                victim.clone(),
                app.login(victim, WRONG_PASSWORD),
            ));
        }
    }
    for email in &users {
        for _ in 0..LOGINS_PER_USER {
            storm.push(request(
                Kind::Login,
                email.clone(),
                app.login(email, crate::helpers::PASSWORD),
            ));
        }
    }
    for (_, refresh) in to_refresh {
        storm.push(request(
            Kind::Refresh,
            refresh.clone(),
            app.refresh(refresh),
        ));
    }
    for (access, _) in to_logout {
        storm.push(request(
            Kind::Logout,
            access.clone(),
            app.logout(access, None),
        ));
    }
    assert_eq!(storm.len(), 200);
    let answers = tokio::time::timeout(Duration::from_secs(120), futures::future::join_all(storm))
        .await
        .expect("the storm hung");

    for (kind, _, status, body) in &answers {
        assert!(!status.is_server_error(), "{kind:?}: {status} {body}");
        assert_eq!(*status, kind.expected(), "{kind:?}: {body}");
    }
    check_writes(app, &answers, &victims).await;
}

/// Every write the storm was told succeeded is in the database.
async fn check_writes(app: &TestApp, answers: &[Answer], victims: &[String]) {
    use actors::store::sessions;
    for (kind, key, _, body) in answers {
        match kind {
            Kind::Register => {
                let user = app.user(key).await.expect("a 201 without its user");
                let mails = jobs::outbox::Outbox::find()
                    .filter(jobs::outbox::entity::Column::UserId.eq(user.id))
                    .count(&app.db)
                    .await
                    .unwrap();
                assert_eq!(mails, 1, "{key}: its verification mail");
            }
            Kind::Login => {
                let (access, _) = tokens_of(body);
                assert_eq!(app.verify_token(&access).await.0, StatusCode::OK);
            }
            Kind::Refresh => {
                // The rotation committed: the token it answered works.
                let (_, next) = tokens_of(body);
                assert_eq!(app.refresh(&next).await.0, StatusCode::OK);
            }
            Kind::Logout => {
                assert_eq!(app.verify_token(key).await.0, StatusCode::UNAUTHORIZED);
            }
            Kind::WrongLogin => {}
        }
    }
    for victim in victims {
        let user = app.user(victim).await.unwrap();
        assert_eq!(
            usize::try_from(user.failed_attempts).unwrap(),
            WRONG_PER_VICTIM,
            "{victim}: every 401 counted"
        );
    }
    let live = sessions::Entity::find()
        .filter(sessions::Column::RevokedAt.is_null())
        .count(&app.db)
        .await
        .unwrap();
    let expected = USERS * (LOGINS_BEFORE + LOGINS_PER_USER) - LOGOUTS;
    assert_eq!(live, u64::try_from(expected).unwrap(), "live sessions");
}
