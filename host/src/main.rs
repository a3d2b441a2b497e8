//! `gateway` binary: parse arguments, load config, build the app, serve until a signal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use gateway_host::{App, Config, Server, server, telemetry};

#[derive(Parser)]
#[command(name = "gateway", version, about = "WebAssembly-extensible AI gateway")]
struct Args {
    /// Config file (TOML). Default: `gateway.toml` next to the executable.
    #[arg(short, long, env = "GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Log one JSON object per line.
    #[arg(long)]
    log_json: bool,
    /// Validate the config and the plugins, then exit.
    #[arg(long)]
    check: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    telemetry::init(args.log_json);
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln_error(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let path = match args.config {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("gateway.toml"),
    };
    let config = Config::load(&path)?;
    let app = App::build(config).await?;
    if args.check {
        tracing::info!(
            plugins = app.plugins().list().len(),
            "config and plugins are valid"
        );
        return Ok(());
    }
    let server = Server::bind(app.clone()).await?;
    let addr = server.local_addr()?;
    for p in app.plugins().list() {
        tracing::info!(plugin = %p.name, version = %p.info.version, "serving /{}/v1/...", p.name);
    }
    announce(&format!("gateway listening on http://{addr}"));
    match app.generated_password() {
        Some(password) => announce(&format!(
            "admin: no admin.password configured, so one was generated; it is shown only now \
             (only its hash is stored):\n  {password}\n  \
             log in at POST http://{addr}/api/login with {{\"password\": \"…\"}}, or use Basic auth, e.g.\n  \
             curl -u admin:{password} http://{addr}/api/plugins"
        )),
        None => announce(
            "admin: log in with the admin password (admin.password, or the one printed at first \
             start), or send the admin.token as `Authorization: Bearer <token>`",
        ),
    }
    server.run(server::shutdown_signal()).await?;
    Ok(())
}

/// Operator-facing startup lines go to stdout so `make run` shows them without log noise.
#[allow(clippy::print_stdout)]
fn announce(line: &str) {
    println!("{line}");
}

/// A startup failure is also printed plainly, in case logging is filtered out.
#[allow(clippy::print_stderr)]
fn eprintln_error(msg: &str) {
    eprintln!("error: {msg}");
}
