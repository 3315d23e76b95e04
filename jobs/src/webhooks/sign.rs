//! Standard Webhooks 1.0 signatures: `v1,<base64 HMAC-SHA256 over
//! "{id}.{timestamp}.{body}">`, keyed with the decoded secret, one per
//! secret, separated by spaces.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::endpoint::WebhookSecret;

/// The `webhook-signature` header of one attempt.
pub fn signature(secrets: &[WebhookSecret], id: &str, timestamp_secs: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.key())
                .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp_secs.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example the Standard Webhooks reference libraries test with.
    #[test]
    fn signs_the_reference_libraries_example() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(
                &[secret],
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                body
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn each_secret_signs_while_rotating() {
        let a = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let b = WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([1u8; 32]))).unwrap();
        let both = signature(&[a.clone(), b.clone()], "msg_1", 1, b"{}");
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(
            parts,
            [
                signature(&[a], "msg_1", 1, b"{}"),
                signature(&[b], "msg_1", 1, b"{}")
            ]
        );
    }
}
