//! What bounds the passkey tables: at most 20 passkeys an account, even
//! under parallel registrations, all of them listed; at most
//! `AUTH_PASSKEY_OPEN_LOGINS` passkey logins started and not finished,
//! however many starts anyone sends.

use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, builder, count, parallel_statuses, spawn_app};
use crate::passkey_helpers::{SoftKey, challenge_of};
use actors::store::{passkeys, webauthn_challenges};

#[tokio::test]
async fn parallel_registration_finishes_cannot_exceed_twenty_passkeys() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    // Every start is taken while the account has none.
    let mut ceremonies = Vec::new();
    for _ in 0..24 {
        let options = app.passkey_options(&access).await;
        let (_, credential) = SoftKey::create(&options["public_key"]);
        ceremonies.push((challenge_of(&options), credential));
    }
    let statuses = parallel_statuses(
        ceremonies
            .iter()
            .map(|(challenge, c)| app.finish_registration(&access, challenge, "Racer", c)),
    )
    .await;
    assert_eq!(count(&statuses, StatusCode::CREATED), 20, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::BAD_REQUEST), 4, "{statuses:?}");
    let user = app.user(&email).await.unwrap();
    let stored = passkeys::Entity::find()
        .filter(passkeys::Column::UserId.eq(user.id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 20);
    assert_eq!(app.passkeys_of(&access).await.len(), 20);

    // At the cap a start is refused too.
    let (status, body) = app
        .start_registration(&access, &json!({ "password": PASSWORD }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn an_account_over_the_cap_lists_and_can_remove_every_passkey() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let user = app.user(&email).await.unwrap();
    // As many as the cap checked only at the start let an account keep.
    for i in 0..22_i64 {
        let row = passkeys::Model {
            id: actors::PasskeyId::now_v7(),
            user_id: user.id,
            credential_id: format!("stored-before-the-fix-{i}"),
            passkey: "{}".into(),
            name: format!("Key {i}"),
            counter: 0,
            backup_eligible: false,
            backup_state: false,
            created_at: 1_700_000_000_000 + i,
            last_used_at: None,
        };
        passkeys::add(&app.db, row).await.unwrap();
    }
    let listed = app.passkeys_of(&access).await;
    assert_eq!(listed.len(), 22);
    assert_eq!(listed[21]["name"], "Key 21");
    let newest = listed[21]["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/passkeys/{newest}/"),
            Some(&access),
            Some(&json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<Value> = app
        .passkeys_of(&access)
        .await
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names.len(), 21);
    assert!(!names.contains(&json!("Key 21")));
}

/// Passkey login ceremonies in the table (started without an account).
async fn open_logins(app: &TestApp) -> u64 {
    webauthn_challenges::Entity::find()
        .filter(webauthn_challenges::Column::Kind.is_in([
            webauthn_challenges::Ceremony::Login,
            webauthn_challenges::Ceremony::Discover,
        ]))
        .count(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_flood_of_passkey_login_starts_keeps_the_newest_few_and_they_work() {
    const CAP: u64 = 5;
    let app = builder()
        .settings(|s| s.passkey_open_logins = CAP)
        .spawn()
        .await;
    let (_, access, _) = app.logged_in_user().await;
    let (mut key, _) = app.add_passkey(&access, "Laptop").await;
    // A registration in progress is not a login: the flood leaves it be.
    let registration = app.passkey_options(&access).await;

    // Two nodes on one database: the cap is the database's, not a node's.
    let other = app.second_node().await;
    let mut started = Vec::new();
    for i in 0..CAP + 7 {
        let node = if i % 2 == 0 { &app } else { &other };
        started.push(node.passkey_login_options(None).await);
        assert!(open_logins(&app).await <= CAP);
    }
    // Parallel starts may pass the cap only until the next start trims it.
    let flood = (0..20).map(|i| [&app, &other][i % 2].passkey_login_options(None));
    assert_eq!(futures::future::join_all(flood).await.len(), 20);
    started.push(app.passkey_login_options(None).await);
    assert_eq!(open_logins(&app).await, CAP);

    // The oldest were dropped; the newest answers.
    let oldest = &started[0];
    let (status, body) = app
        .finish_passkey_login(&challenge_of(oldest), &key.get(&oldest["public_key"]))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let newest = started.last().unwrap();
    let (status, body) = app
        .finish_passkey_login(&challenge_of(newest), &key.get(&newest["public_key"]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (_, credential) = SoftKey::create(&registration["public_key"]);
    let (status, body) = app
        .finish_registration(&access, &challenge_of(&registration), "Phone", &credential)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
