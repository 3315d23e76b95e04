//! Revoking a session refuses every token issued in it with one write and
//! one event, whatever their number, and covers tokens in the leeway.

use std::time::Duration;

use actors::store::refresh_tokens;
use futures::StreamExt;
use reqwest::StatusCode;
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;

use crate::helpers::{PASSWORD, redis_url, spawn_app};

#[tokio::test]
async fn a_logout_after_many_rotations_is_one_event_and_refuses_every_token_of_the_session() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let (status, body) = app.verify_token(&access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session_id: actors::SessionId = {
        let claims = access.split('.').nth(1).unwrap();
        let raw = base64_url(claims);
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        v["sid"].as_str().unwrap().parse().unwrap()
    };
    let user = app.user(&email).await.unwrap();
    // 20,000 earlier rotations of this session, as the database holds them.
    let now = jobs::Clock::now_ms(app.clock.as_ref());
    for chunk in (0..20_000).collect::<Vec<_>>().chunks(2_000) {
        let rows = chunk.iter().map(|i| refresh_tokens::ActiveModel {
            id: Set(uuid::Uuid::new_v4()),
            session_id: Set(session_id),
            user_id: Set(user.id),
            token_hash: Set(format!("{i:064x}")),
            access_jti: Set(uuid::Uuid::new_v4()),
            access_expires_at: Set(now + 3_600_000),
            expires_at: Set(now + 1_000_000_000),
            used_at: Set(Some(now)),
            revoked_at: Set(None),
            created_at: Set(now),
        });
        refresh_tokens::Entity::insert_many(rows)
            .exec_without_returning(&app.db)
            .await
            .unwrap();
    }

    // With Redis, count what the other nodes are told.
    let events = match redis_url() {
        Some(url) => {
            let client = redis::Client::open(url).unwrap();
            let mut pubsub = client.get_async_pubsub().await.unwrap();
            pubsub
                .subscribe(format!("{}:revocations", app.settings.queue_name))
                .await
                .unwrap();
            Some(pubsub)
        }
        None => None,
    };
    let (status, body) = app.logout(&access, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.verify_token(&access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    match events {
        Some(mut pubsub) => {
            let mut stream = pubsub.on_message();
            let mut seen = Vec::new();
            while let Ok(Some(msg)) =
                tokio::time::timeout(Duration::from_millis(500), stream.next()).await
            {
                seen.push(msg.get_payload::<String>().unwrap());
            }
            assert_eq!(seen, vec![format!("s:{session_id}")]);
        }
        None => println!("skipped: the event count needs AUTH_TEST_REDIS_URL"),
    }
    // Another session of the user is untouched.
    let (other, _) = app.tokens_for(&email, PASSWORD).await;
    assert_eq!(app.verify_token(&other).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_revoked_token_inside_the_expiry_leeway_is_refused() {
    let app = spawn_app().await;
    let (email, old_access, _) = app.logged_in_user().await;
    // The old token has expired, but by less than the verification leeway.
    app.clock
        .advance_ms((3600 + actors::jwt::LEEWAY_SECS / 2) * 1000);
    assert_eq!(app.verify_token(&old_access).await.0, StatusCode::OK);

    let (access, _) = app.tokens_for(&email, PASSWORD).await;
    let (status, body) = app
        .change_password(&access, PASSWORD, "Another-Horse-77")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.verify_token(&old_access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

/// The account's state is part of a refresh's claim: a disabled account's
/// refresh token is refused and stays unused (it works again once the
/// account is enabled), and nothing is stored for it.
#[tokio::test]
async fn a_disabled_accounts_refresh_is_refused_and_leaves_its_token_unused() {
    use sea_orm::{ActiveModelTrait, ColumnTrait, QueryFilter};
    let app = spawn_app().await;
    let (email, _, refresh) = app.logged_in_user().await;
    let user = app.user(&email).await.unwrap();
    let set_active = |active: bool| {
        let mut row: actors::store::users::ActiveModel = user.clone().into();
        row.is_active = Set(active);
        row
    };
    let tokens_of_user = || async {
        refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::UserId.eq(user.id))
            .all(&app.db)
            .await
            .unwrap()
    };
    set_active(false).update(&app.db).await.unwrap();
    let before = tokens_of_user().await;
    let (status, body) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let after = tokens_of_user().await;
    assert_eq!(before.len(), after.len(), "no successor stored");
    assert!(after.iter().all(|t| t.used_at.is_none()), "{after:?}");

    set_active(true).update(&app.db).await.unwrap();
    let (status, body) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
