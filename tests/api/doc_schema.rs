//! A strict reader of the served OpenAPI document for the tests: checks a
//! real JSON answer against the schema the document gives for it (types,
//! `nullable`, `required`, undocumented fields, `enum`, `allOf`, `anyOf`,
//! `oneOf`, lengths,
//! `format: date-time`). Patterns are not checked here (the server's own
//! rules are; schemathesis checks the patterns from outside).

use serde_json::Value;

pub struct Doc(pub Value);

impl Doc {
    pub async fn served(app: &crate::helpers::TestApp) -> Self {
        let resp = app
            .client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap();
        Self(resp.json().await.unwrap())
    }

    /// The operation at `path` (as documented) and `method`.
    pub fn operation(&self, path: &str, method: &str) -> &Value {
        let op = &self.0["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        op
    }

    /// The documented response of an operation for `status`.
    pub fn response(&self, path: &str, method: &str, status: u16) -> &Value {
        let resp = &self.operation(path, method)["responses"][status.to_string()];
        assert!(
            resp.is_object(),
            "{method} {path} does not document {status}"
        );
        resp
    }

    /// Every operation: (path, method, operation).
    pub fn operations(&self) -> Vec<(&str, &str, &Value)> {
        let paths = self.0["paths"].as_object().unwrap();
        paths
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .iter()
                    .map(move |(m, op)| (path.as_str(), m.as_str(), op))
            })
            .collect()
    }

    pub fn schemas(&self) -> &serde_json::Map<String, Value> {
        self.0["components"]["schemas"].as_object().unwrap()
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.strip_prefix("#/components/schemas/").unwrap();
                &self.0["components"]["schemas"][name]
            }
            None => schema,
        }
    }

    /// Checks a real answer (status, headers, body) against the document.
    pub fn check_answer(
        &self,
        path: &str,
        method: &str,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &Value,
    ) {
        let documented = self.response(path, method, status);
        for (name, header) in documented["headers"].as_object().into_iter().flatten() {
            if header["required"] == Value::Bool(true) {
                assert!(
                    headers.contains_key(name.as_str()),
                    "{method} {path} {status}: header {name} is documented but not sent"
                );
            }
        }
        let schema = &documented["content"]["application/json"]["schema"];
        let errors = self.check(schema, body, "body");
        assert!(
            errors.is_empty(),
            "{method} {path} {status} does not match its schema:\n{}\n{body}",
            errors.join("\n")
        );
    }

    /// What in `value` disagrees with `schema` (empty: it conforms).
    pub fn check(&self, schema: &Value, value: &Value, at: &str) -> Vec<String> {
        let schema = self.resolve(schema);
        if value.is_null() {
            return if schema["nullable"] == Value::Bool(true) {
                Vec::new()
            } else {
                vec![format!("{at}: null, but the schema is not nullable")]
            };
        }
        if let Some(parts) = schema["allOf"].as_array() {
            return parts
                .iter()
                .flat_map(|p| self.check(p, value, at))
                .collect();
        }
        if let Some(variants) = schema["anyOf"].as_array() {
            return if variants.iter().any(|v| self.check(v, value, at).is_empty()) {
                Vec::new()
            } else {
                vec![format!("{at}: matches none of the anyOf variants")]
            };
        }
        if let Some(variants) = schema["oneOf"].as_array() {
            let matching = variants
                .iter()
                .filter(|v| self.check(v, value, at).is_empty())
                .count();
            return if matching == 1 {
                Vec::new()
            } else {
                vec![format!("{at}: matches {matching} of the oneOf variants")]
            };
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            return vec![format!("{at}: {value} is not one of {allowed:?}")];
        }
        let mut errors = Vec::new();
        let ty = schema["type"].as_str().unwrap_or_default();
        let type_ok = match ty {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => true,
        };
        if !type_ok {
            return vec![format!("{at}: {value} is not of type {ty}")];
        }
        if let Some(s) = value.as_str() {
            let chars = s.chars().count() as u64;
            if schema["maxLength"].as_u64().is_some_and(|max| chars > max) {
                errors.push(format!("{at}: longer than maxLength"));
            }
            if schema["minLength"].as_u64().is_some_and(|min| chars < min) {
                errors.push(format!("{at}: shorter than minLength"));
            }
            if schema["format"] == "date-time" && chrono::DateTime::parse_from_rfc3339(s).is_err() {
                errors.push(format!("{at}: {s} is not an RFC 3339 date-time"));
            }
        }
        if let Some(obj) = value.as_object() {
            let props = schema["properties"].as_object();
            for req in schema["required"].as_array().into_iter().flatten() {
                if !obj.contains_key(req.as_str().unwrap()) {
                    errors.push(format!("{at}: required field {req} is missing"));
                }
            }
            for (k, v) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(prop) => errors.extend(self.check(prop, v, &format!("{at}.{k}"))),
                    None if schema
                        .get("additionalProperties")
                        .is_some_and(Value::is_object) =>
                    {
                        errors.extend(self.check(
                            &schema["additionalProperties"],
                            v,
                            &format!("{at}.{k}"),
                        ));
                    }
                    None if props.is_some() => {
                        errors.push(format!("{at}: field {k} is sent but not documented"));
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), Some(schema_items)) = (value.as_array(), schema.get("items")) {
            for (i, item) in items.iter().enumerate() {
                errors.extend(self.check(schema_items, item, &format!("{at}[{i}]")));
            }
        }
        errors
    }
}

/// Calls `f` on every JSON object in `value`, with its JSON pointer.
pub fn walk(value: &Value, at: &str, f: &mut dyn FnMut(&str, &serde_json::Map<String, Value>)) {
    match value {
        Value::Object(map) => {
            f(at, map);
            for (k, v) in map {
                walk(v, &format!("{at}/{k}"), f);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{at}/{i}"), f);
            }
        }
        _ => {}
    }
}
