//! A user's roles and app metadata: set by the admin API, shown read-only
//! to the user, carried in access tokens as the claims `roles` and
//! `app_metadata`. Stored as JSON text (`users.roles`, `users.app_metadata`).

use serde_json::{Map, Value};

/// Most roles one user has.
pub const MAX_ROLES: usize = 20;
/// Most bytes of a user's app metadata, as compact JSON.
pub const MAX_APP_METADATA_BYTES: usize = 4096;

/// A user's roles: at most [`MAX_ROLES`], each matching
/// `^[a-z][a-z0-9_.:-]{0,63}$`, without repeats, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles(Vec<String>);

impl Roles {
    /// Parses roles given by an admin; one message per problem.
    pub fn parse(given: &[String]) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        if given.len() > MAX_ROLES {
            errors.push(format!("must be at most {MAX_ROLES} roles"));
        }
        let mut roles: Vec<String> = Vec::with_capacity(given.len());
        for role in given {
            if !is_role(role) {
                errors.push(format!(
                    "{:?} must start with a-z and have at most 64 of a-z, 0-9, _ . : -",
                    role.chars().take(70).collect::<String>()
                ));
            } else if !roles.contains(role) {
                roles.push(role.clone());
            }
        }
        if errors.is_empty() {
            Ok(Self(roles))
        } else {
            Err(errors)
        }
    }

    /// The roles as stored. What is not an array of strings (a row edited by
    /// hand) reads as no roles, never as an error of the request.
    pub fn from_stored(json: &str) -> Self {
        let roles = serde_json::from_str::<Vec<String>>(json).unwrap_or_default();
        Self(roles.into_iter().filter(|r| is_role(r)).collect())
    }

    /// The JSON text stored for them.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "[]".to_owned())
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

fn is_role(role: &str) -> bool {
    let bytes = role.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes[1..].iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':' | b'-')
        })
}

/// A user's app metadata: a JSON object of at most
/// [`MAX_APP_METADATA_BYTES`] as compact JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppMetadata(Map<String, Value>);

impl AppMetadata {
    /// Parses app metadata given by an admin.
    pub fn parse(given: Value) -> Result<Self, Vec<String>> {
        let Value::Object(map) = given else {
            return Err(vec!["must be a JSON object".to_owned()]);
        };
        let size = serde_json::to_string(&map).map_or(usize::MAX, |s| s.len());
        if size > MAX_APP_METADATA_BYTES {
            return Err(vec![format!(
                "must be at most {MAX_APP_METADATA_BYTES} bytes as JSON"
            )]);
        }
        Ok(Self(map))
    }

    /// The metadata as stored; what is not a JSON object reads as empty.
    pub fn from_stored(json: &str) -> Self {
        Self(serde_json::from_str::<Map<String, Value>>(json).unwrap_or_default())
    }

    /// The JSON text stored for it.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn roles_follow_the_pattern() {
        let ok = [
            "admin",
            "a",
            "billing.read",
            "org:42",
            "x_y-z",
            &"a".repeat(64),
        ];
        assert!(Roles::parse(&strings(&ok)).is_ok());
        for bad in ["", "Admin", "1st", "-x", "a b", "é", &"a".repeat(65), "a/b"] {
            assert!(Roles::parse(&strings(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn at_most_twenty_roles_and_repeats_are_kept_once() {
        let twenty: Vec<String> = (0..20).map(|i| format!("r{i}")).collect();
        assert_eq!(Roles::parse(&twenty).unwrap().as_slice().len(), 20);
        let mut more = twenty.clone();
        more.push("r20".to_owned());
        assert!(Roles::parse(&more).is_err());
        let twice = Roles::parse(&strings(&["b", "a", "b"])).unwrap();
        assert_eq!(twice.as_slice(), ["b", "a"]);
    }

    #[test]
    fn roles_round_trip_through_storage_and_bad_rows_read_as_none() {
        let roles = Roles::parse(&strings(&["admin", "support"])).unwrap();
        assert_eq!(Roles::from_stored(&roles.to_stored()), roles);
        assert_eq!(Roles::from_stored("not json"), Roles::default());
        assert_eq!(Roles::from_stored("{\"a\":1}"), Roles::default());
        assert_eq!(Roles::from_stored("[\"ok\",\"Not Ok\"]").as_slice(), ["ok"]);
    }

    #[test]
    fn app_metadata_is_an_object_of_at_most_4_kib() {
        assert!(AppMetadata::parse(serde_json::json!({"plan": "pro", "seats": 3})).is_ok());
        for bad in [serde_json::json!([1]), serde_json::json!("x"), Value::Null] {
            assert!(AppMetadata::parse(bad).is_err());
        }
        // {"k":"..."} is 8 bytes around the value.
        let fits = serde_json::json!({ "k": "x".repeat(MAX_APP_METADATA_BYTES - 8) });
        assert!(AppMetadata::parse(fits).is_ok());
        let over = serde_json::json!({ "k": "x".repeat(MAX_APP_METADATA_BYTES - 7) });
        assert!(AppMetadata::parse(over).is_err());
    }

    #[test]
    fn app_metadata_round_trips_and_bad_rows_read_as_empty() {
        let meta = AppMetadata::parse(serde_json::json!({"a": [1, 2], "b": null})).unwrap();
        assert_eq!(AppMetadata::from_stored(&meta.to_stored()), meta);
        assert_eq!(AppMetadata::from_stored("[]"), AppMetadata::default());
    }
}
