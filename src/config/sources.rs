//! Where settings come from: the configuration file and the `AUTH_*`
//! environment (with the `AUTH_X_FILE` variables of `files`), and the
//! refusal of names no setting has (a typo would otherwise be silently
//! ignored).

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Toml};

use super::{ConfigError, DECLARED};

const PREFIX: &str = "AUTH_";
/// Names the file; not a setting.
const CONFIG_VAR: &str = "AUTH_CONFIG";
/// The test suite's own variables (`AUTH_TEST_DATABASE_URL` ...), which the
/// binaries it spawns inherit; never settings.
const TEST_PREFIX: &str = "AUTH_TEST_";
const DEFAULT_FILE: &str = "authd.toml";

/// The configuration file: the one `AUTH_CONFIG` names (it must exist), or
/// `authd.toml` when there is one.
pub(super) fn config_file() -> Result<PathBuf, ConfigError> {
    match std::env::var_os(CONFIG_VAR) {
        Some(path) => {
            let path = PathBuf::from(path);
            if path.is_file() {
                Ok(path)
            } else {
                Err(ConfigError {
                    variable: CONFIG_VAR.into(),
                    problem: format!("configuration file {} does not exist", path.display()),
                })
            }
        }
        None => Ok(PathBuf::from(DEFAULT_FILE)),
    }
}

/// The `AUTH_*` variables that are settings (not `AUTH_CONFIG`, the test
/// suite's, or the `_FILE` variables, which `files` reads).
pub(super) fn environment() -> Env {
    let files = file_variables();
    Env::prefixed(PREFIX).filter(move |key| {
        let key = key.as_str().to_ascii_uppercase();
        key != CONFIG_VAR[PREFIX.len()..]
            && !key.starts_with(&TEST_PREFIX[PREFIX.len()..])
            && !files.contains(&format!("{PREFIX}{key}"))
    })
}

/// Every setting's name, lower case (as in the file).
fn known() -> Vec<String> {
    DECLARED.iter().map(|s| s.name.to_owned()).collect()
}

/// Every `AUTH_X_FILE` variable (a file holding a secret or URL).
fn file_variables() -> Vec<String> {
    DECLARED
        .iter()
        .filter_map(super::Declared::file_variable)
        .collect()
}

/// Stops at the first key of `file` or `AUTH_*` variable that names no
/// setting.
pub(super) fn refuse_unknown(file: &std::path::Path) -> Result<(), ConfigError> {
    let known = known();
    if file.is_file() {
        let keys = Figment::from(Toml::file(file))
            .extract::<std::collections::BTreeMap<String, figment::value::Value>>()
            .map_err(|e| ConfigError {
                variable: file.display().to_string(),
                problem: e.kind.to_string(),
            })?;
        if let Some(key) = keys.keys().find(|k| !known.contains(k)) {
            return Err(ConfigError {
                variable: file.display().to_string(),
                problem: format!("`{key}` is not a setting"),
            });
        }
    }
    let mut vars: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with(PREFIX) && k != CONFIG_VAR && !k.starts_with(TEST_PREFIX))
        .collect();
    vars.sort();
    let files = file_variables();
    if let Some(var) = vars
        .into_iter()
        .find(|v| !known.contains(&v[PREFIX.len()..].to_ascii_lowercase()) && !files.contains(v))
    {
        return Err(ConfigError {
            variable: var,
            problem: "is not a setting (see the configuration table in README.md)".into(),
        });
    }
    Ok(())
}
