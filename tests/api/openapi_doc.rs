//! The committed OpenAPI document is the one the code serves, and it
//! documents the error statuses of each operation.

use serde_json::Value;

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
    for status in ["201", "400", "409", "413", "500"] {
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
