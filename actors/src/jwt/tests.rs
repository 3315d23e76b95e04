use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;

const NOW: i64 = 1_700_000_000;
const TTL: i64 = 900;
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";
const ISS: &str = "authd";
const AUD: &str = "authd-api";

fn settings(key: SigningKey) -> JwtSettings {
    JwtSettings {
        key,
        previous: Vec::new(),
        issuer: ISS.to_owned(),
        audience: AUD.to_owned(),
        access_ttl_secs: TTL,
    }
}

fn hs() -> Jwt {
    Jwt::new(settings(SigningKey::Hs256(SECRET.to_vec()))).unwrap()
}

fn ed(pem: &[u8]) -> Jwt {
    Jwt::new(settings(SigningKey::EdDsa {
        pkcs8_pem: pem.to_vec(),
    }))
    .unwrap()
}

fn valid_claims() -> Value {
    json!({
        "sub": Uuid::new_v4().to_string(),
        "jti": Uuid::new_v4().to_string(),
        "iat": NOW,
        "exp": NOW + TTL,
        "iss": ISS,
        "aud": AUD,
        "typ": "access",
        "sid": Uuid::new_v4().to_string(),
    })
}

fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).unwrap()
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn public_key_of(pem_bytes: &[u8]) -> Vec<u8> {
    let der = pem::parse(pem_bytes).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(der.contents()).unwrap();
    pair.public_key().as_ref().to_vec()
}

#[test]
fn hs256_round_trip() {
    let jwt = hs();
    let (user, session) = (UserId::new_v4(), SessionId::new_v4());
    let issued = jwt.issue(user, session, NOW).unwrap();
    assert_eq!(issued.issued_at, NOW);
    assert_eq!(issued.expires_at, NOW + TTL);

    let claims = jwt.verify(&issued.token, NOW).unwrap();
    assert_eq!(
        claims,
        AccessClaims {
            sub: user.to_string(),
            jti: issued.jti.to_string(),
            iat: NOW,
            exp: NOW + TTL,
            iss: ISS.to_owned(),
            aud: AUD.to_owned(),
            typ: "access".to_owned(),
            sid: session.to_string(),
            roles: Vec::new(),
            app_metadata: serde_json::Map::new(),
        }
    );
    assert_eq!(claims.user_id().unwrap(), user);
    assert_eq!(claims.session_id().unwrap(), session);
    assert_eq!(claims.token_id().unwrap(), issued.jti);

    let header = decode_part(&parts(&issued.token)[0]);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"].as_str(), jwt.kid());
    assert_eq!(jwt.kid(), Some(jwt.fingerprint()));
    assert_eq!(jwt.fingerprint().len(), 16);
    assert_eq!(jwt.algorithm_name(), "HS256");
    assert_eq!(jwt.jwks(), json!({ "keys": [] }));
}

#[test]
fn each_token_has_its_own_jti() {
    let jwt = hs();
    let (user, session) = (UserId::new_v4(), SessionId::new_v4());
    let a = jwt.issue(user, session, NOW).unwrap();
    let b = jwt.issue(user, session, NOW).unwrap();
    assert_ne!(a.jti, b.jti);
    assert_ne!(a.token, b.token);
}

#[test]
fn alg_none_is_refused() {
    let jwt = hs();
    let payload = b64_json(&valid_claims());
    for alg in ["none", "None", "NONE"] {
        let header = b64_json(&json!({ "alg": alg, "typ": "JWT" }));
        let token = format!("{header}.{payload}.");
        assert!(jwt.verify(&token, NOW).is_err(), "alg {alg} accepted");
    }
    let ed_jwt = ed(&generate_ed25519_pem().unwrap());
    let header = b64_json(&json!({ "alg": "none", "typ": "JWT" }));
    assert!(ed_jwt.verify(&format!("{header}.{payload}."), NOW).is_err());
}

#[test]
fn other_hmac_algorithms_with_same_secret_are_refused() {
    let jwt = hs();
    let key = EncodingKey::from_secret(SECRET);
    let claims = valid_claims();
    // The helper itself produces tokens the verifier accepts...
    let good = sign(&Header::new(Algorithm::HS256), &claims, &key);
    assert!(jwt.verify(&good, NOW).is_ok());
    // ...but not with another algorithm.
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign(&Header::new(alg), &claims, &key);
        assert_eq!(
            jwt.verify(&token, NOW),
            Err(JwtError::Invalid("algorithm not allowed"))
        );
    }
}

#[test]
fn hs256_token_is_refused_by_eddsa_verifier() {
    let pem = generate_ed25519_pem().unwrap();
    let jwt = ed(&pem);
    let claims = valid_claims();
    let public = public_key_of(&pem);
    let x = URL_SAFE_NO_PAD.encode(&public);
    // Key confusion: the public key (raw, base64url, or the PEM) as HMAC secret.
    for secret in [public.as_slice(), x.as_bytes(), pem.as_slice(), SECRET] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = jwt.kid().map(str::to_owned);
        let token = sign(&header, &claims, &EncodingKey::from_secret(secret));
        assert!(jwt.verify(&token, NOW).is_err());
    }
}

#[test]
fn eddsa_token_is_refused_by_hs256_verifier() {
    let ed_jwt = ed(&generate_ed25519_pem().unwrap());
    let issued = ed_jwt
        .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
        .unwrap();
    assert!(hs().verify(&issued.token, NOW).is_err());
}

#[test]
fn wrong_key_is_refused() {
    let other = Jwt::new(settings(SigningKey::Hs256(
        b"another-secret-of-at-least-32-bytes!!".to_vec(),
    )))
    .unwrap();
    let issued = other
        .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
        .unwrap();
    // Its `kid` names a secret this verifier does not have.
    assert_eq!(
        hs().verify(&issued.token, NOW),
        Err(JwtError::Invalid("unknown key id"))
    );
    // Naming ours does not help.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = hs().kid().map(str::to_owned);
    let token = sign(
        &header,
        &valid_claims(),
        &EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!!"),
    );
    assert_eq!(
        hs().verify(&token, NOW),
        Err(JwtError::Invalid("bad signature"))
    );
}

#[test]
fn tampered_token_is_refused() {
    for jwt in [hs(), ed(&generate_ed25519_pem().unwrap())] {
        let issued = jwt
            .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
            .unwrap();
        let p = parts(&issued.token);
        let original = decode_part(&p[1]);
        let changes = [
            ("sub", json!(Uuid::new_v4().to_string())),
            ("sid", json!(Uuid::new_v4().to_string())),
            ("exp", json!(NOW + 100 * TTL)),
        ];
        for (claim, value) in changes {
            let mut payload = original.clone();
            payload[claim] = value;
            let token = format!("{}.{}.{}", p[0], b64_json(&payload), p[2]);
            assert!(
                jwt.verify(&token, NOW).is_err(),
                "{claim} tampering accepted"
            );
        }
        // A changed signature.
        let mut sig = URL_SAFE_NO_PAD.decode(&p[2]).unwrap();
        sig[0] ^= 1;
        let token = format!("{}.{}.{}", p[0], p[1], URL_SAFE_NO_PAD.encode(sig));
        assert!(jwt.verify(&token, NOW).is_err());
        // A dropped signature.
        assert!(jwt.verify(&format!("{}.{}.", p[0], p[1]), NOW).is_err());
    }
}

#[test]
fn expiry_uses_injected_clock_and_leeway() {
    let jwt = hs();
    let issued = jwt
        .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
        .unwrap();
    let exp = issued.expires_at;
    assert!(jwt.verify(&issued.token, exp).is_ok());
    assert!(jwt.verify(&issued.token, exp + 3).is_ok());
    assert!(jwt.verify(&issued.token, exp + LEEWAY_SECS).is_ok());
    assert_eq!(
        jwt.verify(&issued.token, exp + LEEWAY_SECS + 1),
        Err(JwtError::Invalid("expired"))
    );
    assert_eq!(
        jwt.verify(&issued.token, exp + 10),
        Err(JwtError::Invalid("expired"))
    );
}

#[test]
fn issued_in_the_future_is_refused() {
    let jwt = hs();
    let issued = jwt
        .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
        .unwrap();
    assert!(jwt.verify(&issued.token, NOW - 3).is_ok());
    assert_eq!(
        jwt.verify(&issued.token, NOW - 10),
        Err(JwtError::Invalid("issued in the future"))
    );
}

#[test]
fn wrong_issuer_or_audience_is_refused() {
    let jwt = hs();
    let mut other_iss = settings(SigningKey::Hs256(SECRET.to_vec()));
    other_iss.issuer = "someone-else".to_owned();
    let token = Jwt::new(other_iss)
        .unwrap()
        .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
        .unwrap()
        .token;
    assert_eq!(
        jwt.verify(&token, NOW),
        Err(JwtError::Invalid("wrong issuer"))
    );

    let mut other_aud = settings(SigningKey::Hs256(SECRET.to_vec()));
    other_aud.audience = "another-api".to_owned();
    let token = Jwt::new(other_aud)
        .unwrap()
        .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
        .unwrap()
        .token;
    assert_eq!(
        jwt.verify(&token, NOW),
        Err(JwtError::Invalid("wrong audience"))
    );

    // An audience list, even one naming us, is not what we issue.
    let mut claims = valid_claims();
    claims["aud"] = json!([AUD, "another-api"]);
    let key = EncodingKey::from_secret(SECRET);
    let token = sign(&Header::new(Algorithm::HS256), &claims, &key);
    assert!(jwt.verify(&token, NOW).is_err());
}

#[test]
fn typ_other_than_access_is_refused() {
    let jwt = hs();
    let key = EncodingKey::from_secret(SECRET);
    for typ in [json!("refresh"), json!("Access"), json!(""), json!(null)] {
        let mut claims = valid_claims();
        claims["typ"] = typ.clone();
        let token = sign(&Header::new(Algorithm::HS256), &claims, &key);
        assert!(jwt.verify(&token, NOW).is_err(), "typ {typ} accepted");
    }
}

#[test]
fn missing_or_bad_claims_are_refused() {
    let jwt = hs();
    let key = EncodingKey::from_secret(SECRET);
    let header = Header::new(Algorithm::HS256);
    for claim in ["sub", "jti", "iat", "exp", "iss", "aud", "typ", "sid"] {
        let mut claims = valid_claims();
        claims.as_object_mut().unwrap().remove(claim);
        let token = sign(&header, &claims, &key);
        assert!(jwt.verify(&token, NOW).is_err(), "missing {claim} accepted");
    }
    for (claim, value) in [
        ("sub", json!("not-a-uuid")),
        ("sid", json!("not-a-uuid")),
        ("jti", json!(42)),
        ("exp", json!("soon")),
        ("exp", json!(-1)),
        ("iat", json!(NOW + 2 * TTL)),
    ] {
        let mut claims = valid_claims();
        claims[claim] = value;
        let token = sign(&header, &claims, &key);
        assert!(jwt.verify(&token, NOW).is_err(), "bad {claim} accepted");
    }
}

#[test]
fn malformed_tokens_are_refused() {
    let jwt = hs();
    let good = jwt
        .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
        .unwrap()
        .token;
    let huge = "a".repeat(1_000_000);
    let huge_dotted = format!("{}.{}.{}", "a".repeat(400_000), "b".repeat(400_000), "c");
    let padded = format!("{good}{}", "A".repeat(MAX_TOKEN_LEN));
    let inputs = [
        "",
        "garbage",
        "...",
        "..",
        ".",
        "a.b.c",
        "a.b.c.d",
        "eyJhbGciOiJIUzI1NiJ9..",
        huge.as_str(),
        huge_dotted.as_str(),
        padded.as_str(),
        &format!(" {good}"),
        &format!("{good}."),
        &format!("Bearer {good}"),
    ];
    for input in inputs {
        assert!(jwt.verify(input, NOW).is_err());
    }
    assert!(jwt.verify(&good, NOW).is_ok());
}

#[test]
fn eddsa_round_trip() {
    let jwt = ed(&generate_ed25519_pem().unwrap());
    assert_eq!(jwt.algorithm_name(), "EdDSA");
    let (user, session) = (UserId::new_v4(), SessionId::new_v4());
    let issued = jwt.issue(user, session, NOW).unwrap();
    let claims = jwt.verify(&issued.token, NOW).unwrap();
    assert_eq!(claims.user_id().unwrap(), user);
    assert_eq!(claims.session_id().unwrap(), session);
    assert_eq!(claims.token_id().unwrap(), issued.jti);
    assert_eq!(claims.typ, "access");

    let header = decode_part(&parts(&issued.token)[0]);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"].as_str(), jwt.kid());
}

#[test]
fn jwks_publishes_the_public_key() {
    let pem = generate_ed25519_pem().unwrap();
    let jwt = ed(&pem);
    let jwks = jwt.jwks();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["x"], URL_SAFE_NO_PAD.encode(public_key_of(&pem)));

    let issued = jwt
        .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
        .unwrap();
    let header = decode_part(&parts(&issued.token)[0]);
    assert_eq!(key["kid"], header["kid"]);
    assert!(key.get("d").is_none(), "private key published");

    // A third party can verify with nothing but the JWKS.
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let found = set.find(jwt.kid().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.set_audience(&[AUD]);
    let decoded = jsonwebtoken::decode::<AccessClaims>(
        &issued.token,
        &DecodingKey::from_jwk(found).unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(decoded.claims.jti, issued.jti.to_string());
}

#[test]
fn kid_is_stable_and_per_key() {
    let pem = generate_ed25519_pem().unwrap();
    let a = ed(&pem);
    let b = ed(&pem);
    assert_eq!(a.kid(), b.kid());
    assert_eq!(a.jwks(), b.jwks());
    // A token from one instance verifies on another (a restart).
    let issued = a.issue(UserId::new_v4(), SessionId::new_v4(), NOW).unwrap();
    assert!(b.verify(&issued.token, NOW).is_ok());

    let other = ed(&generate_ed25519_pem().unwrap());
    assert_ne!(a.kid(), other.kid());
}

#[test]
fn other_ed25519_key_with_same_kid_is_refused() {
    let jwt = ed(&generate_ed25519_pem().unwrap());
    let other_pem = generate_ed25519_pem().unwrap();
    let other_key = EncodingKey::from_ed_pem(&other_pem).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = jwt.kid().map(str::to_owned);
    let token = sign(&header, &valid_claims(), &other_key);
    assert_eq!(
        jwt.verify(&token, NOW),
        Err(JwtError::Invalid("bad signature"))
    );
}

#[test]
fn own_key_with_other_or_no_kid_is_refused() {
    let pem = generate_ed25519_pem().unwrap();
    let jwt = ed(&pem);
    let key = EncodingKey::from_ed_pem(&pem).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = jwt.kid().map(str::to_owned);
    assert!(
        jwt.verify(&sign(&header, &valid_claims(), &key), NOW)
            .is_ok()
    );
    for kid in [Some("other".to_owned()), None] {
        header.kid = kid;
        let token = sign(&header, &valid_claims(), &key);
        assert_eq!(
            jwt.verify(&token, NOW),
            Err(JwtError::Invalid("unknown key id"))
        );
    }
}

#[test]
fn generated_pem_is_pkcs8() {
    let a = generate_ed25519_pem().unwrap();
    let b = generate_ed25519_pem().unwrap();
    assert_ne!(a, b);
    let text = String::from_utf8(a.clone()).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(text.trim_end().ends_with("-----END PRIVATE KEY-----"));
    // Accepted by jsonwebtoken directly, and by aws-lc-rs.
    assert!(EncodingKey::from_ed_pem(&a).is_ok());
    assert_eq!(public_key_of(&a).len(), 32);
}

#[test]
fn pkcs8_v2_pem_is_accepted() {
    let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", document.as_ref().to_vec()));
    let jwt = ed(pem.as_bytes());
    let issued = jwt
        .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
        .unwrap();
    assert!(jwt.verify(&issued.token, NOW).is_ok());
    assert_eq!(
        jwt.jwks()["keys"][0]["x"],
        URL_SAFE_NO_PAD.encode(public_key_of(pem.as_bytes()))
    );
}

#[test]
fn bad_configuration_is_refused() {
    let short = Jwt::new(settings(SigningKey::Hs256(vec![7; 31])));
    assert!(matches!(short, Err(JwtError::Key(_))));
    assert!(Jwt::new(settings(SigningKey::Hs256(vec![7; 32]))).is_ok());

    let ec = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    let ec_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", ec.as_ref().to_vec()));
    let ed_pem = generate_ed25519_pem().unwrap();
    let public_pem = pem::encode(&pem::Pem::new("PUBLIC KEY", public_key_of(&ed_pem)));
    for bad in [
        b"garbage".to_vec(),
        Vec::new(),
        SECRET.to_vec(),
        ec_pem.into_bytes(),
        public_pem.into_bytes(),
    ] {
        let result = Jwt::new(settings(SigningKey::EdDsa { pkcs8_pem: bad }));
        assert!(matches!(result, Err(JwtError::Key(_))));
    }

    let mut no_issuer = settings(SigningKey::Hs256(SECRET.to_vec()));
    no_issuer.issuer.clear();
    assert!(Jwt::new(no_issuer).is_err());
    let mut no_ttl = settings(SigningKey::Hs256(SECRET.to_vec()));
    no_ttl.access_ttl_secs = 0;
    assert!(Jwt::new(no_ttl).is_err());
}

#[test]
fn debug_shows_no_key_material() {
    let hs_settings = settings(SigningKey::Hs256(SECRET.to_vec()));
    let jwt = hs();
    let secret_text = std::str::from_utf8(SECRET).unwrap();
    for text in [format!("{jwt:?}"), format!("{hs_settings:?}")] {
        assert!(!text.contains(&secret_text[..16]), "{text}");
        assert!(!text.contains(&hex::encode(&SECRET[..8])), "{text}");
        assert!(!text.contains("48, 49, 50"), "{text}"); // b"012" as a byte list
    }
    assert!(format!("{jwt:?}").contains("HS256"));

    let pem = generate_ed25519_pem().unwrap();
    let der = pem::parse(&pem).unwrap().contents().to_vec();
    let seed = &der[der.len() - 32..];
    let ed_settings = settings(SigningKey::EdDsa {
        pkcs8_pem: pem.clone(),
    });
    let ed_jwt = ed(&pem);
    let body = String::from_utf8(pem.clone()).unwrap();
    let body_line = body.lines().nth(1).unwrap();
    for text in [format!("{ed_jwt:?}"), format!("{ed_settings:?}")] {
        assert!(!text.contains(body_line), "{text}");
        assert!(!text.contains(&hex::encode(seed)), "{text}");
        assert!(!text.contains(&URL_SAFE_NO_PAD.encode(seed)), "{text}");
        assert!(
            !text.contains(format!("{:?}", &seed[..4]).trim_end_matches(']')),
            "{text}"
        );
    }

    let issued = jwt
        .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
        .unwrap();
    assert!(!format!("{issued:?}").contains(&issued.token));
}

#[test]
fn refusals_do_not_echo_the_token() {
    let jwt = hs();
    let token = "c2VjcmV0LXRva2Vu.c2VjcmV0LXBheWxvYWQ.c2ln";
    let error = jwt.verify(token, NOW).unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(!text.contains("c2VjcmV0"), "{text}");
}

#[test]
fn jwt_is_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Jwt>();
    let jwt = hs();
    let copy = jwt.clone();
    let issued = jwt
        .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
        .unwrap();
    let handle = std::thread::spawn(move || copy.verify(&issued.token, NOW).is_ok());
    assert!(handle.join().unwrap());
}

#[test]
fn a_remembered_token_still_expires_and_tampered_copies_are_checked_in_full() {
    let jwt = hs();
    let verified = VerifiedTokens::new(jwt.clone());
    let issued = jwt
        .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
        .unwrap();
    let first = verified.check(&issued.token, NOW).unwrap();
    let again = verified.check(&issued.token, NOW + 10).unwrap();
    assert!(
        Arc::ptr_eq(&first, &again),
        "the second check is a cache hit"
    );
    assert_eq!(*first, jwt.verify(&issued.token, NOW).unwrap());
    let exp = issued.expires_at;
    assert!(verified.check(&issued.token, exp + LEEWAY_SECS).is_ok());
    assert_eq!(
        verified.check(&issued.token, exp + LEEWAY_SECS + 1),
        Err(JwtError::Invalid("expired"))
    );

    let p = parts(&issued.token);
    let mut payload = decode_part(&p[1]);
    payload["exp"] = json!(NOW + 100 * TTL);
    let tampered = format!("{}.{}.{}", p[0], b64_json(&payload), p[2]);
    assert!(verified.check(&tampered, NOW).is_err());
    let mut sig = URL_SAFE_NO_PAD.decode(&p[2]).unwrap();
    sig[0] ^= 1;
    let resigned = format!("{}.{}.{}", p[0], p[1], URL_SAFE_NO_PAD.encode(sig));
    assert!(verified.check(&resigned, NOW).is_err());
    // A token from another key is not in this verifier's memory.
    let other = Jwt::new(settings(SigningKey::Hs256(vec![9u8; 32]))).unwrap();
    assert!(
        VerifiedTokens::new(other)
            .check(&issued.token, NOW)
            .is_err()
    );
}

#[test]
fn a_token_of_the_previous_hs256_secret_verifies_by_its_kid() {
    let old = hs();
    let issued = old
        .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
        .unwrap();
    let new_secret = b"fedcba9876543210fedcba9876543210-new-secret".to_vec();
    let rotated = Jwt::new(JwtSettings {
        previous: vec![SigningKey::Hs256(SECRET.to_vec())],
        ..settings(SigningKey::Hs256(new_secret.clone()))
    })
    .unwrap();
    assert!(rotated.verify(&issued.token, NOW).is_ok());
    assert_ne!(rotated.kid(), old.kid());
    assert_eq!(rotated.previous_fingerprints(), vec![old.fingerprint()]);
    // Without the previous secret, its kid is unknown.
    let alone = Jwt::new(settings(SigningKey::Hs256(new_secret))).unwrap();
    assert_eq!(
        alone.verify(&issued.token, NOW),
        Err(JwtError::Invalid("unknown key id"))
    );
    // A new token names the new secret, which the old node does not know.
    let fresh = rotated
        .issue(UserId::new_v4(), SessionId::new_v4(), NOW)
        .unwrap();
    assert_eq!(
        old.verify(&fresh.token, NOW),
        Err(JwtError::Invalid("unknown key id"))
    );
}

#[test]
fn an_hs256_token_without_kid_verifies_with_the_signing_secret_only() {
    let jwt = hs();
    let token = sign(
        &Header::new(Algorithm::HS256),
        &valid_claims(),
        &EncodingKey::from_secret(SECRET),
    );
    assert!(jwt.verify(&token, NOW).is_ok());
    let other = sign(
        &Header::new(Algorithm::HS256),
        &valid_claims(),
        &EncodingKey::from_secret(b"another-secret-another-secret-another-secret"),
    );
    assert_eq!(
        jwt.verify(&other, NOW),
        Err(JwtError::Invalid("bad signature"))
    );
}

#[test]
fn roles_and_app_metadata_are_claims_only_when_there_are_some() {
    use crate::domain::{AppMetadata, Roles};
    let jwt = hs();
    let session = SessionId::new_v4();
    let plain = jwt.issue(UserId::new_v4(), session, NOW).unwrap();
    let payload = decode_part(&parts(&plain.token)[1]);
    assert!(payload.get("roles").is_none(), "{payload}");
    assert!(payload.get("app_metadata").is_none(), "{payload}");

    let subject = Subject {
        id: UserId::new_v4(),
        roles: Roles::parse(&["admin".to_owned(), "billing.read".to_owned()]).unwrap(),
        app_metadata: AppMetadata::parse(serde_json::json!({"plan": "pro"})).unwrap(),
    };
    let issued = jwt.issue_for(&subject, session, NOW).unwrap();
    let payload = decode_part(&parts(&issued.token)[1]);
    assert_eq!(
        payload["roles"],
        serde_json::json!(["admin", "billing.read"])
    );
    assert_eq!(payload["app_metadata"], serde_json::json!({"plan": "pro"}));
    let claims = jwt.verify(&issued.token, NOW).unwrap();
    assert_eq!(claims.roles, ["admin", "billing.read"]);
    assert_eq!(claims.app_metadata["plan"], "pro");
}
