//! TOTP codes from an implementation independent of the server's
//! (totp-lite, base32 from data-encoding), and 2FA setup for tests.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, remember_secret};

/// The RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret at `secs`.
pub fn code_at(secret_b32: &str, secs: u64) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret_b32.trim_end_matches('=').as_bytes())
        .expect("secret_key is base32");
    totp_lite::totp_custom::<totp_lite::Sha1>(30, 6, &key, secs)
}

/// A 2FA user: the secret and the backup codes.
pub struct MfaUser {
    pub email: String,
    pub access: String,
    pub secret: String,
    pub backup_codes: Vec<String>,
}

impl TestApp {
    pub fn now_secs(&self) -> u64 {
        u64::try_from(jobs::Clock::now_ms(self.clock.as_ref()) / 1000).unwrap()
    }

    /// The code the app shows now. (Six digits are too short for the log
    /// check to tell from timestamps, so codes are not listed there; the
    /// secret they come from is.)
    pub fn code_now(&self, secret: &str) -> String {
        code_at(secret, self.now_secs())
    }

    /// Moves the clock to the next 30-second step, so a new code is due.
    pub fn next_step(&self) {
        self.clock.advance_ms(30_000);
    }

    pub async fn enable_mfa(&self, access: &str) -> (StatusCode, Value) {
        let (status, body) = self
            .post_bearer(
                "/api/v1/2fa/enable",
                access,
                &json!({ "password": PASSWORD }),
            )
            .await;
        if let Some(secret) = body["data"]["secret_key"].as_str() {
            remember_secret(secret);
        }
        for code in body["data"]["backup_codes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            remember_secret(code.as_str().unwrap());
        }
        (status, body)
    }

    pub async fn confirm_mfa(&self, access: &str, code: &str) -> (StatusCode, Value) {
        self.post_bearer("/api/v1/2fa/verify", access, &json!({ "totp_code": code }))
            .await
    }

    /// A verified, logged-in user with 2FA on.
    pub async fn mfa_user(&self) -> MfaUser {
        let (email, access, _) = self.logged_in_user().await;
        let (status, body) = self.enable_mfa(&access).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let secret = body["data"]["secret_key"].as_str().unwrap().to_owned();
        let backup_codes = body["data"]["backup_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        let (status, body) = self.confirm_mfa(&access, &self.code_now(&secret)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        self.next_step();
        MfaUser {
            email,
            access,
            secret,
            backup_codes,
        }
    }

    /// Logs in with the password; returns the `mfa_token`.
    pub async fn mfa_token(&self, email: &str) -> String {
        let (status, body) = self.login(email, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["mfa_required"], json!(true), "{body}");
        let token = body["data"]["mfa_token"].as_str().unwrap().to_owned();
        remember_secret(&token);
        token
    }

    pub async fn mfa_verify(&self, mfa_token: &str, code: &str) -> (StatusCode, Value) {
        let (status, body) = self
            .post(
                "/api/v1/auth/mfa/verify/",
                &json!({ "mfa_token": mfa_token, "code": code }),
            )
            .await;
        remember_tokens(&body);
        (status, body)
    }

    pub async fn recover(&self, mfa_token: &str, backup_code: &str) -> (StatusCode, Value) {
        let (status, body) = self
            .post(
                "/api/v1/2fa/recover",
                &json!({ "mfa_token": mfa_token, "backup_code": backup_code }),
            )
            .await;
        remember_tokens(&body);
        (status, body)
    }

    /// Waits for `count` mails with `subject` to `email`; returns the last.
    pub async fn notice(&self, email: &str, subject: &str, count: usize) -> crate::smtp::Mail {
        let mails = self
            .smtp
            .wait_for_subject(email, subject, count, Duration::from_secs(10))
            .await;
        mails[count - 1].clone()
    }
}

fn remember_tokens(body: &Value) {
    for key in ["token", "refresh_token"] {
        if let Some(secret) = body["data"][key].as_str() {
            remember_secret(secret);
        }
    }
}
