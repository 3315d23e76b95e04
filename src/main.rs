use std::io::Write;

use clap::Parser;

use authd::cli::{Cli, Command, ConfigAction, MigrateAction};
use authd::config::Settings;
use authd::startup::{Application, RunWorker, run_worker_only, shutdown_signal};
use authd::telemetry;

/// mimalloc gives freed memory back to the system shortly after it is
/// freed; glibc's malloc keeps freed chunks in the middle of its arenas.
/// After a burst of logins the per-user gates stop within seconds, and
/// their memory has to leave the process too (see bench/history/, "Memory").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    private_files();
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        println!("{}", openapi::spec_json());
        return std::process::ExitCode::SUCCESS;
    }
    if let Command::Config {
        action: ConfigAction::Check,
    } = cli.command
    {
        return match authd::config::check() {
            Ok(listing) => {
                // A closed pipe (`| head`) is not an error of the settings.
                let _ = writeln!(std::io::stdout().lock(), "{listing}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("authd: configuration error: {e}");
                std::process::ExitCode::from(2)
            }
        };
    }
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("authd: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log_filter, settings.log_json);
    if matches!(cli.command, Command::Serve { .. } | Command::Worker) {
        let version = env!("CARGO_PKG_VERSION");
        tracing::info!(version, "authd {version}");
    }
    let result = match cli.command {
        Command::Serve { no_worker } => {
            let worker = if no_worker {
                RunWorker::No
            } else {
                RunWorker::Yes
            };
            match Application::build(settings, worker).await {
                Ok(app) => {
                    let stop = app.shutdown_token();
                    tokio::spawn(async move {
                        shutdown_signal().await;
                        stop.cancel();
                    });
                    app.run_until_stopped().await
                }
                Err(e) => Err(e),
            }
        }
        Command::Worker => run_worker_only(settings, shutdown_signal()).await,
        Command::Migrate { action: None } => authd::startup::migrate(&settings).await,
        Command::Migrate {
            action: Some(MigrateAction::Status),
        } => authd::startup::migrate_status(&settings).await,
        Command::Admin { action } => authd::admin_keys::run(&settings, action).await,
        Command::Openapi | Command::Config { .. } => Ok(()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Once, on stderr (nothing below logged it).
            eprintln!("authd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Everything this process creates is its user's alone: the data directory
/// and the outbox (0700), the SQLite database with its `-wal` and `-shm`
/// files, the embedded queue, generated keys and `.eml` files (0600). A
/// process-wide umask covers the files SQLite, apalis and lettre create on
/// their own, from the first one on.
fn private_files() {
    #[cfg(unix)]
    // SAFETY: umask(2) only replaces the process's file mode creation mask;
    // it cannot fail and touches no memory.
    unsafe {
        libc::umask(0o077);
    }
}
