//! `gateway` binary: parse arguments, load config, build the app, serve until a signal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use gateway_host::admin_auth::AdminAuth;
use gateway_host::store::Store;
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
    /// Replace the stored admin password with a generated one, print it once, and exit (with
    /// the embedded store, stop the gateway first). Every admin session ends.
    #[arg(long)]
    reset_admin_password: bool,
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
    if args.reset_admin_password {
        let store = Store::open(&config.store).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot open the store ({e}); with the embedded store, stop the running gateway first"
            )
        })?;
        let password = AdminAuth::reset_password(&config.admin, &store).await?;
        announce(&format!(
            "admin: the password was reset; it is shown only now (only its hash is stored):\n  {password}"
        ));
        return Ok(());
    }
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
             start), or send the admin.token as `Authorization: Bearer <token>`; a lost generated \
             password is replaced by `gateway --reset-admin-password`",
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
