use clap::{Parser, Subcommand};

/// Where the settings come from, printed under `--help`.
const AFTER_HELP: &str = "\
Configuration: defaults, then the file authd.toml in the working directory
(or the file named by AUTH_CONFIG, which must exist), then AUTH_* environment
variables (AUTH_BIND, AUTH_DATABASE_URL, AUTH_DATA_DIR, AUTH_SMTP_URL ...; the
table is in README.md). A secret or URL may come from a file instead:
AUTH_JWT_SECRET_FILE=/run/secrets/jwt. An unknown key or AUTH_* variable stops
startup; `authd config check` shows the effective settings or the error.

Once serving, the API is documented at http://<AUTH_BIND>/docs (Swagger UI)
and /openapi.json; Prometheus metrics are at /metrics (on AUTH_METRICS_BIND;
else on a loopback AUTH_BIND, or with Authorization: Bearer AUTH_METRICS_TOKEN).";

/// authd: an authentication server.
#[derive(Debug, Parser)]
#[command(name = "authd", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (applies pending migrations first); also runs the
    /// email worker unless --no-worker.
    Serve {
        /// Do not run the email worker in this process.
        #[arg(long)]
        no_worker: bool,
    },
    /// Run the email worker only.
    Worker,
    /// Apply pending database migrations and exit (one node at a time).
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Keys of the admin API (`/api/v1/admin/…`).
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Make a key and print it, once (only its hash is stored).
    CreateKey {
        /// A name of its own: 1 to 64 letters, digits, `_`, `.` or `-`.
        #[arg(long)]
        name: String,
        /// The key may only read (GET); a change with it gets 403.
        #[arg(long)]
        read_only: bool,
    },
    /// List the keys: name, read-only, created, last used, revoked (never
    /// the key).
    ListKeys,
    /// Revoke the key with this name: refused from the next request on.
    RevokeKey {
        /// The key's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the effective settings, one `name = value` a line (secrets as
    /// `<redacted>`, URLs without credentials), or the one-line error that
    /// would stop startup (exit code 2); connects to nothing.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// List the migrations, one a line: `applied`, `pending`, or `newer`
    /// (applied by a newer release); writes nothing.
    Status,
}
