//! The one table of what is served: each operation's path template, method,
//! operation id and whether it takes a Bearer token, read once at startup
//! from the OpenAPI document (plus the pages outside it). Slash
//! normalisation, the `Allow` header, the Bearer challenge, the metrics
//! labels and the rate limits all look a request up here.

use std::collections::HashMap;
use std::sync::Arc;

use poem::http::{HeaderValue, Method};

/// The keys of an OpenAPI path item that are operations (the others are
/// `parameters`, `summary` ...).
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One served operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Its path as routed (`{name}` matches one non-empty segment).
    pub template: String,
    pub method: Method,
    /// Its OpenAPI operation id (a page's name for the pages outside the
    /// document): its label in the metrics, its key in the rate limits.
    pub id: String,
    /// Whether it takes a Bearer token, an access token or an admin key
    /// (its 401s carry the challenge).
    pub bearer: bool,
}

impl Operation {
    /// An operation that takes no Bearer token.
    pub fn new(template: &str, method: Method, id: &str) -> Self {
        Self {
            template: template.to_owned(),
            method,
            id: id.to_owned(),
            bearer: false,
        }
    }
}

/// Each operation of a (raw, poem-openapi) OpenAPI document, in the
/// document's order.
pub fn documented(spec: &str) -> Vec<Operation> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(spec) else {
        return Vec::new();
    };
    let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) else {
        return Vec::new();
    };
    let mut ops = Vec::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().into_iter().flatten() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                continue;
            };
            let id = op
                .get("operationId")
                .and_then(|id| id.as_str())
                .unwrap_or(path);
            let bearer = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.get("BearerAuth").is_some() || r.get("AdminKeyAuth").is_some())
            });
            ops.push(Operation {
                bearer,
                ..Operation::new(path, method, id)
            });
        }
    }
    ops
}

/// A served path and its operations.
struct Path {
    template: String,
    /// The methods it is served for (a path with GET also answers HEAD).
    allow: HeaderValue,
    operations: Vec<Operation>,
}

/// The table: served paths, found by either spelling (with and without
/// the trailing slash); the two spellings of one template are one path.
#[derive(Clone)]
pub struct Routes(Arc<Table>);

struct Table {
    paths: Vec<Path>,
    /// Paths without a parameter, by their slash-less spelling.
    plain: HashMap<String, usize>,
    /// Paths with a parameter.
    templated: Vec<usize>,
}

impl Routes {
    /// The table of these operations.
    pub fn new(ops: impl IntoIterator<Item = Operation>) -> Self {
        let mut paths: Vec<Path> = Vec::new();
        for op in ops {
            let key = trim_slash(&op.template);
            match paths.iter_mut().find(|p| trim_slash(&p.template) == key) {
                Some(path) => path.operations.push(op),
                None => paths.push(Path {
                    template: op.template.clone(),
                    allow: HeaderValue::from_static(""),
                    operations: vec![op],
                }),
            }
        }
        let mut plain = HashMap::new();
        let mut templated = Vec::new();
        for (i, path) in paths.iter_mut().enumerate() {
            path.allow = allow(&path.operations);
            if path.template.contains('{') {
                templated.push(i);
            } else {
                plain.insert(trim_slash(&path.template).to_owned(), i);
            }
        }
        Self(Arc::new(Table {
            paths,
            plain,
            templated,
        }))
    }

    /// The served path `path` is a spelling of (a path without a parameter
    /// before one with).
    fn path(&self, path: &str) -> Option<&Path> {
        let table = &self.0;
        let trimmed = trim_slash(path);
        let index = table.plain.get(trimmed).copied().or_else(|| {
            table
                .templated
                .iter()
                .copied()
                .find(|&i| same_template(trim_slash(&table.paths[i].template), trimmed))
        })?;
        Some(&table.paths[index])
    }

    /// Whether `path`, spelt exactly so, is served.
    pub fn serves(&self, path: &str) -> bool {
        self.path(path)
            .is_some_and(|known| same_template(&known.template, path))
    }

    /// The `Allow` value of `path`, in either spelling.
    pub fn allow(&self, path: &str) -> Option<HeaderValue> {
        self.path(path)
            .map(|known| known.allow.clone())
            .filter(|allow| !allow.is_empty())
    }

    /// The operation `method` on `path` (in either spelling) is.
    pub fn operation(&self, method: &Method, path: &str) -> Option<&Operation> {
        self.path(path)?
            .operations
            .iter()
            .find(|op| op.method == method)
    }
}

/// The `Allow` value of a path with these operations.
fn allow(ops: &[Operation]) -> HeaderValue {
    let mut methods: Vec<&str> = ops.iter().map(|op| op.method.as_str()).collect();
    if ops.iter().any(|op| op.method == Method::GET) {
        methods.push(Method::HEAD.as_str());
    }
    HeaderValue::from_str(&methods.join(", ")).unwrap_or(HeaderValue::from_static(""))
}

/// `path` without its trailing slash (`/` stays itself).
fn trim_slash(path: &str) -> &str {
    match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    }
}

/// Whether `path` matches `template`, where a `{name}` segment matches any
/// one non-empty segment.
fn same_template(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(a), Some(b))
                if a == b || (!b.is_empty() && a.starts_with('{') && a.ends_with('}')) => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Routes {
        Routes::new([
            Operation::new("/api/v1/auth/login", Method::POST, "login"),
            Operation::new("/healthz", Method::GET, "healthz"),
            Operation {
                bearer: true,
                ..Operation::new("/api/v1/auth/sessions", Method::GET, "listSessions")
            },
            Operation {
                bearer: true,
                ..Operation::new("/api/v1/auth/sessions/{id}", Method::DELETE, "endSession")
            },
            Operation::new("/api/v1/2fa/enable/", Method::POST, "mfaEnable"),
        ])
    }

    #[test]
    fn a_path_is_served_as_spelt_and_found_in_either_spelling() {
        let routes = routes();
        assert!(routes.serves("/api/v1/auth/login"));
        assert!(!routes.serves("/api/v1/auth/login/"));
        assert!(routes.serves("/api/v1/2fa/enable/"));
        assert!(!routes.serves("/api/v1/2fa/enable"));
        assert!(routes.serves("/api/v1/auth/sessions/0b6a"));
        assert!(!routes.serves("/api/v1/auth/sessions/0b6a/"));
        assert!(!routes.serves("/api/v1/auth/sessions//"));
        assert!(!routes.serves("/api/v1/auth/sessions/a/b"));
        assert!(!routes.serves("/"));
        let id = |m: Method, p: &str| routes.operation(&m, p).map(|op| op.id.as_str());
        assert_eq!(id(Method::POST, "/api/v1/auth/login/"), Some("login"));
        assert_eq!(id(Method::POST, "/api/v1/2fa/enable"), Some("mfaEnable"));
        assert_eq!(
            id(Method::GET, "/api/v1/auth/sessions/"),
            Some("listSessions")
        );
        assert_eq!(
            id(Method::DELETE, "/api/v1/auth/sessions/0b6a/"),
            Some("endSession")
        );
        assert_eq!(id(Method::GET, "/api/v1/auth/login"), None);
        assert_eq!(id(Method::POST, "/api/v1/auth/login//"), None);
        assert_eq!(id(Method::POST, "/api/v1/auth/log%69n"), None);
    }

    #[test]
    fn allow_names_the_methods_of_a_path_in_either_spelling_and_with_parameters() {
        let routes = Routes::new([
            Operation::new("/api/v1/auth/login", Method::POST, "login"),
            Operation::new("/healthz", Method::GET, "healthz"),
            Operation::new("/api/v1/passkeys/{id}", Method::DELETE, "removePasskey"),
            Operation::new("/api/v1/passkeys/{id}", Method::PATCH, "renamePasskey"),
        ]);
        let allow = |p: &str| routes.allow(p).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(allow("/api/v1/auth/login").as_deref(), Some("POST"));
        assert_eq!(allow("/api/v1/auth/login/").as_deref(), Some("POST"));
        assert_eq!(allow("/healthz").as_deref(), Some("GET, HEAD"));
        assert_eq!(
            allow("/api/v1/passkeys/0b6a/").as_deref(),
            Some("DELETE, PATCH")
        );
        assert_eq!(allow("/api/v1/passkeys"), None);
        assert_eq!(allow("/nope"), None);
    }
}
