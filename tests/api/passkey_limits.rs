//! What bounds the passkey tables: at most 20 passkeys an account, even
//! under parallel registrations, all of them listed.

use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, count, parallel_statuses, spawn_app};
use crate::passkey_helpers::{SoftKey, challenge_of};
use actors::store::passkeys;

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
            id: uuid::Uuid::now_v7(),
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
