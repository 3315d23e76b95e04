//! Secrets from files (`AUTH_X_FILE`), `authd config check`, and settings
//! every role refuses (a misspelt `AUTH_LOG`, a bad `AUTH_SMTP_URL`, a
//! refresh TTL shorter than the access TTL): run on the real binary, each
//! refusal one line with exit code 2, no secret printed.

use std::process::Command;

use crate::binary::authd;

/// A secret that must never be printed.
const SECRET: &str = "file-hunter2-file-hunter2-file-hunter2";

/// Runs `cmd` to its end: (exit code, stdout, stderr).
fn run(cmd: &mut Command) -> (Option<i32>, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// It was refused as a configuration error: exit code 2, one line on
/// stderr containing each of `words`, nothing on stdout.
fn refused(cmd: &mut Command, words: &[&str]) {
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    for word in words {
        assert!(stderr.contains(word), "{word} not in {stderr}");
    }
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn config_check_lists_the_effective_settings_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("jwt_secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    std::fs::write(dir.path().join("authd.toml"), "lockout_threshold = 7\n").unwrap();
    let mut cmd = authd(dir.path());
    cmd.args(["config", "check"])
        .env("AUTH_JWT_SECRET_FILE", &secret)
        .env(
            "AUTH_SMTP_URL",
            "smtps://mailer:hunter2@smtp.example.com:465",
        );
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    for line in [
        "jwt_secret = <redacted>",
        "smtp_url = \"smtps://***@smtp.example.com:465\"",
        "lockout_threshold = 7",
        "argon2_iterations = 1",
        "encryption_key = (unset)",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line} not in {stdout}");
    }
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));
    assert!(
        !dir.path().join("authd.db").exists(),
        "config check creates nothing"
    );
}

#[test]
fn config_check_refuses_what_startup_would() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = authd(dir.path());
    cmd.args(["config", "check"])
        .env("AUTH_ACCESS_TTL_SECS", "3600")
        .env("AUTH_REFRESH_TTL_SECS", "600");
    refused(&mut cmd, &["AUTH_REFRESH_TTL_SECS", "AUTH_ACCESS_TTL_SECS"]);
    let mut cmd = authd(dir.path());
    cmd.args(["config", "check"]).env("AUTH_BIND_FILE", "/x");
    refused(&mut cmd, &["AUTH_BIND_FILE", "not a setting"]);
}

#[test]
fn a_url_read_from_its_file_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("from-file.db");
    let url = dir.path().join("database_url");
    std::fs::write(&url, format!("sqlite://{}?mode=rwc\n", db.display())).unwrap();
    let mut cmd = authd(dir.path());
    cmd.arg("migrate").env("AUTH_DATABASE_URL_FILE", &url);
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(db.exists(), "the database the file names was created");
}

#[test]
fn a_variable_beside_its_file_or_an_unreadable_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("jwt_secret");
    std::fs::write(&secret, SECRET).unwrap();
    let mut cmd = authd(dir.path());
    cmd.arg("migrate")
        .env("AUTH_JWT_SECRET", SECRET)
        .env("AUTH_JWT_SECRET_FILE", &secret);
    refused(&mut cmd, &["AUTH_JWT_SECRET and AUTH_JWT_SECRET_FILE"]);
    let mut cmd = authd(dir.path());
    cmd.arg("migrate")
        .env("AUTH_ENCRYPTION_KEY_FILE", dir.path().join("missing"));
    refused(&mut cmd, &["AUTH_ENCRYPTION_KEY_FILE", "missing"]);
    let short = dir.path().join("short");
    std::fs::write(&short, "hunter2\n").unwrap();
    let mut cmd = authd(dir.path());
    cmd.arg("migrate").env("AUTH_JWT_SECRET_FILE", &short);
    refused(
        &mut cmd,
        &["AUTH_JWT_SECRET (from AUTH_JWT_SECRET_FILE)", "32 bytes"],
    );
    assert!(
        !dir.path().join("authd.db").exists(),
        "nothing was migrated"
    );
}

#[test]
fn a_misspelt_log_level_is_refused() {
    for filter in ["warning", "inf"] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = authd(dir.path());
        cmd.arg("migrate").env("AUTH_LOG", filter);
        refused(&mut cmd, &["AUTH_LOG", filter]);
    }
}

#[test]
fn a_bad_smtp_url_is_refused_by_migrate_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = authd(dir.path());
    cmd.arg("migrate").env(
        "AUTH_SMTP_URL",
        "smtp://mailer:hunter2@mail.example?tls=yes",
    );
    refused(&mut cmd, &["AUTH_SMTP_URL"]);
    assert!(
        !dir.path().join("authd.db").exists(),
        "nothing was migrated"
    );
}
