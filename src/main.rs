use clap::Parser;

use authd::cli::{Cli, Command};
use authd::config::Settings;
use authd::startup::{Application, RunWorker, run_worker_only, shutdown_signal};
use authd::telemetry;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        println!("{}", openapi::spec_json());
        return std::process::ExitCode::SUCCESS;
    }
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("authd: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log_filter, settings.log_json);
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
        Command::Migrate => authd::startup::migrate(&settings).await,
        Command::Openapi => Ok(()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "authd stopped with an error");
            eprintln!("authd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
