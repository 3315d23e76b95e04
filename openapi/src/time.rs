//! Timestamps in answers: Unix milliseconds in the store, RFC 3339 (UTC,
//! whole seconds) on the wire.

/// `ms` (Unix milliseconds) as RFC 3339, e.g. `2026-11-29T21:00:00Z`.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// `ms` as RFC 3339 with milliseconds, e.g. `2026-11-29T21:00:00.123Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
