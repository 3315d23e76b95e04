//! Moving an account to another address: the request (re-authenticated,
//! one answer whether the address is free or taken), the link to the new
//! address, the link that puts the old one back, and their races.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, assert_error, builder, count, parallel_statuses, remember_secret, spawn_app,
    tokens_of, unique_email,
};

const CONFIRM_SUBJECT: &str = "Confirm your new email address";
const TAKEN_SUBJECT: &str = "Someone asked to use this address for an account";
const CHANGED_SUBJECT: &str = "The email address of your account was changed";
const RESTORED_SUBJECT: &str = "Your email address is back: choose a new password";
const REQUESTED: &str = "If the address can be used, a confirmation link was sent to it";
const WAIT: Duration = Duration::from_secs(10);

impl TestApp {
    async fn change_email(&self, access: &str, body: Value) -> (StatusCode, Value) {
        self.post_bearer("/api/v1/auth/change-email/", access, &body)
            .await
    }

    /// Asks to move the account of `access` to `new` with the password.
    async fn ask_email_change(&self, access: &str, new: &str) -> (StatusCode, Value) {
        self.change_email(access, json!({ "password": PASSWORD, "new_email": new }))
            .await
    }

    async fn confirm_email_change(&self, token: &str) -> (StatusCode, Value) {
        self.post(
            "/api/v1/auth/confirm-email-change/",
            &json!({ "token": token }),
        )
        .await
    }

    async fn revert_email_change(&self, token: &str) -> (StatusCode, Value) {
        self.post(
            "/api/v1/auth/revert-email-change/",
            &json!({ "token": token }),
        )
        .await
    }

    /// The token of the `n`th (1-based) mail to `to` with `subject`.
    async fn token_mailed(&self, to: &str, subject: &str, n: usize) -> String {
        let mails = self.smtp.wait_for_subject(to, subject, n, WAIT).await;
        let token = mails[n - 1].token();
        remember_secret(&token);
        token
    }

    /// The kinds of the outbox rows to `to`, in no particular order.
    async fn outbox_kinds(&self, to: &str) -> Vec<String> {
        self.outbox()
            .await
            .into_iter()
            .filter(|r| r.recipient.eq_ignore_ascii_case(to))
            .map(|r| r.kind)
            .collect()
    }

    /// Moves the account of `access` to a new address, confirmed: the
    /// new address.
    async fn moved(&self, access: &str) -> String {
        let new = unique_email();
        let (status, body) = self.ask_email_change(access, &new).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = self.token_mailed(&new, CONFIRM_SUBJECT, 1).await;
        let (status, body) = self.confirm_email_change(&token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        new
    }

    async fn event_kinds(&self, access: &str) -> Vec<String> {
        let (status, body) = self.get_bearer("/api/v1/auth/events/", access).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn a_confirmed_change_moves_the_account_and_ends_every_session() {
    let app = spawn_app().await;
    let (old, access, refresh) = app.logged_in_user().await;
    let (other_access, other_refresh) = app.tokens_for(&old, PASSWORD).await;
    let new = unique_email();

    let (status, body) = app.ask_email_change(&access, &new.to_uppercase()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], json!(REQUESTED));
    assert_eq!(app.outbox_kinds(&new).await, ["email_change_confirm"]);
    let token = app.token_mailed(&new, CONFIRM_SUBJECT, 1).await;
    let mail = &app.smtp.mails_to(&new)[0];
    assert!(
        mail.text.contains("/confirm-email-change?token="),
        "{}",
        mail.text
    );
    // Nothing changes until the link is used.
    assert_eq!(app.verify_token(&access).await.0, StatusCode::OK);
    assert_eq!(app.login(&new, PASSWORD).await.0, StatusCode::UNAUTHORIZED);

    let (status, body) = app.confirm_email_change(&token).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for access in [&access, &other_access] {
        assert_eq!(app.verify_token(access).await.0, StatusCode::UNAUTHORIZED);
    }
    for refresh in [&refresh, &other_refresh] {
        assert_eq!(app.refresh(refresh).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.login(&old, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = app.login(&new, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (access, _) = tokens_of(&body);
    let (status, me) = app.verify_token(&access).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["data"]["user"]["email"], json!(new.to_uppercase()));
    assert_eq!(me["data"]["user"]["is_email_verified"], json!(true));

    // The old address is told, with a link that puts it back.
    let notice = &app
        .smtp
        .wait_for_subject(&old, CHANGED_SUBJECT, 1, WAIT)
        .await[0];
    assert!(
        notice.text.contains("/revert-email-change?token="),
        "{}",
        notice.text
    );
    let kinds = app.event_kinds(&access).await;
    for kind in ["email_change_requested", "email_changed"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
    }
}

#[tokio::test]
async fn a_taken_address_gets_the_same_answer_and_a_notice_without_a_link() {
    let app = spawn_app().await;
    let (_, access, _) = app.logged_in_user().await;
    let (taken, _, _) = app.logged_in_user().await;
    let free = unique_email();

    let (status_taken, body_taken) = app.ask_email_change(&access, &taken.to_uppercase()).await;
    let (status_free, body_free) = app.ask_email_change(&access, &free).await;
    assert_eq!(status_taken, StatusCode::OK, "{body_taken}");
    assert_eq!(status_free, StatusCode::OK, "{body_free}");
    assert_eq!(body_taken, body_free);

    let notice = &app
        .smtp
        .wait_for_subject(&taken, TAKEN_SUBJECT, 1, WAIT)
        .await[0];
    assert!(!notice.raw.contains("token="), "{}", notice.raw);
    let kinds = app.outbox_kinds(&taken).await;
    assert!(
        kinds.contains(&"email_change_taken".to_owned()),
        "{kinds:?}"
    );
    assert!(
        !kinds.contains(&"email_change_confirm".to_owned()),
        "{kinds:?}"
    );
    app.token_mailed(&free, CONFIRM_SUBJECT, 1).await;
    // The taken address's account is untouched and still logs in.
    assert_eq!(app.login(&taken, PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn bad_input_is_a_clear_400_and_nothing_is_mailed() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    let before = app.outbox().await.len();
    for (body, field) in [
        (
            json!({ "password": PASSWORD, "new_email": "not an address" }),
            "new_email",
        ),
        (
            json!({ "password": PASSWORD, "new_email": "" }),
            "new_email",
        ),
        (
            json!({ "password": PASSWORD, "new_email": email.to_uppercase() }),
            "new_email",
        ),
        (json!({ "password": PASSWORD }), "new_email"),
    ] {
        let (status, reply) = app.change_email(&access, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert_error(&reply, 400, "Invalid request");
        if body.get("new_email").is_some() {
            assert!(reply["errors"][field].is_array(), "{reply}");
        }
    }
    let extra = json!({ "password": PASSWORD, "new_email": unique_email(), "email": "x@y.z" });
    assert_eq!(
        app.change_email(&access, extra).await.0,
        StatusCode::BAD_REQUEST
    );
    for token in ["", "short", &"a".repeat(43)] {
        assert_eq!(
            app.confirm_email_change(token).await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            app.revert_email_change(token).await.0,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(app.outbox().await.len(), before);
    // Without a token: 401.
    let (status, _) = app
        .post(
            "/api/v1/auth/change-email/",
            &json!({ "password": PASSWORD, "new_email": unique_email() }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_password_gets_401_and_spends_the_sessions_device_budget() {
    let app = spawn_app().await;
    let (email, access, _) = app.logged_in_user().await;
    for _ in 0..5 {
        let body = json!({ "password": "Wrong-Password-9", "new_email": unique_email() });
        let (status, reply) = app.change_email(&access, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{reply}");
        assert_error(&reply, 401, "Unauthorized");
    }
    let (status, body) = app.ask_email_change(&access, &unique_email()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // The failures were the session's device's: a login from elsewhere is
    // not refused because of them.
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokens_of(&body);
    app.clock.advance_ms(61_000);
    assert_eq!(
        app.ask_email_change(&access, &unique_email()).await.0,
        StatusCode::OK
    );
    let failed = app
        .event_kinds(&access)
        .await
        .into_iter()
        .filter(|k| k == "login_failed")
        .count();
    assert_eq!(failed, 5);
}

#[tokio::test]
async fn with_2fa_on_a_change_needs_a_right_code() {
    let app = spawn_app().await;
    let user = app.mfa_user().await;
    let new = unique_email();
    let (status, body) = app.ask_email_change(&user.access, &new).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_error(&body, 401, "Unauthorized");
    assert!(body["errors"]["totp_code"].is_array(), "{body}");
    let wrong = json!({ "password": PASSWORD, "new_email": new, "totp_code": "000000" });
    let (status, body) = app.change_email(&user.access, wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let code = app.code_now(&user.secret);
    let wrong_password =
        json!({ "password": "Wrong-Password-9", "new_email": new, "totp_code": code });
    let (status, body) = app.change_email(&user.access, wrong_password).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(app.outbox_kinds(&new).await.is_empty());
    app.next_step();
    let code = app.code_now(&user.secret);
    let right = json!({ "password": PASSWORD, "new_email": new, "totp_code": code });
    let (status, body) = app.change_email(&user.access, right).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = app.token_mailed(&new, CONFIRM_SUBJECT, 1).await;
    assert_eq!(app.confirm_email_change(&token).await.0, StatusCode::OK);
    // 2FA stays on at the new address.
    let (status, body) = app.login(&new, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["mfa_token"].is_string(), "{body}");
}

#[tokio::test]
async fn a_link_works_once_and_only_the_newest_one() {
    let app = spawn_app().await;
    let (_, access, _) = app.logged_in_user().await;
    let (first, second) = (unique_email(), unique_email());
    assert_eq!(
        app.ask_email_change(&access, &first).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.ask_email_change(&access, &second).await.0,
        StatusCode::OK
    );
    let voided = app.token_mailed(&first, CONFIRM_SUBJECT, 1).await;
    let token = app.token_mailed(&second, CONFIRM_SUBJECT, 1).await;
    let (status, body) = app.confirm_email_change(&voided).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"]["token"].is_array(), "{body}");
    assert_eq!(app.confirm_email_change(&token).await.0, StatusCode::OK);
    assert_eq!(
        app.confirm_email_change(&token).await.0,
        StatusCode::BAD_REQUEST
    );
    // A confirmation link is not a revert link, nor a reset token.
    assert_eq!(
        app.revert_email_change(&token).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.login(&second, PASSWORD).await.0, StatusCode::OK);
    assert_eq!(
        app.login(&first, PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_link_expires_after_24_hours() {
    let app = spawn_app().await;
    let (old, access, _) = app.logged_in_user().await;
    let new = unique_email();
    assert_eq!(app.ask_email_change(&access, &new).await.0, StatusCode::OK);
    let token = app.token_mailed(&new, CONFIRM_SUBJECT, 1).await;
    app.clock.advance_ms(24 * 3600 * 1000 + 1000);
    let (status, body) = app.confirm_email_change(&token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(app.login(&old, PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_revert_puts_the_old_address_back_ends_sessions_and_mails_a_reset_link() {
    let app = spawn_app().await;
    let (old, access, _) = app.logged_in_user().await;
    let new = app.moved(&access).await;
    let revert = app.token_mailed(&old, CHANGED_SUBJECT, 1).await;
    // Whoever moved the account logs in and asks for another move.
    let (access_new, refresh_new) = app.tokens_for(&new, PASSWORD).await;
    let pending = unique_email();
    assert_eq!(
        app.ask_email_change(&access_new, &pending).await.0,
        StatusCode::OK
    );
    let pending_token = app.token_mailed(&pending, CONFIRM_SUBJECT, 1).await;

    let (status, body) = app.revert_email_change(&revert).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    assert_eq!(
        app.verify_token(&access_new).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.refresh(&refresh_new).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login(&new, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.confirm_email_change(&pending_token).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.revert_email_change(&revert).await.0,
        StatusCode::BAD_REQUEST
    );
    // The current password keeps working until it is reset.
    let (status, body) = app.login(&old, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (access_old, _) = tokens_of(&body);
    let kinds = app.event_kinds(&access_old).await;
    assert!(
        kinds.iter().any(|k| k == "email_change_reverted"),
        "{kinds:?}"
    );

    let reset = app.token_mailed(&old, RESTORED_SUBJECT, 1).await;
    let new_password = "Taken-Back-Secret-31";
    let (status, body) = app.confirm_reset(&reset, new_password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.login(&old, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login(&old, new_password).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_revert_voids_the_revert_links_of_later_moves() {
    let app = spawn_app().await;
    let (first, access, _) = app.logged_in_user().await;
    let second = app.moved(&access).await;
    let back_to_first = app.token_mailed(&first, CHANGED_SUBJECT, 1).await;
    let (access, _) = app.tokens_for(&second, PASSWORD).await;
    let third = app.moved(&access).await;
    let back_to_second = app.token_mailed(&second, CHANGED_SUBJECT, 1).await;

    assert_eq!(
        app.revert_email_change(&back_to_first).await.0,
        StatusCode::OK
    );
    // The later move's link would take the account away again.
    let (status, body) = app.revert_email_change(&back_to_second).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(app.login(&first, PASSWORD).await.0, StatusCode::OK);
    for gone in [&second, &third] {
        assert_eq!(app.login(gone, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_revert_to_an_address_taken_meanwhile_is_409_and_changes_nothing() {
    let app = spawn_app().await;
    let (old, access, _) = app.logged_in_user().await;
    let new = app.moved(&access).await;
    let revert = app.token_mailed(&old, CHANGED_SUBJECT, 1).await;
    // Someone registers the old address meanwhile (its second
    // verification mail: the first was the account's own).
    assert_eq!(app.register(&old).await.0, StatusCode::CREATED);
    let verify = app.token_mailed(&old, "Verify your email address", 2).await;
    assert_eq!(app.verify_email(&verify).await.0, StatusCode::OK);
    let (status, body) = app.revert_email_change(&revert).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, 409, "Conflict");
    assert_eq!(app.login(&new, PASSWORD).await.0, StatusCode::OK);
    // The link was not used up: it still answers 409, not 400.
    assert_eq!(
        app.revert_email_change(&revert).await.0,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn change_email_mails_count_in_the_recipients_hourly_budget() {
    let app = builder()
        .settings(|s| s.mail_per_recipient_per_hour = 2)
        .spawn()
        .await;
    let target = unique_email();
    for _ in 0..3 {
        let (_, access, _) = app.logged_in_user().await;
        let (status, body) = app.ask_email_change(&access, &target).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["message"], json!(REQUESTED));
    }
    assert_eq!(app.outbox_kinds(&target).await.len(), 2);
}

#[tokio::test]
async fn the_three_endpoints_are_limited_per_ip() {
    let app = builder()
        .settings(|s| s.rate_limit_per_minute = 5)
        .spawn()
        .await;
    let (_, access, _) = app.logged_in_user().await;
    let token = "a".repeat(43);
    for (path, bearer) in [
        ("/api/v1/auth/change-email/", true),
        ("/api/v1/auth/confirm-email-change/", false),
        ("/api/v1/auth/revert-email-change/", false),
    ] {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let mut req = app
                .client
                .post(app.url(path))
                .header("x-forwarded-for", "198.51.100.7")
                .json(&json!({ "token": token }));
            if bearer {
                req = req.bearer_auth(&access);
            }
            statuses.push(req.send().await.unwrap().status());
        }
        assert_eq!(
            count(&statuses[..5], StatusCode::BAD_REQUEST),
            5,
            "{path}: {statuses:?}"
        );
        assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
}

// --- Races -------------------------------------------------------------

#[tokio::test]
async fn two_confirmations_of_one_link_give_exactly_one_200() {
    let app = spawn_app().await;
    let (old, access, _) = app.logged_in_user().await;
    let new = unique_email();
    assert_eq!(app.ask_email_change(&access, &new).await.0, StatusCode::OK);
    let token = app.token_mailed(&new, CONFIRM_SUBJECT, 1).await;
    let statuses = parallel_statuses((0..6).map(|_| app.confirm_email_change(&token))).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::BAD_REQUEST), 5, "{statuses:?}");
    // One move: one revert link.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kinds = app.outbox_kinds(&old).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "email_changed").count(),
        1,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_confirmation_racing_a_registration_leaves_one_account_with_the_address() {
    let app = spawn_app().await;
    for _ in 0..4 {
        let (_, access, _) = app.logged_in_user().await;
        let new = unique_email();
        assert_eq!(app.ask_email_change(&access, &new).await.0, StatusCode::OK);
        let token = app.token_mailed(&new, CONFIRM_SUBJECT, 1).await;
        let spelled = new.to_uppercase();
        let (confirmed, registered) =
            tokio::join!(app.confirm_email_change(&token), app.register(&spelled));
        let (confirmed, registered) = (confirmed.0, registered.0);
        let won = [
            confirmed == StatusCode::OK,
            registered == StatusCode::CREATED,
        ];
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "confirm {confirmed}, register {registered}"
        );
        let lost = if won[0] { registered } else { confirmed };
        assert_eq!(lost, StatusCode::CONFLICT);
        let rows = actors::store::users::Entity::find()
            .filter(actors::store::users::Column::EmailNormalized.eq(new.to_lowercase()))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
    }
}

#[tokio::test]
async fn a_revert_racing_a_second_move_ends_at_the_old_address() {
    let app = spawn_app().await;
    for _ in 0..3 {
        let (old, access, _) = app.logged_in_user().await;
        let middle = app.moved(&access).await;
        let revert = app.token_mailed(&old, CHANGED_SUBJECT, 1).await;
        let (access, refresh) = app.tokens_for(&middle, PASSWORD).await;
        let last = unique_email();
        assert_eq!(app.ask_email_change(&access, &last).await.0, StatusCode::OK);
        let token = app.token_mailed(&last, CONFIRM_SUBJECT, 1).await;

        let (reverted, confirmed) = tokio::join!(
            app.revert_email_change(&revert),
            app.confirm_email_change(&token)
        );
        assert_eq!(reverted.0, StatusCode::OK, "{}", reverted.1);
        // Either the move came first (and the revert undid it) or the
        // revert voided its link.
        assert!(
            [StatusCode::OK, StatusCode::BAD_REQUEST].contains(&confirmed.0),
            "{}",
            confirmed.1
        );
        let user = app
            .user(&old.to_lowercase())
            .await
            .expect("back at the old address");
        assert_eq!(user.email, old);
        for gone in [&middle, &last] {
            assert!(app.user(&gone.to_lowercase()).await.is_none());
            assert_eq!(app.login(gone, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(app.refresh(&refresh).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(app.login(&old, PASSWORD).await.0, StatusCode::OK);
        if confirmed.0 == StatusCode::OK {
            // The move's own revert link leads nowhere now.
            let back = app.token_mailed(&middle, CHANGED_SUBJECT, 1).await;
            assert_eq!(
                app.revert_email_change(&back).await.0,
                StatusCode::BAD_REQUEST
            );
        }
    }
}

#[tokio::test]
async fn a_change_request_checked_before_a_revert_cannot_issue_a_link_after_it() {
    let app = spawn_app().await;
    let (old, access, _) = app.logged_in_user().await;
    let new = app.moved(&access).await;
    let revert = app.token_mailed(&old, CHANGED_SUBJECT, 1).await;
    let (access, _) = app.tokens_for(&new, PASSWORD).await;
    let target = unique_email();
    // The request's password is checked; the revert commits before its
    // unit of work begins.
    app.hooks.before_email_change_work.arm();
    let request = app.ask_email_change(&access, &target);
    let race = async {
        app.hooks.before_email_change_work.reached().await;
        let reverted = app.revert_email_change(&revert).await;
        app.hooks.before_email_change_work.resume();
        reverted
    };
    let ((status, body), (reverted, _)) = tokio::join!(request, race);
    assert_eq!(reverted, StatusCode::OK);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(app.outbox_kinds(&target).await.is_empty());
    // And a request after the revert: its session is gone.
    assert_eq!(
        app.ask_email_change(&access, &target).await.0,
        StatusCode::UNAUTHORIZED
    );
}
