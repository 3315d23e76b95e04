//! `AUTH_LOG`: a tracing filter that means something. `EnvFilter` reads a
//! bare word it does not know as a target (`warning` keeps the events of a
//! module named "warning", that is none), so a misspelt level would turn
//! every log line off. A bare word must be a level or one of this
//! program's crates; anything longer (`sqlx=warn`, `authd::startup`,
//! `[span]`) is left to `EnvFilter`.

use super::{ConfigError, bad};

/// Levels a bare directive may name.
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// The crates whose name alone is a directive (all their events).
const TARGETS: [&str; 4] = ["authd", "actors", "jobs", "openapi"];

/// Refuses a filter `EnvFilter` cannot read, or a bare word in it that is
/// neither a level nor a known crate; the error names `AUTH_LOG`.
pub(super) fn check(filter: &str) -> Result<(), ConfigError> {
    let refuse = |why: String| bad("log", why);
    if tracing_subscriber::EnvFilter::try_new(filter).is_err() {
        return Err(refuse(format!("`{filter}` is not a tracing filter")));
    }
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let bare = !directive.contains(['=', ':', '[']);
        let known = LEVELS.contains(&directive.to_ascii_lowercase().as_str())
            || TARGETS.contains(&directive);
        if bare && !known {
            return Err(refuse(format!(
                "`{directive}` is not a level (trace, debug, info, warn, error, off) or a target=level directive"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_directives_pass_and_misspelt_levels_are_refused() {
        for good in [
            "info",
            "WARN",
            "",
            "debug,sqlx=warn",
            "authd::startup=debug",
            "authd",
            "info,actors=trace",
            "warn,[request]=debug",
        ] {
            assert!(check(good).is_ok(), "{good}");
        }
        for bad in ["warning", "inf", "info,verbose", "info,[[["] {
            let err = check(bad).unwrap_err();
            assert_eq!(err.variable, "AUTH_LOG", "{bad}");
            assert!(!err.to_string().contains('\n'));
        }
    }
}
