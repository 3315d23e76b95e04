//! The HELP text of every series `/metrics` shows, in one list; a test
//! checks that every series the code records is in it.

use metrics::{describe_counter, describe_gauge, describe_histogram};

/// Every counter, gauge and histogram, with what it counts.
pub(crate) const SERIES: [(&str, Kind, &str); 33] = [
    (
        "authd_http_requests_total",
        Kind::Counter,
        "HTTP requests answered, by operation and status",
    ),
    (
        "authd_http_request_duration_seconds",
        Kind::Histogram,
        "Time to answer an HTTP request, by operation",
    ),
    (
        "authd_rate_limited_total",
        Kind::Counter,
        "Requests refused by a per-IP or per-session limit (429), by operation",
    ),
    (
        "authd_logins_total",
        Kind::Counter,
        "Login attempts, by outcome",
    ),
    (
        "authd_lockouts_total",
        Kind::Counter,
        "Accounts, devices or unknown addresses locked",
    ),
    (
        "authd_tokens_issued_total",
        Kind::Counter,
        "Token pairs issued at login",
    ),
    (
        "authd_tokens_refreshed_total",
        Kind::Counter,
        "Refresh tokens rotated",
    ),
    (
        "authd_tokens_revoked_total",
        Kind::Counter,
        "Sessions ended (logout, reuse, credential change)",
    ),
    (
        "authd_refresh_reuse_total",
        Kind::Counter,
        "Refresh tokens presented again after use",
    ),
    (
        "authd_alerts_queued_total",
        Kind::Counter,
        "Security alerts queued to owners, by alert",
    ),
    (
        "authd_passkey_logins_dropped_total",
        Kind::Counter,
        "Unfinished passkey logins dropped beyond AUTH_PASSKEY_OPEN_LOGINS",
    ),
    (
        "authd_pwned_checks_total",
        Kind::Counter,
        "Breached-password checks, by outcome",
    ),
    (
        "authd_process_cpu_seconds",
        Kind::Gauge,
        "CPU time this process has used, user plus system, in seconds",
    ),
    (
        "authd_process_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory of this process",
    ),
    (
        "authd_process_open_fds",
        Kind::Gauge,
        "File descriptors this process has open (connections included)",
    ),
    (
        "authd_db_pool_connections",
        Kind::Gauge,
        "Database connections the pool holds, at the scrape",
    ),
    (
        "authd_db_pool_idle",
        Kind::Gauge,
        "Of those, the idle ones, at the scrape",
    ),
    (
        "authd_tokens_rejected_total",
        Kind::Counter,
        "Access tokens refused by verify-token or a Bearer endpoint, by reason",
    ),
    (
        "authd_argon2_queue_depth",
        Kind::Gauge,
        "Password hashes waiting for a hashing thread",
    ),
    (
        "authd_argon2_abandoned_total",
        Kind::Counter,
        "Password hashes given up because their request went away",
    ),
    (
        "authd_user_actors",
        Kind::Gauge,
        "Per-user actors alive on this node",
    ),
    (
        "authd_email_jobs_queued_total",
        Kind::Counter,
        "Mails pushed from the outbox to the queue",
    ),
    (
        "authd_email_jobs_sent_total",
        Kind::Counter,
        "Mails the SMTP server took (or written as files)",
    ),
    (
        "authd_email_jobs_failed_total",
        Kind::Counter,
        "Mails given up (refused, or failing past the last attempt)",
    ),
    (
        "authd_email_jobs_retried_total",
        Kind::Counter,
        "Transient mail failures retried later",
    ),
    (
        "authd_email_jobs_unopenable_total",
        Kind::Counter,
        "Mails this node could not open (sealed with another AUTH_ENCRYPTION_KEY), kept",
    ),
    (
        "authd_email_outbox_backlog",
        Kind::Gauge,
        "Outbox rows still to be sent, at the scrape",
    ),
    (
        "authd_email_outbox_failed",
        Kind::Gauge,
        "Outbox rows given up and still kept, at the scrape",
    ),
    (
        "authd_janitor_deleted_total",
        Kind::Counter,
        "Rows the janitor deleted, by table",
    ),
    (
        "authd_redis_up",
        Kind::Gauge,
        "1 while Redis answers a ping, 0 while it does not (readiness does not depend on it)",
    ),
    (
        "authd_build_info",
        Kind::Gauge,
        "Always 1; the version label says which release runs",
    ),
    (
        "authd_webhook_deliveries_total",
        Kind::Counter,
        "Webhook attempts, by outcome (delivered, retried, failed)",
    ),
    (
        "authd_process_start_time_seconds",
        Kind::Gauge,
        "When this process started, Unix seconds",
    ),
];

/// What a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Gives every series its HELP text.
pub(crate) fn describe() {
    for (name, kind, help) in SERIES {
        match kind {
            Kind::Counter => describe_counter!(name, help),
            Kind::Gauge => describe_gauge!(name, help),
            Kind::Histogram => describe_histogram!(name, help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SERIES;

    /// Every `counter!`/`gauge!`/`histogram!("name"` in the workspace's
    /// sources.
    fn recorded() -> std::collections::BTreeSet<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut names = std::collections::BTreeSet::new();
        let mut dirs: Vec<std::path::PathBuf> = ["src", "actors/src", "jobs/src", "openapi/src"]
            .iter()
            .map(|d| root.join(d))
            .collect();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("telemetry/described.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for macro_call in ["counter!(\"", "gauge!(\"", "histogram!(\""] {
                        for (i, _) in text.match_indices(macro_call) {
                            let rest = &text[i + macro_call.len()..];
                            if let Some(end) = rest.find('"') {
                                names.insert(rest[..end].to_owned());
                            }
                        }
                    }
                }
            }
        }
        names
    }

    #[test]
    fn every_recorded_series_has_its_help_text() {
        let described: std::collections::BTreeSet<&str> =
            SERIES.iter().map(|(name, ..)| *name).collect();
        let recorded = recorded();
        assert!(recorded.len() >= 15, "{recorded:?}");
        for name in &recorded {
            assert!(described.contains(name.as_str()), "{name} has no HELP text");
        }
    }
}
