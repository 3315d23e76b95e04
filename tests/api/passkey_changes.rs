//! Adding a passkey asks for what the strongest factor asks (with 2FA on,
//! a code besides the password), and the notices of a password change list
//! the account's passkeys, so an owner sees one they did not add.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{CHANGED_SUBJECT, PASSWORD, spawn_app};

const NEW_PASSWORD: &str = "Brand-New-Secret-77";

#[tokio::test]
async fn with_2fa_on_adding_a_passkey_needs_a_code_besides_the_password() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    // The password alone (a stolen session and the password): refused
    // before the password is checked, naming the missing field.
    let (status, body) = app
        .start_registration(&user.access, &json!({ "password": PASSWORD }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["totp_code"].is_array(), "{body}");
    for code in [json!(null), json!("123456"), json!(user.backup_codes[0])] {
        let (status, body) = app
            .start_registration(
                &user.access,
                &json!({ "password": PASSWORD, "totp_code": code }),
            )
            .await;
        let expected = if code.is_null() {
            StatusCode::BAD_REQUEST
        } else {
            // A wrong code, or a backup code (as for new backup codes).
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "{code}: {body}");
    }
    // A right code with a wrong password.
    let code = app.code_now(&user.secret);
    let (status, _) = app
        .start_registration(
            &user.access,
            &json!({ "password": "Wrong-Password-9", "totp_code": code }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The password and a current code: added.
    let (_, added) = app.add_mfa_passkey(&user, "Phone").await;
    assert_eq!(added["name"], "Phone");
    // Without 2FA the password is still all it takes.
    let (_, access, _) = app.logged_in_user().await;
    app.add_passkey(&access, "Laptop").await;
}

#[tokio::test]
async fn wrong_codes_when_adding_a_passkey_count_toward_the_lockout() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    for i in 0..5 {
        let (status, body) = app
            .start_registration(
                &user.access,
                &json!({ "password": PASSWORD, "totp_code": "123456" }),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}: {body}");
    }
    // They spend the session's device budget: the session is locked, the
    // account is not.
    let (status, body) = app
        .start_registration(
            &user.access,
            &json!({ "password": PASSWORD, "totp_code": app.code_now(&user.secret) }),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, body) = app.login(&user.email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        crate::events::kinds(&app, &user.access)
            .await
            .contains(&"mfa_failed".to_owned())
    );
}

#[tokio::test]
async fn the_notice_of_a_reset_lists_the_accounts_passkeys_and_none_without() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let (laptop, _) = app.add_passkey(&access, "Laptop").await;
    app.add_passkey(&access, "<b>Phone</b>").await;
    let (plain, _, _) = app.logged_in_user().await;

    for address in [&email, &plain] {
        app.request_reset(address).await;
        let token = app.reset_token(address, 1).await;
        let (status, body) = app.confirm_reset(&token, NEW_PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mail = app.notice(&email, CHANGED_SUBJECT, 1).await;
    for body in [&mail.text, &mail.html] {
        assert!(body.contains("Passkeys on your account"), "{body}");
        assert!(body.contains("Laptop"), "{body}");
        assert!(body.contains("added 20"), "{body}");
        assert!(body.contains(" UTC"), "{body}");
    }
    assert!(mail.text.contains("\"<b>Phone</b>\""), "{}", mail.text);
    assert!(mail.html.contains("&lt;b&gt;Phone"), "{}", mail.html);
    assert!(!mail.html.contains("<b>Phone"), "{}", mail.html);
    // Nothing of the credential itself.
    let credential_id = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &laptop.credential_id,
    );
    for body in [&mail.text, &mail.html, &mail.raw] {
        assert!(!body.contains(&credential_id));
        assert!(!body.contains("token="));
    }

    let mail = app.notice(&plain, CHANGED_SUBJECT, 1).await;
    for body in [&mail.text, &mail.html] {
        assert!(!body.to_lowercase().contains("passkey"), "{body}");
    }
}

#[tokio::test]
async fn the_notice_of_a_password_change_lists_the_accounts_passkeys() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    app.add_passkey(&access, "Security key").await;
    let (status, body) = app.change_password(&access, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mail = app.notice(&email, CHANGED_SUBJECT, 1).await;
    assert!(
        mail.text.contains("\"Security key\", added 20"),
        "{}",
        mail.text
    );
}
