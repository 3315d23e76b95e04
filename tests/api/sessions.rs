//! Login, tokens, refresh rotation, logout and verify-token.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, assert_error, builder, count, parallel_statuses, spawn_app, unique_email,
};

#[tokio::test]
async fn login_returns_an_access_token_a_refresh_token_and_the_user() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    let (status, body) = app.login(&email.to_uppercase(), PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], json!("Login successful"));
    let data = &body["data"];
    assert_eq!(data["token_type"], json!("Bearer"));
    assert_eq!(data["expires_in"], json!(3600));
    assert_eq!(data["user"]["email"], json!(email));
    assert_eq!(data["user"]["is_email_verified"], json!(true));
    assert_eq!(data["user"]["mfa_enabled"], json!(false));
    assert!(data["refresh_token"].as_str().unwrap().len() >= 43);
    let token = data["token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["typ"], json!("access"));
    assert_eq!(claims["iss"], json!("authd"));
    assert_eq!(claims["aud"], json!("authd"));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(claims["sub"], data["user"]["id"]);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_401() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    let (s1, b1) = app.login(&email, "Wrong-Password-1").await;
    let (s2, b2) = app.login(&unique_email(), PASSWORD).await;
    let (s3, b3) = app.login("not-an-email", PASSWORD).await;
    assert_eq!(
        (s1, s2, s3),
        (
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED
        )
    );
    assert_eq!(b1, b2);
    assert_eq!(b2, b3);
    assert_error(&b1, 401, "Unauthorized");
    assert_eq!(b1["message"], json!("Invalid email or password"));
}

#[tokio::test]
async fn the_right_password_on_an_unverified_email_gets_403() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register_and_get_token(&email).await;
    let (status, body) = app.login(&email, PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, 403, "Forbidden");
}

#[tokio::test]
async fn verify_token_returns_the_user() {
    let app = spawn_app().await;
    let (access, _) = app.logged_in().await;
    let (status, body) = app.verify_token(&access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["user"]["id"].is_string());
    assert!(body["data"]["expires_at"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn verify_token_without_a_token_gets_a_401_envelope() {
    let app = spawn_app().await;
    let (status, body) = app.get("/api/v1/auth/verify-token/").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, 401, "Unauthorized");
    let resp = app
        .client
        .get(app.url("/api/v1/auth/verify-token"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

fn sign_hs(alg: &str, secret: &[u8], claims: &Value) -> String {
    use hmac::{Hmac, Mac};
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let sig = match alg {
        "HS256" => {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut m = Hmac::<sha2::Sha512>::new_from_slice(secret).unwrap();
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[tokio::test]
async fn forged_tokens_get_401() {
    let app = spawn_app().await;
    let (access, _) = app.logged_in().await;
    // The configured secret (PostgreSQL), or the one generated (SQLite).
    let secret = match &app.settings.jwt_secret {
        Some(s) => s.0.clone(),
        None => base64::engine::general_purpose::STANDARD
            .decode(
                std::fs::read_to_string(app.dir.path().join("jwt_secret"))
                    .unwrap()
                    .trim(),
            )
            .unwrap(),
    };
    let parts: Vec<&str> = access.split('.').collect();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();

    // Sanity: our own signer with the real secret is accepted.
    assert_eq!(
        app.verify_token(&sign_hs("HS256", &secret, &claims))
            .await
            .0,
        StatusCode::OK
    );

    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
        parts[1]
    );
    let mut tampered_claims = claims.clone();
    tampered_claims["sub"] = json!(uuid::Uuid::new_v4().to_string());
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(tampered_claims.to_string()),
        parts[2]
    );
    let mut wrong_iss = claims.clone();
    wrong_iss["iss"] = json!("someone-else");
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("other-service");
    let mut refresh_typ = claims.clone();
    refresh_typ["typ"] = json!("refresh");
    let forged = [
        ("alg none", none),
        ("other algorithm", sign_hs("HS512", &secret, &claims)),
        (
            "wrong key",
            sign_hs("HS256", b"0123456789abcdef0123456789abcdef", &claims),
        ),
        ("tampered payload", tampered),
        ("wrong iss", sign_hs("HS256", &secret, &wrong_iss)),
        ("wrong aud", sign_hs("HS256", &secret, &wrong_aud)),
        ("wrong typ", sign_hs("HS256", &secret, &refresh_typ)),
        ("malformed", "not.a.jwt".to_owned()),
        ("garbage", "x".repeat(5000)),
    ];
    for (what, token) in forged {
        let (status, body) = app.verify_token(&token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_error(&body, 401, "Unauthorized");
    }
}

#[tokio::test]
async fn an_expired_token_gets_401() {
    let app = spawn_app().await;
    let (access, _) = app.logged_in().await;
    app.clock.advance_ms(3_600_000 + 3_000);
    assert_eq!(
        app.verify_token(&access).await.0,
        StatusCode::OK,
        "within the leeway"
    );
    app.clock.advance_ms(10_000);
    assert_eq!(app.verify_token(&access).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_revokes_the_access_and_refresh_tokens() {
    let app = spawn_app().await;
    let (access, refresh) = app.logged_in().await;
    let (status, body) = app.logout(&access, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.verify_token(&access).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&refresh).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.logout(&access, None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_accepts_the_refresh_token_under_either_name() {
    let app = spawn_app().await;
    for field in ["refresh_token", "token"] {
        let (access, refresh) = app.logged_in().await;
        let (status, _) = app.logout(&access, Some(json!({ field: refresh }))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(app.refresh(&refresh).await.0, StatusCode::UNAUTHORIZED);
    }
    let (access, _) = app.logged_in().await;
    let (status, body) = app.logout(&access, Some(json!({"bogus": 1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn a_revoked_token_stays_revoked_after_a_restart() {
    let first = builder().spawn().await;
    let (access, _) = first.logged_in().await;
    assert_eq!(first.logout(&access, None).await.0, StatusCode::OK);
    let second = first.restart().await;
    assert_eq!(
        second.verify_token(&access).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refresh_rotates_the_pair() {
    let app = spawn_app().await;
    let (_, refresh) = app.logged_in().await;
    let (status, body) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new_access = body["data"]["token"].as_str().unwrap();
    let new_refresh = body["data"]["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, refresh);
    assert_eq!(app.verify_token(new_access).await.0, StatusCode::OK);
    let (status, _) = app.refresh(new_refresh).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_whole_session() {
    let app = spawn_app().await;
    let (first_access, refresh) = app.logged_in().await;
    let (_, body) = app.refresh(&refresh).await;
    let access2 = body["data"]["token"].as_str().unwrap().to_owned();
    let refresh2 = body["data"]["refresh_token"].as_str().unwrap().to_owned();
    // The old token again: refused, and the session is gone.
    assert_eq!(app.refresh(&refresh).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&refresh2).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.verify_token(&access2).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.verify_token(&first_access).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn ten_parallel_refreshes_with_one_token_have_one_winner() {
    let app = spawn_app().await;
    let (_, refresh) = app.logged_in().await;
    let attempts = (0..10).map(|_| app.refresh(&refresh));
    let statuses = parallel_statuses(attempts).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::UNAUTHORIZED), 9);
}

/// Rotation and revocation take a session's row and its tokens' rows; taken
/// in opposite orders they deadlock on PostgreSQL (one of the two fails).
/// Three refreshes of one token race, so a loser may be taken as reuse and
/// end the session before the logout: then (only then) the logout's access
/// token is already revoked and it gets 401.
#[tokio::test]
async fn a_logout_racing_refreshes_of_its_session_ends_it_and_fails_nothing() {
    let app = spawn_app().await;
    let (email, _, _) = app.logged_in_user().await;
    for round in 0..12 {
        let (access, refresh) = app.tokens_for(&email, PASSWORD).await;
        let refreshes = futures::future::join_all((0..3).map(|_| app.refresh(&refresh)));
        let (refreshed, (logout, body)) = tokio::join!(refreshes, app.logout(&access, None));
        let a_refresh_lost = refreshed
            .iter()
            .any(|(s, _)| *s == StatusCode::UNAUTHORIZED);
        assert!(
            logout == StatusCode::OK || (logout == StatusCode::UNAUTHORIZED && a_refresh_lost),
            "round {round}: {logout} {body}"
        );
        let won: Vec<&str> = refreshed
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .filter_map(|(_, b)| b["data"]["refresh_token"].as_str())
            .collect();
        for (status, body) in &refreshed {
            assert!(
                [StatusCode::OK, StatusCode::UNAUTHORIZED].contains(status),
                "round {round}: {status} {body}"
            );
        }
        assert!(won.len() <= 1, "round {round}: {} winners", won.len());
        for token in won {
            assert_eq!(app.refresh(token).await.0, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(app.verify_token(&access).await.0, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn bad_refresh_tokens_get_401() {
    let app = spawn_app().await;
    for token in ["", "short", &"A".repeat(43), &"é".repeat(50)] {
        let (status, body) = app.refresh(token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_error(&body, 401, "Unauthorized");
    }
    let (_, refresh) = app.logged_in().await;
    app.clock.advance_ms(14 * 24 * 3600 * 1000 + 1000);
    assert_eq!(
        app.refresh(&refresh).await.0,
        StatusCode::UNAUTHORIZED,
        "expired after 14 days"
    );
}

#[tokio::test]
async fn the_jwks_is_empty_with_hs256_and_holds_the_key_with_eddsa() {
    let app = spawn_app().await;
    let (status, body) = app.get("/.well-known/jwks.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["keys"], json!([]));

    // A key file of its own (on PostgreSQL none is generated).
    let pem_dir = tempfile::tempdir().unwrap();
    let pem = pem_dir.path().join("ed25519.pem");
    std::fs::write(&pem, actors::jwt::generate_ed25519_pem().unwrap()).unwrap();
    let app = builder()
        .settings(move |s| {
            s.jwt_algorithm = authd::config::JwtAlgorithm::EdDsa;
            s.jwt_private_key_file = Some(pem);
        })
        .spawn()
        .await;
    let (_, jwks) = app.get("/.well-known/jwks.json").await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], json!("OKP"));
    assert_eq!(key["crv"], json!("Ed25519"));
    let (access, _) = app.logged_in().await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], json!("EdDSA"));
    assert_eq!(header["kid"], key["kid"]);
    // Another service verifies with the published key alone.
    let decoding =
        jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(key.clone()).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["authd"]);
    validation.set_issuer(&["authd"]);
    assert!(jsonwebtoken::decode::<Value>(&access, &decoding, &validation).is_ok());
    assert_eq!(app.verify_token(&access).await.0, StatusCode::OK);
    let _ = Duration::ZERO;
}

#[tokio::test]
async fn a_dead_actor_costs_at_most_a_prompt_500_and_is_replaced() {
    let app = spawn_app().await;
    let email = unique_email();
    app.verified_user(&email).await;
    app.actors.gates().unwrap().kill();
    app.actors.registry().unwrap().kill();
    let started = std::time::Instant::now();
    loop {
        let (status, body) =
            tokio::time::timeout(Duration::from_secs(5), app.login(&email, PASSWORD))
                .await
                .expect("a request never hangs");
        if status == StatusCode::OK {
            let token = body["data"]["token"].as_str().unwrap().to_owned();
            assert_eq!(
                app.logout(&token, None).await.0,
                StatusCode::OK,
                "the new TokenRegistry works"
            );
            break;
        }
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert_error(&body, 500, "Internal server error");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the supervisor did not replace the actor"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_deactivated_users_token_gets_401() {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let app = spawn_app().await;
    let (access, refresh) = app.logged_in().await;
    let (_, body) = app.verify_token(&access).await;
    let id = uuid::Uuid::parse_str(body["data"]["user"]["id"].as_str().unwrap()).unwrap();
    actors::store::users::Entity::update_many()
        .col_expr(actors::store::users::Column::IsActive, Expr::value(false))
        .filter(actors::store::users::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .unwrap();
    crate::helpers::eventually("the token refused", Duration::from_secs(2), || async {
        app.verify_token(&access).await.0 == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(app.refresh(&refresh).await.0, StatusCode::UNAUTHORIZED);
}

/// How many attempt gates the supervisor has running.
async fn live_gates(app: &crate::helpers::TestApp) -> usize {
    app.actors
        .gates()
        .unwrap()
        .call(
            |reply| actors::gate_supervisor::GatesMsg::Count { reply },
            Some(Duration::from_secs(5)),
        )
        .await
        .unwrap()
        .unwrap()
}

/// The supervisor stops a gate only once it has answered everything sent
/// to it: an attempt queued behind one that is held past the idle time is
/// answered, not dropped with the gate.
#[tokio::test]
async fn a_gate_with_an_attempt_waiting_is_not_stopped_as_idle() {
    let app = builder()
        .settings(|s| s.gate_idle = Duration::from_millis(100))
        .spawn()
        .await;
    let count = || live_gates(&app);
    let email = unique_email();
    app.verified_user(&email).await;
    let pause = app.hooks.before_session_start.clone();
    pause.arm();
    let held = app.login(&email, PASSWORD);
    let queued = async {
        pause.reached().await;
        let queued = app.login(&email, PASSWORD);
        let hold = async {
            // Several sweeps, each seeing the last attempt sent long ago.
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert_eq!(count().await, 1, "the busy gate was stopped");
            pause.resume();
        };
        tokio::join!(queued, hold).0
    };
    let ((first, body), (second, queued_body)) = tokio::join!(held, queued);
    assert_eq!(first, StatusCode::OK, "{body}");
    assert_eq!(second, StatusCode::OK, "{queued_body}");
    crate::helpers::eventually("the idle gate to stop", Duration::from_secs(3), || async {
        count().await == 0
    })
    .await;
}

#[tokio::test]
async fn an_idle_attempt_gate_stops_and_a_new_one_starts_on_demand() {
    let app = builder()
        .settings(|s| s.gate_idle = Duration::from_millis(200))
        .spawn()
        .await;
    let count = || live_gates(&app);
    let email = unique_email();
    app.verified_user(&email).await;
    assert_eq!(app.login(&email, PASSWORD).await.0, StatusCode::OK);
    assert_eq!(count().await, 1);
    crate::helpers::eventually(
        "the idle session to stop",
        Duration::from_secs(3),
        || async { count().await == 0 },
    )
    .await;
    assert_eq!(app.login(&email, PASSWORD).await.0, StatusCode::OK);
    assert_eq!(count().await, 1);
}
