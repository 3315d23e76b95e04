use clap::{Parser, Subcommand};

/// authd: an authentication server.
#[derive(Debug, Parser)]
#[command(name = "authd", version, about)]
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
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
}
