//! The committed OpenAPI document is the one the code serves, and it
//! documents the error statuses of each operation.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::doc_schema::{Doc, walk};
use crate::helpers::{PASSWORD, TestApp, remember_secret, spawn_app, unique_email};

fn committed() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).expect(
        "openapi/openapi.json is missing: run `cargo run -- openapi > openapi/openapi.json`",
    )
}

#[test]
fn the_committed_document_matches_the_code() {
    let generated: Value = serde_json::from_str(&openapi::spec_json()).unwrap();
    let committed: Value = serde_json::from_str(&committed()).unwrap();
    assert!(
        generated == committed,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn operations_list_their_error_statuses_with_the_envelope() {
    let spec: Value = serde_json::from_str(&openapi::spec_json()).unwrap();
    let register = &spec["paths"]["/api/v1/auth/register/"]["post"]["responses"];
    for status in ["201", "400", "409", "413", "415", "500"] {
        assert!(register[status].is_object(), "register lacks {status}");
    }
    let schema = register["409"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap();
    assert!(schema.ends_with("/ErrorEnvelope"), "{schema}");
    let ok = register["201"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap();
    assert!(ok.ends_with("/SuccessEnvelope_RegisteredUser"), "{ok}");
    for path in [
        "/api/v1/auth/verify-email/",
        "/api/v1/auth/resend-verification/",
    ] {
        assert!(
            spec["paths"][path]["post"]["responses"]["400"].is_object(),
            "{path}"
        );
    }
}

#[test]
fn every_operation_and_field_is_documented() {
    let spec: Value = serde_json::from_str(&openapi::spec_json()).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} has no summary"
            );
        }
    }
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        for (field, prop) in schema["properties"].as_object().into_iter().flatten() {
            assert!(
                prop["description"].as_str().is_some_and(|d| !d.is_empty())
                    || prop.get("$ref").is_some()
                    || prop.get("allOf").is_some(),
                "{name}.{field} has no description"
            );
        }
    }
}

#[test]
fn authenticated_operations_use_the_bearer_scheme() {
    let spec: Value = serde_json::from_str(&openapi::spec_json()).unwrap();
    assert_eq!(
        spec["components"]["securitySchemes"]["BearerAuth"]["scheme"],
        "bearer"
    );
    for (path, method) in [
        ("/api/v1/auth/logout/", "post"),
        ("/api/v1/auth/verify-token/", "get"),
    ] {
        let security = &spec["paths"][path][method]["security"];
        assert!(
            security[0]["BearerAuth"].is_array(),
            "{method} {path}: {security}"
        );
        assert!(spec["paths"][path][method]["responses"]["401"].is_object());
    }
    for path in ["/api/v1/auth/login/", "/api/v1/auth/register/"] {
        assert!(
            spec["paths"][path]["post"]["responses"]["429"].is_object(),
            "{path}"
        );
    }
}

// ---- The served document describes what the server really does ----------

/// One request; the answer's status, headers and JSON body.
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let mut req = app
        .client
        .request(method.to_uppercase().parse().unwrap(), app.url(path));
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap())
}

/// Sends a request and checks the answer against the served document.
async fn checked(
    app: &TestApp,
    doc: &Doc,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let answer = call(app, method, path, bearer, body).await;
    doc.check_answer(path, method, answer.0, &answer.1, &answer.2);
    answer
}

#[tokio::test]
async fn real_answers_match_their_documented_schemas_nulls_included() {
    let app = spawn_app().await;
    let doc = Doc::served(&app).await;
    let email = unique_email();
    // No company: the user object carries `company_name: null`.
    let registration = json!({
        "email": email, "password": PASSWORD, "first_name": "Ada", "last_name": "Lovelace"
    });
    let register = "/api/v1/auth/register/";
    let (s, _, _) = checked(
        &app,
        &doc,
        "post",
        register,
        None,
        Some(registration.clone()),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _, _) = checked(&app, &doc, "post", register, None, Some(registration)).await;
    assert_eq!(s, 409);
    let (s, _, _) = checked(
        &app,
        &doc,
        "post",
        register,
        None,
        Some(json!({"email": 1})),
    )
    .await;
    assert_eq!(s, 400);
    let login = "/api/v1/auth/login/";
    let credentials = json!({ "email": email, "password": PASSWORD });
    let (s, _, _) = checked(&app, &doc, "post", login, None, Some(credentials.clone())).await;
    assert_eq!(s, 403);
    let mails = app.smtp.wait_for(&email, 1, Duration::from_secs(10)).await;
    let token = mails[0].token();
    remember_secret(&token);
    let verify = "/api/v1/auth/verify-email/";
    let (s, _, _) = checked(
        &app,
        &doc,
        "post",
        verify,
        None,
        Some(json!({"token": token})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, body) = checked(&app, &doc, "post", login, None, Some(credentials)).await;
    assert_eq!(s, 200);
    assert_eq!(body["data"]["user"]["company_name"], Value::Null, "{body}");
    let access = body["data"]["token"].as_str().unwrap().to_owned();
    let refresh = body["data"]["refresh_token"].as_str().unwrap().to_owned();
    remember_secret(&access);
    remember_secret(&refresh);
    let wrong = json!({ "email": email, "password": "Not-The-Password-1" });
    let (s, _, _) = checked(&app, &doc, "post", login, None, Some(wrong)).await;
    assert_eq!(s, 401);
    let verify_token = "/api/v1/auth/verify-token/";
    let (s, _, _) = checked(&app, &doc, "get", verify_token, Some(&access), None).await;
    assert_eq!(s, 200);
    let (s, _, _) = checked(&app, &doc, "get", verify_token, None, None).await;
    assert_eq!(s, 401);
    let refresh_path = "/api/v1/auth/token/refresh/";
    let body = json!({ "refresh_token": refresh });
    let (s, _, new) = checked(&app, &doc, "post", refresh_path, None, Some(body)).await;
    assert_eq!(s, 200);
    remember_secret(new["data"]["token"].as_str().unwrap());
    remember_secret(new["data"]["refresh_token"].as_str().unwrap());
    let (s, _, _) = checked(
        &app,
        &doc,
        "post",
        "/api/v1/auth/logout/",
        Some(&access),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = checked(&app, &doc, "get", "/healthz", None, None).await;
    assert_eq!(s, 200);
    // With 2FA on, the login answer is the other variant of its `oneOf`.
    let user = app.mfa_user().await;
    let credentials = json!({ "email": user.email, "password": PASSWORD });
    let (s, _, body) = checked(&app, &doc, "post", login, None, Some(credentials)).await;
    assert_eq!(s, 200);
    remember_secret(body["data"]["mfa_token"].as_str().unwrap());
}

#[tokio::test]
async fn every_reference_is_a_plain_ref() {
    let app = spawn_app().await;
    let doc = Doc::served(&app).await;
    walk(&doc.0, "", &mut |at, map| {
        assert!(!map.contains_key("allOf"), "{at} is an allOf");
        if map.contains_key("$ref") {
            assert_eq!(map.len(), 1, "{at}: a $ref with siblings");
        }
    });
}

#[tokio::test]
async fn envelopes_state_their_constants_and_required_fields() {
    let app = spawn_app().await;
    let doc = Doc::served(&app).await;
    let mut envelopes = 0;
    for (name, schema) in doc.schemas() {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if let Some(data) = name.strip_prefix("SuccessEnvelope_") {
            envelopes += 1;
            assert_eq!(
                schema["properties"]["success"]["enum"],
                json!([true]),
                "{name}"
            );
            for field in ["success", "status_code", "message"] {
                assert!(required.contains(&field), "{name} does not require {field}");
            }
            if data != "NoData" {
                assert!(required.contains(&"data"), "{name} does not require data");
            }
        }
        // A response field that can be null is always sent.
        for (field, prop) in schema["properties"].as_object().into_iter().flatten() {
            if prop["nullable"] == json!(true) && !name.ends_with("Request") {
                assert!(required.contains(&field.as_str()), "{name}.{field}");
            }
        }
    }
    assert!(envelopes > 5);
    let schemas = doc.schemas();
    assert_eq!(
        schemas["ErrorEnvelope"]["properties"]["success"]["enum"],
        json!([false])
    );
    assert_eq!(
        schemas["MfaChallenge"]["properties"]["mfa_required"]["enum"],
        json!([true])
    );
    assert_eq!(schemas["LoginResult"]["oneOf"].as_array().unwrap().len(), 2);
}

/// The request schemas, by name.
fn request_schemas(doc: &Doc) -> Vec<String> {
    let mut names: Vec<String> = doc
        .operations()
        .iter()
        .filter_map(|(_, _, op)| {
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
        })
        .map(|r| r.rsplit('/').next().unwrap().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn request_schemas_state_the_rules_the_server_enforces() {
    let app = spawn_app().await;
    let doc = Doc::served(&app).await;
    let schemas = doc.schemas();
    let names = request_schemas(&doc);
    assert!(names.len() > 10, "{names:?}");
    for name in &names {
        let schema = &schemas[name];
        assert_eq!(schema["additionalProperties"], json!(false), "{name}");
        let errors = doc.check(schema, &schema["example"], name);
        assert!(
            schema["example"].is_object() && errors.is_empty(),
            "{name}: {errors:?}"
        );
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        for (field, prop) in schema["properties"].as_object().unwrap() {
            // The server takes `null` for every optional field.
            if !required.contains(&json!(field)) {
                assert_eq!(prop["nullable"], json!(true), "{name}.{field}");
            }
        }
    }
    let register = &schemas["RegisterRequest"]["properties"];
    let limits = |f: &str| {
        (
            register[f]["minLength"].as_u64(),
            register[f]["maxLength"].as_u64(),
        )
    };
    // The server trims email and names before counting, so their limits
    // are in the text: a `maxLength` would count the trimmed whitespace and
    // call a valid request invalid (schemathesis' ST201 found one).
    assert_eq!(limits("email"), (None, None));
    let text = |f: &str| {
        let words: Vec<&str> = register[f]["description"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect();
        words.join(" ")
    };
    assert!(text("email").contains("254 characters after trimming"));
    assert_eq!(register["email"]["format"], "email");
    assert_eq!(limits("password"), (Some(8), Some(128)));
    assert!(register["password"]["pattern"].is_string());
    for (field, max) in [
        ("first_name", 100),
        ("last_name", 100),
        ("company_name", 200),
    ] {
        let min = (field != "company_name").then_some(1);
        assert_eq!(limits(field), (min, None), "{field}");
        let says = text(field);
        assert!(
            says.contains(&format!("{max} characters after trimming")),
            "{field}: {says}"
        );
    }
    for (name, field) in [
        ("ResetConfirmRequest", "new_password"),
        ("ChangePasswordRequest", "new_password"),
    ] {
        let prop = &schemas[name]["properties"][field];
        assert_eq!(prop["minLength"], 8, "{name}");
        assert_eq!(prop["maxLength"], 128, "{name}");
        assert_eq!(prop["pattern"], register["password"]["pattern"], "{name}");
    }
}

#[tokio::test]
async fn the_request_examples_are_accepted_by_the_server() {
    let app = spawn_app().await;
    let doc = Doc::served(&app).await;
    let example = |name: &str| doc.schemas()[name]["example"].clone();
    let registration = example("RegisterRequest");
    remember_secret(registration["password"].as_str().unwrap());
    let (status, body) = app.post("/api/v1/auth/register/", &registration).await;
    assert_eq!(status, 201, "{body}");
    let email = registration["email"].as_str().unwrap();
    let mails = app.smtp.wait_for(email, 1, Duration::from_secs(10)).await;
    let token = mails[0].token();
    remember_secret(&token);
    let (status, body) = app.verify_email(&token).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post("/api/v1/auth/login/", &example("LoginRequest"))
        .await;
    assert_eq!(status, 200, "{body}");
    remember_secret(body["data"]["token"].as_str().unwrap());
    remember_secret(body["data"]["refresh_token"].as_str().unwrap());
    let access = body["data"]["token"].as_str().unwrap();
    let (status, body) = app
        .post_bearer(
            "/api/v1/auth/change-password/",
            access,
            &example("ChangePasswordRequest"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn responses_document_their_headers_and_real_error_examples() {
    let app = spawn_app().await;
    let doc = Doc::served(&app).await;
    let cookie_ops = ["login", "mfaVerify", "mfaRecover", "refreshToken"];
    for (path, _method, op) in doc.operations() {
        let bearer = op["security"].as_array().is_some_and(|s| !s.is_empty());
        let id = op["operationId"].as_str().unwrap();
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{id} has no tag"
        );
        if path.starts_with("/api/") {
            assert!(path.ends_with('/'), "{path} lacks the trailing slash");
        }
        for (status, resp) in op["responses"].as_object().unwrap() {
            let code: u16 = status.parse().unwrap();
            let headers = &resp["headers"];
            let has = |h: &str| headers[h].is_object();
            assert!(has("X-Request-Id"), "{id} {status}: X-Request-Id");
            if code == 429 {
                assert!(has("Retry-After"), "{id} 429: Retry-After");
            }
            if code == 401 && bearer {
                assert!(has("WWW-Authenticate"), "{id} 401: WWW-Authenticate");
            }
            if (200..300).contains(&code) && cookie_ops.contains(&id) {
                assert!(has("Set-Cookie"), "{id} {status}: Set-Cookie");
                assert_eq!(headers["Set-Cookie"]["required"], json!(false));
            }
            assert!(
                resp["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{id} {status}: no description"
            );
            if code >= 400 {
                let media = &resp["content"]["application/json"];
                let example = &media["example"];
                assert_eq!(example["status_code"], json!(code), "{id} {status}");
                assert_eq!(example["error"], json!(openapi::envelope::phrase(code)));
                let errors = doc.check(&media["schema"], example, id);
                assert!(errors.is_empty(), "{id} {status}: {errors:?}");
            }
        }
    }
    // Strings that are points in time say so.
    for (name, schema) in doc.schemas() {
        for (field, prop) in schema["properties"].as_object().into_iter().flatten() {
            if (field == "at" || field.ends_with("_at")) && prop["type"] == "string" {
                assert_eq!(prop["format"], "date-time", "{name}.{field}");
            }
        }
    }
}

#[tokio::test]
async fn every_401_of_a_bearer_operation_carries_the_bearer_challenge() {
    let app = spawn_app().await;
    let doc = Doc::served(&app).await;
    let mut seen = 0;
    for (path, method, op) in doc.operations() {
        if op["security"].as_array().is_none_or(|s| s.is_empty()) {
            continue;
        }
        for token in [None, Some("not-a-token")] {
            let (status, headers, body) = call(&app, method, path, token, Some(json!({}))).await;
            assert_eq!(status, 401, "{method} {path}: {body}");
            assert_eq!(headers["www-authenticate"], "Bearer", "{method} {path}");
            // An admin key that is not one says so (a missing header is
            // the one answer of every Bearer operation).
            let message = match token {
                Some(_) if path.starts_with("/api/v1/admin/") => "Invalid or revoked admin key",
                _ => "Invalid or expired token",
            };
            assert_eq!(body["message"], message, "{path}");
            seen += 1;
        }
    }
    assert!(seen >= 10);
    // Not on a 401 of an operation without a Bearer token.
    let wrong = json!({ "email": unique_email(), "password": "Whatever-12345" });
    let (status, headers, _) = call(&app, "post", "/api/v1/auth/login/", None, Some(wrong)).await;
    assert_eq!(status, 401);
    assert!(!headers.contains_key("www-authenticate"));
}
