//! The finishing pass over poem-openapi's document: what its derives
//! cannot say. Generated clients (openapi-typescript, openapi-python-client)
//! and schemathesis read the result, so each step states a fact about what
//! the server sends or accepts:
//!
//! - paths under `/api/` carry the trailing slash API.md spells them with;
//! - a reference is a plain `$ref` (poem-openapi wraps a described one in
//!   `allOf`, which some generators cannot take);
//! - a nullable field of a response is required: it is always sent, as
//!   `null` when empty (fields the server omits are not nullable);
//! - `success` and `mfa_required` are constants, and an envelope that always
//!   carries `data` requires it, so a client can narrow on them;
//! - request bodies refuse unknown fields (`additionalProperties: false`)
//!   and show an example that the server accepts;
//! - timestamps (`*_at` strings) are RFC 3339 `date-time`;
//! - the headers every answer carries, and those of 401, 429 and the
//!   answers that can set the refresh cookie, are listed; error answers
//!   show a real error as their example.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::envelope::phrase;

/// The operations whose success can set the `__Host-authd_refresh` cookie.
const ISSUES_REFRESH_TOKEN: [&str; 6] = [
    "login",
    "mfaVerify",
    "mfaRecover",
    "refreshToken",
    "passkeyLoginFinish",
    "mfaPasskeyFinish",
];

/// The envelope of the operations that return no `data`.
const NO_DATA_ENVELOPE: &str = "SuccessEnvelope_NoData";

/// The finished document, pretty-printed; `raw` as it is if it is not JSON.
pub(crate) fn finish(raw: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(raw) else {
        return raw.to_owned();
    };
    canonical_paths(&mut doc);
    plain_refs(&mut doc);
    let requests = reachable(&doc, |op| op.get("requestBody"));
    let responses = reachable(&doc, |op| op.get("responses"));
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in schemas.iter_mut() {
            if requests.contains(name) {
                close_request(name, schema);
            }
            if responses.contains(name) {
                require_nullable(schema);
            }
            constants(name, schema);
            timestamps(schema);
        }
    }
    responses_of_operations(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| raw.to_owned())
}

/// poem-openapi cannot spell a trailing slash in a path, and API.md's
/// `/api/v1/...` paths have one; both spellings are served, and the
/// document shows the one API.md lists.
fn canonical_paths(doc: &mut Value) {
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        let renamed = std::mem::take(paths)
            .into_iter()
            .map(|(path, item)| {
                if path.starts_with("/api/") && !path.ends_with('/') {
                    (format!("{path}/"), item)
                } else {
                    (path, item)
                }
            })
            .collect();
        *paths = renamed;
    }
}

/// `{"allOf": [{"$ref": X}, {"description": ..}], ..}` -> `{"$ref": X}`
/// everywhere (OpenAPI 3.0 ignores the siblings of a `$ref` anyway).
fn plain_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(reference) = described_ref(map) {
                *value = json!({ "$ref": reference });
                return;
            }
            map.values_mut().for_each(plain_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(plain_refs),
        _ => {}
    }
}

fn described_ref(map: &Map<String, Value>) -> Option<String> {
    let parts = map.get("allOf")?.as_array()?;
    let [first, rest @ ..] = parts.as_slice() else {
        return None;
    };
    let only_descriptions = rest.iter().all(|p| {
        p.as_object()
            .is_some_and(|o| o.keys().all(|k| k == "description"))
    });
    only_descriptions.then(|| first.get("$ref")?.as_str().map(str::to_owned))?
}

/// The component schemas reachable from the part of each operation that
/// `part` picks (the request body, or the responses).
fn reachable(doc: &Value, part: impl Fn(&Value) -> Option<&Value>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut todo: Vec<String> = Vec::new();
    for item in doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        for op in item.as_object().into_iter().flat_map(|o| o.values()) {
            if let Some(v) = part(op) {
                collect_refs(v, &mut todo);
            }
        }
    }
    while let Some(name) = todo.pop() {
        if found.insert(name.clone()) {
            collect_refs(&doc["components"]["schemas"][&name], &mut todo);
        }
    }
    found
}

fn collect_refs(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                into.push(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, into)),
        _ => {}
    }
}

/// The server refuses unknown fields; and Swagger UI's example is one the
/// server accepts.
fn close_request(name: &str, schema: &mut Value) {
    if schema.get("properties").is_some() {
        schema["additionalProperties"] = json!(false);
    }
    if let Some(example) = request_example(name) {
        schema["example"] = example;
    }
    let props = schema.get_mut("properties").and_then(Value::as_object_mut);
    for (field, prop) in props.into_iter().flatten() {
        if let Some(pattern) = pattern(name, field) {
            prop["pattern"] = json!(pattern);
        }
        if (field == "email" && name != "LoginRequest") || field == "new_email" {
            prop["format"] = json!("email");
        }
    }
}

/// Whitespace that the server trims (Rust's `char::is_whitespace`), spelt
/// so that ECMA-262 and Python read it alike.
const SPACE: &str = r"\t\n\x0B\f\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// Control characters (`char::is_control`).
const CONTROL: &str = r"\x00-\x1F\x7F-\x9F";

/// The rules the server checks beyond lengths, as ECMA-262 patterns (the
/// validators of poem-openapi take no look-ahead).
fn pattern(schema: &str, field: &str) -> Option<String> {
    // Some text without control characters, between trimmed whitespace.
    let text = || format!("[^{CONTROL}{SPACE}](?:[^{CONTROL}]*[^{CONTROL}{SPACE}])?");
    match (schema, field) {
        ("RegisterRequest" | "CreateUserRequest", "password")
        | ("ResetConfirmRequest" | "ChangePasswordRequest", "new_password") => {
            Some(r"^(?=[\s\S]*[a-z])(?=[\s\S]*[A-Z])(?=[\s\S]*[0-9])".to_owned())
        }
        (
            "RegisterRequest" | "UpdateMeRequest" | "UpdateUserRequest" | "CreateUserRequest",
            "first_name" | "last_name",
        ) => Some(format!("^[{SPACE}]*{}[{SPACE}]*$", text())),
        (
            "RegisterRequest" | "UpdateMeRequest" | "UpdateUserRequest" | "CreateUserRequest",
            "company_name",
        ) => Some(format!("^[{SPACE}]*(?:{})?[{SPACE}]*$", text())),
        (_, "totp_code" | "code") => Some("^[0-9]{6}$".to_owned()),
        _ => None,
    }
}

/// A valid request for each request schema (the password is strong and not
/// a common one; tokens are placeholders of the real shape).
fn request_example(name: &str) -> Option<Value> {
    let email = "ada.lovelace@example.com";
    let password = "Analytical-Engine-1843";
    let new_password = "Difference-Engine-1822";
    let token = "Tz4k9yVbQ0mB8rX2cW7nL1pJ6sD3fH5gK8aE0uI2oYq";
    Some(match name {
        "RegisterRequest" => json!({
            "email": email, "password": password,
            "first_name": "Ada", "last_name": "Lovelace",
            "company_name": "Analytical Engines Ltd"
        }),
        "LoginRequest" => json!({ "email": email, "password": password }),
        "EmailRequest" => json!({ "email": email }),
        "TokenRequest" => json!({ "token": token }),
        "RefreshRequest" => json!({ "refresh_token": token }),
        "LogoutRequest" => json!({ "refresh_token": token }),
        "ResetConfirmRequest" => json!({ "token": token, "new_password": new_password }),
        "ChangePasswordRequest" => json!({
            "current_password": password, "new_password": new_password
        }),
        "PasswordRequest" => json!({ "password": password }),
        "ChangeEmailRequest" => json!({
            "password": password, "new_email": "ada@analytical.example", "totp_code": "492039"
        }),
        "TotpRequest" => json!({ "totp_code": "492039" }),
        "PasswordAndCodeRequest" => json!({ "password": password, "totp_code": "492039" }),
        "MfaVerifyRequest" => json!({ "mfa_token": token, "code": "492039" }),
        "RecoverRequest" => json!({ "mfa_token": token, "backup_code": "7KQ2M-X9T4P" }),
        "RegisterStartRequest" => json!({ "password": password, "totp_code": "492039" }),
        "ReauthRequest" => json!({ "password": password, "totp_code": "492039" }),
        "AlertSettingsRequest" => {
            json!({ "new_device": false, "password": password, "totp_code": "492039" })
        }
        "RegisterFinishRequest" => json!({
            "challenge_id": token, "name": "Laptop",
            "credential": {
                "id": "AAEC", "rawId": "AAEC", "type": "public-key",
                "response": { "attestationObject": "o2NmbXRkbm9uZQ", "clientDataJSON": "e30" }
            }
        }),
        "RenameRequest" => json!({ "name": "Work phone" }),
        "UpdateMeRequest" => json!({ "first_name": "Ada", "company_name": null }),
        "UpdateUserRequest" => json!({
            "roles": ["editor", "billing.admin"],
            "app_metadata": { "plan": "pro" },
            "disabled": false
        }),
        "CreateUserRequest" => json!({
            "email": email, "first_name": "Ada", "last_name": "Lovelace",
            "roles": ["editor"], "app_metadata": { "plan": "pro" }
        }),
        "MfaPasskeyStartRequest" => json!({ "mfa_token": token }),
        "MfaPasskeyFinishRequest" => json!({
            "mfa_token": token, "challenge_id": token,
            "credential": {
                "id": "AAEC", "rawId": "AAEC", "type": "public-key",
                "response": {
                    "authenticatorData": "AAEC", "clientDataJSON": "e30", "signature": "AAEC"
                }
            }
        }),
        "LoginStartRequest" => json!({ "email": email }),
        "LoginFinishRequest" => json!({
            "challenge_id": token,
            "credential": {
                "id": "AAEC", "rawId": "AAEC", "type": "public-key",
                "response": {
                    "authenticatorData": "AAEC", "clientDataJSON": "e30",
                    "signature": "AAEC", "userHandle": "AAEC"
                }
            }
        }),
        "OidcExchangeRequest" => json!({ "code": token }),
        "LinkIdentityRequest" => json!({
            "provider": "google",
            "redirect_to": "https://app.example.com/settings/sign-in"
        }),
        _ => return None,
    })
}

/// A response field marked nullable is always sent (as `null` when empty).
fn require_nullable(schema: &mut Value) {
    let nullable: Vec<Value> = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, p)| p["nullable"] == json!(true))
        .map(|(name, _)| json!(name))
        .collect();
    require(schema, nullable);
}

fn require(schema: &mut Value, fields: Vec<Value>) {
    if fields.is_empty() {
        return;
    }
    if !schema["required"].is_array() {
        schema["required"] = json!([]);
    }
    if let Some(required) = schema["required"].as_array_mut() {
        for f in fields {
            if !required.contains(&f) {
                required.push(f);
            }
        }
    }
}

/// `success` and `mfa_required` are constants; an envelope with data
/// always carries it.
fn constants(name: &str, schema: &mut Value) {
    let constant = match name {
        "ErrorEnvelope" => Some(("success", false)),
        "MfaChallenge" => Some(("mfa_required", true)),
        _ if name.starts_with("SuccessEnvelope_") => Some(("success", true)),
        _ => None,
    };
    if let Some((field, value)) = constant
        && let Some(prop) = schema.pointer_mut(&format!("/properties/{field}"))
    {
        prop["enum"] = json!([value]);
    }
    if name.starts_with("SuccessEnvelope_") && name != NO_DATA_ENVELOPE {
        require(schema, vec![json!("data")]);
    }
}

/// Strings named `at` or `*_at` are RFC 3339 timestamps.
fn timestamps(schema: &mut Value) {
    let props = schema.get_mut("properties").and_then(Value::as_object_mut);
    for (name, prop) in props.into_iter().flatten() {
        if (name == "at" || name.ends_with("_at")) && prop["type"] == "string" {
            prop["format"] = json!("date-time");
        }
    }
}

/// Headers and error examples of each operation's responses.
fn responses_of_operations(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for op in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let op_id = op["operationId"].as_str().unwrap_or_default().to_owned();
        let bearer = op["security"].as_array().is_some_and(|s| {
            s.iter()
                .any(|r| r.get("BearerAuth").is_some() || r.get("AdminKeyAuth").is_some())
        });
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            let status: u16 = status.parse().unwrap_or_default();
            if response["description"].as_str().is_none_or(str::is_empty) {
                response["description"] = json!(phrase_or_success(status));
            }
            let headers = &mut response["headers"];
            headers["X-Request-Id"] = header(
                "The request's id: the one the client sent, or a new one.",
                json!({ "type": "string" }),
                true,
            );
            match status {
                200..=299 if ISSUES_REFRESH_TOKEN.contains(&op_id.as_str()) => {
                    headers["Set-Cookie"] = header(
                        "With `AUTH_REFRESH_COOKIE=on`: the refresh token as the cookie \
                         `__Host-authd_refresh` (HttpOnly, Secure, SameSite=Strict, Path=/).",
                        json!({ "type": "string" }),
                        false,
                    );
                }
                401 if bearer => {
                    headers["WWW-Authenticate"] = header(
                        "The scheme to authenticate with.",
                        json!({ "type": "string", "enum": ["Bearer"] }),
                        true,
                    );
                }
                429 => {
                    headers["Retry-After"] = header(
                        "Whole seconds to wait before trying again (as `data.retry_after`).",
                        json!({ "type": "integer", "minimum": 0 }),
                        true,
                    );
                }
                _ => {}
            }
            if status >= 400
                && let Some(media) = response
                    .pointer_mut("/content/application~1json")
                    .and_then(Value::as_object_mut)
            {
                media.insert("example".into(), error_example(status, &op_id, bearer));
            }
        }
    }
}

fn phrase_or_success(status: u16) -> &'static str {
    if status < 400 {
        "Success"
    } else {
        phrase(status)
    }
}

fn header(description: &str, schema: Value, required: bool) -> Value {
    json!({ "description": description, "required": required, "schema": schema })
}

/// An error answer as the server sends it for `status` from `op_id`.
fn error_example(status: u16, op_id: &str, bearer: bool) -> Value {
    let mut example = json!({
        "success": false,
        "status_code": status,
        "error": phrase(status),
    });
    let (message, errors) = match status {
        400 => (
            "Request body is not valid JSON",
            Some(json!({ "body": ["is not valid JSON"] })),
        ),
        401 if bearer && (op_id == "changePassword" || op_id == "changeEmail") => (
            "Current password is incorrect",
            Some(json!({ "current_password": ["is incorrect"] })),
        ),
        401 if op_id == "login" => ("Invalid email or password", None),
        401 if op_id == "mfaVerify" || op_id == "mfaRecover" => (
            "Invalid code",
            Some(json!({ "code": ["is invalid or already used"] })),
        ),
        401 if op_id == "passkeyLoginFinish" || op_id == "mfaPasskeyFinish" => {
            ("Passkey not accepted", None)
        }
        401 if op_id == "mfaPasskeyStart" => (
            "Invalid or expired MFA token: log in again",
            Some(json!({ "mfa_token": ["is invalid or expired"] })),
        ),
        401 => ("Invalid or expired token", None),
        403 if op_id.starts_with("admin") => ("This admin key is read-only", None),
        403 => (
            "Email not verified: use the link we sent, or ask for a new one",
            None,
        ),
        409 if op_id == "adminSendPasswordReset" => ("Account disabled", None),
        409 if op_id == "register"
            || op_id == "confirmEmailChange"
            || op_id == "revertEmailChange"
            || op_id == "adminCreateUser"
            || op_id == "adminUpdateUser" =>
        {
            (
                "Email already registered",
                Some(json!({ "email": ["is already registered"] })),
            )
        }
        409 => ("2FA is already enabled", None),
        413 => ("The request body is larger than 64 KiB", None),
        415 => ("The request body must be sent as application/json", None),
        429 => {
            example["data"] = json!({ "retry_after": 42 });
            ("Too many requests: slow down", None)
        }
        503 if op_id == "readyz" => ("The database is not reachable", None),
        503 => {
            example["data"] = json!({ "retry_after": crate::error::BUSY_RETRY_AFTER_SECS });
            ("The server is busy; try again shortly", None)
        }
        _ => ("Something went wrong on our side", None),
    };
    example["message"] = json!(message);
    if let Some(errors) = errors {
        example["errors"] = errors;
    }
    example
}
