//! What a newcomer meets on the first start of the binary: one clear line
//! for each mistake, soon, and before anything is migrated.

use std::time::{Duration, Instant};

use crate::binary::authd;

/// Runs `authd` to its end: (success, stdout and stderr lines).
fn run(cmd: &mut std::process::Command) -> (bool, Vec<String>) {
    let out = cmd.output().unwrap();
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.extend(
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(str::to_owned),
    );
    (out.status.success(), lines)
}

/// It failed with exactly one line, which contains each of `words`.
fn one_line_naming(result: (bool, Vec<String>), words: &[&str]) {
    let (ok, lines) = result;
    assert!(!ok, "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    for word in words {
        assert!(lines[0].contains(word), "{word} not in {lines:?}");
    }
}

#[test]
fn an_unknown_auth_variable_stops_startup_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = authd(dir.path());
    cmd.arg("migrate").env("AUTH_DATABSE_URL", "sqlite://x.db");
    one_line_naming(run(&mut cmd), &["AUTH_DATABSE_URL", "not a setting"]);
    assert!(!dir.path().join("authd.db").exists(), "nothing was created");
}

#[test]
fn the_test_suites_own_variables_are_not_settings() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = authd(dir.path());
    cmd.arg("migrate")
        .env("AUTH_TEST_SOMETHING", "1")
        .env_remove("AUTH_DATABASE_URL");
    let (ok, lines) = run(&mut cmd);
    assert!(ok, "{lines:?}");
}

#[test]
fn a_missing_config_file_stops_startup_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let mut cmd = authd(dir.path());
    cmd.arg("migrate").env("AUTH_CONFIG", &missing);
    one_line_naming(
        run(&mut cmd),
        &["AUTH_CONFIG", "nope.toml", "does not exist"],
    );
}

#[test]
fn an_unknown_key_in_the_config_file_stops_startup_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authd.toml");
    std::fs::write(&file, "bind = \"127.0.0.1:0\"\nlockout_treshold = 3\n").unwrap();
    let mut cmd = authd(dir.path());
    cmd.arg("migrate").env("AUTH_CONFIG", &file);
    one_line_naming(run(&mut cmd), &["authd.toml", "lockout_treshold"]);
}

#[test]
fn everything_defaults_under_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state");
    let mut cmd = authd(dir.path());
    cmd.arg("migrate")
        .env("AUTH_DATA_DIR", &data)
        .env_remove("AUTH_DATABASE_URL");
    let (ok, lines) = run(&mut cmd);
    assert!(ok, "{lines:?}");
    assert!(data.join("authd.db").exists(), "{lines:?}");
    assert!(!dir.path().join("data").exists());
}

#[test]
fn an_unreachable_database_is_reported_with_its_cause_within_seconds() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = authd(dir.path());
    cmd.arg("migrate").env(
        "AUTH_DATABASE_URL",
        format!("postgres://authd:pw@127.0.0.1:{port}/authd"),
    );
    let started = Instant::now();
    let result = run(&mut cmd);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    one_line_naming(result, &["AUTH_DATABASE_URL", "onnection refused"]);
}

#[test]
fn a_port_in_use_is_reported_before_anything_is_migrated() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = authd(dir.path());
    cmd.args(["serve", "--no-worker"]).env("AUTH_BIND", &addr);
    let (ok, lines) = run(&mut cmd);
    assert!(!ok);
    let errors: Vec<&String> = lines.iter().filter(|l| l.contains(&addr)).collect();
    assert_eq!(errors.len(), 1, "printed once: {lines:?}");
    assert!(errors[0].contains("AUTH_BIND"), "{lines:?}");
    assert!(
        !dir.path().join("authd.db").exists(),
        "the database was created before the port was checked"
    );
}

#[test]
fn help_mentions_the_config_file_the_environment_and_the_docs() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["authd.toml", "AUTH_CONFIG", "AUTH_", "README", "/docs"] {
        assert!(help.contains(word), "{word} not in {help}");
    }
}
