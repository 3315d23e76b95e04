//! `AUTH_X_FILE`: the value of a secret or URL setting read from a file (a
//! mounted secret), so it need not sit in the environment. Every setting
//! declared `Secret` or `Url` has one (see `Declared::file_variable`). The
//! file's content, less one trailing newline, is the value; setting both
//! `AUTH_X` and `AUTH_X_FILE` is refused, and so is a file that cannot be
//! read. No error shows the content.

use std::ffi::OsString;
use std::path::Path;

use super::{ConfigError, DECLARED};

/// The values the `_FILE` variables name, as (setting, value), in the
/// order declared; `lookup` reads a variable (the environment).
pub(super) fn values(
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let mut values = Vec::new();
    for setting in DECLARED {
        let Some(file_variable) = setting.file_variable() else {
            continue;
        };
        let Some(path) = lookup(&file_variable) else {
            continue;
        };
        let variable = setting.variable();
        if lookup(&variable).is_some() {
            return Err(ConfigError {
                variable: format!("{variable} and {file_variable}"),
                problem: "are both set: set one of them".into(),
            });
        }
        let path = Path::new(&path);
        let content = std::fs::read_to_string(path).map_err(|e| ConfigError {
            variable: file_variable.clone(),
            problem: format!("cannot read {}: {}", path.display(), e.kind()),
        })?;
        values.push((setting.name, without_newline(content)));
    }
    Ok(values)
}

/// `error`, its variable marked as read from its file when its `_FILE`
/// variable is set (`AUTH_JWT_SECRET (from AUTH_JWT_SECRET_FILE)`), so
/// the operator looks in the right place.
pub(super) fn attribute(
    mut error: ConfigError,
    lookup: impl Fn(&str) -> Option<OsString>,
) -> ConfigError {
    let file_variable = DECLARED
        .iter()
        .filter(|setting| setting.variable() == error.variable)
        .find_map(|setting| setting.file_variable())
        .filter(|file_variable| lookup(file_variable).is_some());
    if let Some(file_variable) = file_variable {
        error.variable = format!("{} (from {file_variable})", error.variable);
    }
    error
}

/// The content without its one trailing newline (`\n` or `\r\n`).
fn without_newline(mut content: String) -> String {
    if content.ends_with('\n') {
        content.pop();
        if content.ends_with('\r') {
            content.pop();
        }
    }
    content
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn a_file_gives_its_content_less_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("jwt");
        std::fs::write(&secret, "file-hunter2-file-hunter2-file-hunter2\n").unwrap();
        let url = dir.path().join("db");
        std::fs::write(&url, "postgres://authd:hunter2@db/authd\r\n").unwrap();
        let spaced = dir.path().join("token");
        std::fs::write(&spaced, " token \n\n").unwrap();
        let read = values(lookup(&[
            ("AUTH_JWT_SECRET_FILE", secret.to_str().unwrap()),
            ("AUTH_DATABASE_URL_FILE", url.to_str().unwrap()),
            ("AUTH_METRICS_TOKEN_FILE", spaced.to_str().unwrap()),
        ]))
        .unwrap();
        assert_eq!(
            read,
            [
                ("database_url", "postgres://authd:hunter2@db/authd".into()),
                (
                    "jwt_secret",
                    "file-hunter2-file-hunter2-file-hunter2".into()
                ),
                ("metrics_token", " token \n".into()),
            ]
        );
        assert!(values(lookup(&[])).unwrap().is_empty());
    }

    #[test]
    fn a_variable_and_its_file_together_are_refused_naming_both() {
        let err = values(lookup(&[
            ("AUTH_SMTP_URL", "smtp://hunter2@mail"),
            ("AUTH_SMTP_URL_FILE", "/nonexistent"),
        ]))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "AUTH_SMTP_URL and AUTH_SMTP_URL_FILE: are both set: set one of them"
        );
    }

    #[test]
    fn an_error_about_a_value_from_a_file_names_the_file_variable() {
        let vars = lookup(&[("AUTH_JWT_SECRET_FILE", "/run/secrets/jwt")]);
        let from_file = attribute(crate::config::bad("jwt_secret", "too short"), &vars);
        assert_eq!(
            from_file.to_string(),
            "AUTH_JWT_SECRET (from AUTH_JWT_SECRET_FILE): too short"
        );
        let plain = attribute(crate::config::bad("bind", "bad"), &vars);
        assert_eq!(plain.variable, "AUTH_BIND");
        let no_file = attribute(crate::config::bad("smtp_url", "bad"), &vars);
        assert_eq!(no_file.variable, "AUTH_SMTP_URL");
    }

    #[test]
    fn an_unreadable_file_is_refused_naming_its_variable() {
        let dir = tempfile::tempdir().unwrap();
        let err = values(lookup(&[(
            "AUTH_ENCRYPTION_KEY_FILE",
            dir.path().join("missing").to_str().unwrap(),
        )]))
        .unwrap_err();
        assert_eq!(err.variable, "AUTH_ENCRYPTION_KEY_FILE");
        assert!(err.to_string().contains("not found"), "{err}");
        let not_text = dir.path().join("binary");
        std::fs::write(&not_text, [0xff, 0xfe, b'h', b'u', b'n']).unwrap();
        let err = values(lookup(&[(
            "AUTH_REDIS_URL_FILE",
            not_text.to_str().unwrap(),
        )]))
        .unwrap_err();
        assert_eq!(err.variable, "AUTH_REDIS_URL_FILE");
        assert!(!err.to_string().contains("hun"), "{err}");
        assert!(!err.to_string().contains('\n'));
    }
}
