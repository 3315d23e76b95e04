//! Logs and metrics, process-wide: the tracing subscriber (text, coloured
//! only on a terminal, or JSON lines with the request's `request_id` at the
//! top level) and the Prometheus recorder that `/metrics` renders.

mod described;
pub(crate) mod process;

use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(filter: &str, json: bool) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if json {
        let format = tracing_subscriber::fmt::format()
            .json()
            .flatten_event(true)
            // The span list alone (the current span is its last entry):
            // one copy of each span's fields per line.
            .with_current_span(false)
            .with_span_list(true)
            .with_target(true);
        builder
            .json()
            .event_format(RequestIdOnTop(format))
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stdout().is_terminal())
            .try_init()
    };
}

/// JSON lines whose event happened within a request carry that request's
/// `request_id` at the top level, where log tools index it (the span
/// object keeps it too).
struct RequestIdOnTop(Format<Json>);

impl<S> FormatEvent<S, JsonFields> for RequestIdOnTop
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let Some(id) = request_id(ctx) else {
            return writer.write_str(&line);
        };
        match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(serde_json::Value::Object(mut fields)) => {
                fields.insert("request_id".into(), serde_json::Value::String(id));
                let line = serde_json::Value::Object(fields).to_string();
                writeln!(writer, "{line}")
            }
            _ => writer.write_str(&line),
        }
    }
}

/// The `request_id` of the innermost span around the event that has one.
fn request_id<S>(ctx: &FmtContext<'_, S, JsonFields>) -> Option<String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.event_scope()?.find_map(|span| {
        let extensions = span.extensions();
        let fields = extensions.get::<FormattedFields<JsonFields>>()?;
        let fields: serde_json::Value = serde_json::from_str(fields).ok()?;
        fields.get("request_id")?.as_str().map(str::to_owned)
    })
}

/// HTTP latency buckets, in seconds (Argon2 logins sit near the top).
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use (every app a
/// test process starts shares it). Rendered by `/metrics`; no listener of
/// its own.
pub fn metrics() -> PrometheusHandle {
    METRICS
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets_for_metric(
                Matcher::Full("authd_http_request_duration_seconds".into()),
                &LATENCY_BUCKETS,
            );
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => {
                    described::describe();
                    metrics::gauge!("authd_build_info", "version" => env!("CARGO_PKG_VERSION"))
                        .set(1.0);
                    let started = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64());
                    metrics::gauge!("authd_process_start_time_seconds").set(started);
                    handle
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics stays empty");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            }
        })
        .clone()
}
