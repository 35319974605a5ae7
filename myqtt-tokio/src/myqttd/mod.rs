//! `myqttd`: the ready-to-run myqtt broker, as a library function so that other binaries can
//! embed it (the `myqttd` binary is `fn main() { myqtt_tokio::myqttd::main() }`).
//!
//! With no arguments it listens on 127.0.0.1:1883, keeps its state in `./myqttd-data` and
//! accepts every client. `-c FILE` reads a TOML configuration (listeners, users, ACLs, limits,
//! domains; see `myqttd.example.toml`); command-line flags override the file. `myqttd passwd`
//! manages the password file. SIGHUP reloads users, ACLs, domains and certificates;
//! SIGINT/SIGTERM stop it gracefully. See `--help`.

mod listeners;
mod passwd;
mod policy;
mod reload;
mod signal;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::server::Server;
use clap::{Args, Parser, Subcommand};
use myqtt_host::config::{ListenerConfig, MyqttdConfig};
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

use policy::DomainSettings;
use reload::Running;
use signal::{Signal, Signals};

/// The myqtt MQTT broker (MQTT 3.1, 3.1.1 and 5.0).
#[derive(Debug, Parser)]
#[command(name = "myqttd", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Adds or changes a user in a password file (the password is read from standard
    /// input), or deletes one.
    Passwd(PasswdArgs),
}

/// Running the broker.
#[derive(Debug, Args)]
struct RunArgs {
    /// Configuration file (TOML; see myqttd.example.toml). Flags below override it.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to bind [default: 127.0.0.1] (replaces the first listener's).
    #[arg(long)]
    bind: Option<String>,
    /// TCP port for MQTT [default: 1883] (replaces the first listener's).
    #[arg(short, long)]
    port: Option<u16>,
    /// Largest packet accepted from a client, in bytes [default: 1048576].
    #[arg(long)]
    max_packet_size: Option<usize>,
    /// Directory of the durable store (persistent sessions, queued and retained messages)
    /// [default: ./myqttd-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Keep everything in memory only (nothing survives a restart).
    #[arg(long)]
    no_persistence: bool,
    /// Connections accepted at once [default: 10000].
    #[arg(long)]
    max_connections: Option<usize>,
    /// More logging (-v: debug, -vv: trace); `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// `myqttd passwd`.
#[derive(Debug, Args)]
pub(crate) struct PasswdArgs {
    /// The password file (created if missing).
    #[arg(short, long, value_name = "FILE", required_unless_present = "config")]
    pub(crate) file: Option<PathBuf>,
    /// Take the password file from this configuration's `password_file`.
    #[arg(short, long, value_name = "FILE", conflicts_with = "file")]
    pub(crate) config: Option<PathBuf>,
    /// Delete the user instead of setting its password.
    #[arg(long)]
    pub(crate) delete: bool,
    /// The user name.
    pub(crate) user: String,
}

/// Runs `myqttd` with the process's command line; the exit code says whether it failed (the
/// message is printed on standard error).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Passwd(args)) => passwd::passwd(&args),
        None => run(cli.run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("myqttd: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration: the file (or the defaults) with the command-line overrides, validated.
fn configure(args: &RunArgs) -> Result<MyqttdConfig, String> {
    let mut config = match &args.config {
        Some(path) => MyqttdConfig::load(path).map_err(|e| e.to_string())?,
        None => MyqttdConfig::default(),
    };
    if args.bind.is_some() || args.port.is_some() {
        if config.listeners.is_empty() {
            config.listeners.push(ListenerConfig::default());
        }
        let first = &mut config.listeners[0];
        if let Some(bind) = &args.bind {
            first.bind.clone_from(bind);
        }
        if let Some(port) = args.port {
            first.port = port;
        }
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir.clone_from(dir);
    }
    if args.no_persistence {
        config.persistence = false;
    }
    if let Some(size) = args.max_packet_size {
        config.limits.max_packet_size = size;
    }
    if let Some(max) = args.max_connections {
        config.limits.max_connections = max;
    }
    config.validate().map_err(|e| match &args.config {
        Some(path) => format!("{}: {e}", path.display()),
        None => e.to_string(),
    })?;
    Ok(config)
}

fn run(args: RunArgs) -> Result<(), String> {
    let default_level = match args.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let config = configure(&args)?;
    let domains = reload::settings(&config)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(serve(args, config, domains))
}

async fn serve(
    args: RunArgs,
    config: MyqttdConfig,
    domains: Vec<DomainSettings>,
) -> Result<(), String> {
    let (builder, tls) = listeners::add_all(Server::builder(), &config.listeners)?;
    let mut signals = Signals::new().map_err(|e| format!("cannot watch signals: {e}"))?;
    let mut running = Running::new(tls);
    let mut builder = builder;
    for settings in domains {
        let (name, domain) = running.prepare(settings)?;
        builder = match name {
            None => builder.default_domain(domain),
            Some(name) => builder.domain(name, domain),
        };
    }
    let server = builder.start().await.map_err(|e| e.to_string())?;
    running.listeners = config.listeners;
    loop {
        match signals.next().await {
            Signal::Stop => break,
            Signal::Reload => {
                info!("SIGHUP: reloading the configuration");
                match configure(&args).and_then(|c| Ok((reload::settings(&c)?, c))) {
                    Ok((domains, config)) => running.reload(&server, &config, domains).await,
                    Err(e) => error!("reload failed, keeping the running configuration: {e}"),
                }
            }
        }
    }
    info!("signal received, stopping");
    server.shutdown().await;
    Ok(())
}
