//! TOTP two-factor authentication: setup, login step two, replay, backup
//! codes, lockout across codes, turning it off, nothing readable at rest.

use base64::Engine;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use actors::store::{backup_codes, mfa_secrets};

use crate::helpers::{PASSWORD, assert_error, builder, count, parallel_statuses, spawn_app};
use crate::mfa_helpers::code_at;

#[tokio::test]
async fn enable_returns_a_secret_an_otpauth_url_a_server_rendered_qr_code_and_ten_backup_codes() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let (status, body) = app.enable_mfa(&access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    let secret = data["secret_key"].as_str().unwrap();
    assert!(
        data_encoding::BASE32_NOPAD
            .decode(secret.as_bytes())
            .unwrap()
            .len()
            >= 20
    );
    let url = data["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/authd:"), "{url}");
    assert!(url.contains(&format!("secret={secret}")), "{url}");
    assert!(url.contains("issuer=authd"), "{url}");
    assert!(url.contains(&email.replace('@', "%40")), "{url}");
    let qr = data["qr_code_url"].as_str().unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(qr.strip_prefix("data:image/png;base64,").unwrap())
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let codes = data["backup_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.as_str().unwrap().len() >= 10));

    // Still off until a first code confirms it.
    let (_, body) = app.verify_token(&access).await;
    assert_eq!(body["data"]["user"]["mfa_enabled"], json!(false));
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["data"]["token"].is_string(), "{body}");
}

#[tokio::test]
async fn the_full_flow_from_setup_to_a_second_step_login() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let (_, body) = app.enable_mfa(&access).await;
    let secret = body["data"]["secret_key"].as_str().unwrap().to_owned();
    let setup_code = app.code_now(&secret);
    let (status, body) = app.confirm_mfa(&access, &setup_code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], json!("2FA verified and enabled"));
    app.notice(&email, "Two-factor authentication is on", 1)
        .await;

    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let data = body["data"].as_object().unwrap();
    assert_eq!(data["mfa_required"], json!(true));
    assert_eq!(data["expires_in"], json!(300));
    assert!(!data.contains_key("token") && !data.contains_key("refresh_token"));
    let mfa_token = app.mfa_token(&email).await;

    let (status, body) = app.mfa_verify(&mfa_token, &setup_code).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the setup code is used up"
    );
    assert_error(&body, 401, "Unauthorized");

    app.next_step();
    let (status, body) = app.mfa_verify(&mfa_token, &app.code_now(&secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["user"]["mfa_enabled"], json!(true));
    let token = body["data"]["token"].as_str().unwrap();
    assert_eq!(app.verify_token(token).await.0, StatusCode::OK);

    app.next_step();
    let (status, body) = app.mfa_verify(&mfa_token, &app.code_now(&secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an mfa_token works once");
    assert_eq!(
        body["errors"]["mfa_token"],
        json!(["is invalid or expired"])
    );
}

#[tokio::test]
async fn a_code_replayed_on_a_second_login_is_refused() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let code = app.code_now(&user.secret);
    let first = app.mfa_token(&user.email).await;
    assert_eq!(app.mfa_verify(&first, &code).await.0, StatusCode::OK);
    let second = app.mfa_token(&user.email).await;
    assert_eq!(
        app.mfa_verify(&second, &code).await.0,
        StatusCode::UNAUTHORIZED
    );
    app.next_step();
    assert_eq!(
        app.mfa_verify(&second, &app.code_now(&user.secret)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn codes_one_step_either_side_are_accepted_and_two_steps_off_are_not() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let now = app.now_secs();
    let token = app.mfa_token(&user.email).await;
    let (status, _) = app
        .mfa_verify(&token, &code_at(&user.secret, now - 60))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "two steps old");
    let (status, _) = app
        .mfa_verify(&token, &code_at(&user.secret, now + 60))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "two steps ahead");
    let (status, body) = app
        .mfa_verify(&token, &code_at(&user.secret, now + 30))
        .await;
    assert_eq!(status, StatusCode::OK, "one step ahead: {body}");
}

#[tokio::test]
async fn five_wrong_codes_void_the_mfa_token() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let token = app.mfa_token(&user.email).await;
    for _ in 0..5 {
        assert_eq!(
            app.mfa_verify(&token, "000000").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // Five wrong codes also lock the account for a minute.
    app.clock.advance_ms(61_000);
    let (status, body) = app.mfa_verify(&token, &app.code_now(&user.secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        body["errors"]["mfa_token"],
        json!(["is invalid or expired"])
    );

    let fresh = app.mfa_token(&user.email).await;
    let (status, body) = app.mfa_verify(&fresh, &app.code_now(&user.secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_mfa_token_expires_after_five_minutes() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let token = app.mfa_token(&user.email).await;
    app.clock.advance_ms(5 * 60 * 1000 + 1000);
    let (status, _) = app.mfa_verify(&token, &app.code_now(&user.secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wrong_codes_after_right_passwords_lock_the_account_after_five_in_total() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    for i in 0..5 {
        let token = app.mfa_token(&user.email).await;
        let (status, body) = app.mfa_verify(&token, "123456").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}: {body}");
    }
    let (status, body) = app.login(&user.email, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body["data"]["retry_after"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_backup_code_completes_a_login_once_and_the_owner_is_told() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let code = &user.backup_codes[0];
    let typed = code.replace('-', "").to_lowercase();
    let token = app.mfa_token(&user.email).await;
    let (status, body) = app.recover(&token, &typed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["token"].is_string());
    let notice = app.notice(&user.email, "A backup code was used", 1).await;
    assert!(
        notice.text.contains("9 unused backup codes remain"),
        "{}",
        notice.text
    );
    assert!(!notice.raw.contains(code.as_str()));

    let token = app.mfa_token(&user.email).await;
    assert_eq!(
        app.recover(&token, code).await.0,
        StatusCode::UNAUTHORIZED,
        "the same code twice"
    );
    assert_eq!(
        app.recover(&token, &user.backup_codes[1]).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn eight_parallel_recoveries_with_one_backup_code_succeed_once() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(app.mfa_token(&user.email).await);
    }
    let code = &user.backup_codes[3];
    let statuses = parallel_statuses(tokens.iter().map(|t| app.recover(t, code))).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
}

#[tokio::test]
async fn a_new_set_of_backup_codes_voids_the_old_one() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let (status, body) = app
        .post_bearer(
            "/api/v1/2fa/backup-codes",
            &user.access,
            &json!({ "password": PASSWORD, "totp_code": app.code_now(&user.secret) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new_codes: Vec<String> = body["data"]["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    new_codes
        .iter()
        .for_each(|c| crate::helpers::remember_secret(c));
    assert_eq!(new_codes.len(), 10);
    let token = app.mfa_token(&user.email).await;
    assert_eq!(
        app.recover(&token, &user.backup_codes[0]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.recover(&token, &new_codes[0]).await.0, StatusCode::OK);
}

#[tokio::test]
async fn disable_needs_the_password_and_a_right_code_and_then_logins_return_tokens() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let disable = |password: &str, code: String| {
        let body = json!({ "password": password, "totp_code": code });
        let access = user.access.clone();
        let app = &app;
        async move { app.post_bearer("/api/v1/2fa/disable", &access, &body).await }
    };
    let (status, _) = disable(PASSWORD, "000000".into()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong code");
    let (status, _) = disable("Wrong-Password-9", app.code_now(&user.secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong password");
    let (status, body) = disable(PASSWORD, app.code_now(&user.secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], json!("2FA has been disabled"));
    app.notice(&user.email, "Two-factor authentication is off", 1)
        .await;

    let (status, body) = app.login(&user.email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["data"]["token"].is_string(), "{body}");
    assert_eq!(body["data"]["user"]["mfa_enabled"], json!(false));
    let stored = mfa_secrets::Entity::find().all(&app.db).await.unwrap();
    assert!(stored.is_empty());
    let codes = backup_codes::Entity::find().all(&app.db).await.unwrap();
    assert!(codes.is_empty());
}

#[tokio::test]
async fn enable_while_on_is_409_and_enable_again_before_verify_replaces_the_secret() {
    let app = spawn_app().await;
    let (_, access, _) = app.logged_in_user().await;
    let (status, body) = app.confirm_mfa(&access, "123456").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "nothing pending: {body}");

    let (_, first) = app.enable_mfa(&access).await;
    let (_, second) = app.enable_mfa(&access).await;
    let first = first["data"]["secret_key"].as_str().unwrap().to_owned();
    let second = second["data"]["secret_key"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(
        app.confirm_mfa(&access, &app.code_now(&first)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.confirm_mfa(&access, &app.code_now(&second)).await.0,
        StatusCode::OK
    );
    let (status, body) = app.enable_mfa(&access).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, 409, "Conflict");
}

#[tokio::test]
async fn enable_with_a_wrong_password_is_401_and_counts() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let wrong = || async {
        app.post_bearer(
            "/api/v1/2fa/enable",
            &access,
            &json!({ "password": "Wrong-Password-9" }),
        )
        .await
        .0
    };
    // They spend the budget of the device the session logged in with,
    // not the account's: the session is locked, the account is not.
    for _ in 0..5 {
        assert_eq!(wrong().await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(wrong().await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.login(&email, PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_database_holds_no_plaintext_secret_or_backup_code() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let row = mfa_secrets::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let raw = data_encoding::BASE32_NOPAD
        .decode(user.secret.as_bytes())
        .unwrap();
    assert!(!row.secret_sealed.contains(&user.secret));
    assert!(!row.secret_sealed.contains(&hex::encode(&raw)));
    assert!(
        row.secret_sealed
            .starts_with(&format!("v1.{}.", row.key_id))
    );
    assert!(!row.key_id.is_empty());
    let stored = backup_codes::Entity::find()
        .filter(backup_codes::Column::UserId.eq(row.user_id))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 10);
    for code in &user.backup_codes {
        let plain = code.replace('-', "");
        for r in &stored {
            assert!(!r.code_hash.contains(&plain) && !r.code_hash.contains(code.as_str()));
            assert_ne!(
                r.code_hash,
                hex::encode(sha2::Digest::finalize(
                    <sha2::Sha256 as sha2::Digest>::new_with_prefix(plain.as_bytes())
                )),
                "a keyed hash, not a plain SHA-256"
            );
        }
    }
}

#[tokio::test]
async fn the_code_endpoints_are_rate_limited_per_ip() {
    let app = builder()
        .settings(|s| s.rate_limit_per_minute = 5)
        .spawn()
        .await;
    for (path, body) in [
        (
            "/api/v1/auth/mfa/verify/",
            json!({ "mfa_token": "x", "code": "123456" }),
        ),
        (
            "/api/v1/2fa/recover",
            json!({ "mfa_token": "x", "backup_code": "ABCDE-FGHJK" }),
        ),
    ] {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let resp = app
                .client
                .post(app.url(path))
                .header("x-forwarded-for", "198.51.100.10")
                .json(&body)
                .send()
                .await
                .unwrap();
            statuses.push(resp.status());
        }
        assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5], "{path}");
        assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
}

#[tokio::test]
async fn after_a_key_rotation_old_secrets_and_backup_codes_work_and_secrets_are_sealed_again() {
    use authd::config::Secret;
    let app = builder()
        .settings(|s| s.encryption_key = Some(Secret(vec![1; 32])))
        .spawn()
        .await;
    let user = app.mfa_user().await;
    let before = mfa_secrets::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();

    let app = app
        .restart_with(|s| {
            s.encryption_key = Some(Secret(vec![2; 32]));
            s.encryption_keys_previous = vec![Secret(vec![1; 32])];
        })
        .await;
    app.clock.advance_ms(60_000);
    let token = app.mfa_token(&user.email).await;
    let (status, body) = app.mfa_verify(&token, &app.code_now(&user.secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after = mfa_secrets::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(
        after.key_id, before.key_id,
        "sealed again under the new key"
    );
    assert!(
        after
            .secret_sealed
            .starts_with(&format!("v1.{}.", after.key_id))
    );

    let token = app.mfa_token(&user.email).await;
    let (status, body) = app.recover(&token, &user.backup_codes[0]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a code hashed under the old key: {body}"
    );

    // Without the old key, the re-sealed secret still opens.
    let app = app
        .restart_with(|s| s.encryption_keys_previous = vec![])
        .await;
    app.clock.advance_ms(120_000);
    let token = app.mfa_token(&user.email).await;
    let (status, body) = app.mfa_verify(&token, &app.code_now(&user.secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Builds a request body around one hostile value.
type BodyFor = Box<dyn Fn(&str) -> serde_json::Value>;

#[tokio::test]
async fn hostile_values_on_the_new_endpoints_get_4xx_never_500() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let long = "9".repeat(70_000);
    let hostile = [
        "",
        " ",
        "\u{0}",
        "' OR 1=1 --",
        "ＡＢＣＤＥ-ＦＧＨＪＫ",
        "💥💥💥💥💥💥",
        "-----------",
        "12345\n",
        &long[..5000],
    ];
    let posts: Vec<(&str, BodyFor, bool)> = vec![
        (
            "/api/v1/auth/mfa/verify/",
            Box::new(|v| json!({"mfa_token": v, "code": v})),
            false,
        ),
        (
            "/api/v1/2fa/recover",
            Box::new(|v| json!({"mfa_token": v, "backup_code": v})),
            false,
        ),
        (
            "/api/v1/auth/password-reset/",
            Box::new(|v| json!({"email": v})),
            false,
        ),
        (
            "/api/v1/auth/password-reset-confirm/",
            Box::new(|v| json!({"token": v, "new_password": v})),
            false,
        ),
        (
            "/api/v1/2fa/verify",
            Box::new(|v| json!({"totp_code": v})),
            true,
        ),
        (
            "/api/v1/2fa/disable",
            Box::new(|v| json!({"password": v, "totp_code": v})),
            true,
        ),
        (
            "/api/v1/2fa/backup-codes",
            Box::new(|v| json!({"password": v, "totp_code": v})),
            true,
        ),
        (
            "/api/v1/2fa/enable",
            Box::new(|v| json!({"password": v})),
            true,
        ),
        (
            "/api/v1/auth/change-password/",
            Box::new(|v| json!({"current_password": v, "new_password": v})),
            true,
        ),
    ];
    for (path, body, bearer) in &posts {
        for value in hostile {
            let (status, reply) = if *bearer {
                app.post_bearer(path, &user.access, &body(value)).await
            } else {
                app.post(path, &body(value)).await
            };
            assert!(
                status.is_client_error(),
                "{path} with {:?}: {status} {reply}",
                value.chars().take(20).collect::<String>()
            );
            assert_eq!(reply["success"], json!(false));
        }
        // The right shape with wrong types is a 400 too.
        let (status, _) = app.post(path, &json!({"mfa_token": 1, "code": []})).await;
        assert!(status.is_client_error(), "{path}: {status}");
    }
    // Wrong passwords and codes above may have locked the account; it
    // still answers, with 200 or 429, never a 500.
    let status = app.login(&user.email, PASSWORD).await.0;
    assert!(
        status == StatusCode::OK || status == StatusCode::TOO_MANY_REQUESTS,
        "{status}"
    );
}
