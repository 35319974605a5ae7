//! `myqttd`: the ready-to-run myqtt broker.
//!
//! With no arguments it listens on 127.0.0.1:1883, keeps its state in `./myqttd-data` and
//! accepts every client. `-c FILE` reads a TOML configuration (listeners, users, ACLs, limits;
//! see `myqttd.example.toml`); command-line flags override the file. `myqttd passwd` manages
//! the password file. See `--help`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use myqtt_host::auth::{Acl, PasswordFile};
use myqtt_host::config::{ListenerConfig, ListenerKind, MyqttdConfig};
use myqtt_host::tls::{PemSource, ServerTls};
use myqtt_proto::ReasonCode;
use myqtt_tokio::server::{
    ConnectDecision, ConnectInfo, PublishDecision, Server, SubscribeDecision,
};
use tokio::sync::Semaphore;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

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
struct PasswdArgs {
    /// The password file (created if missing).
    #[arg(short, long, value_name = "FILE", required_unless_present = "config")]
    file: Option<PathBuf>,
    /// Take the password file from this configuration's `password_file`.
    #[arg(short, long, value_name = "FILE", conflicts_with = "file")]
    config: Option<PathBuf>,
    /// Delete the user instead of setting its password.
    #[arg(long)]
    delete: bool,
    /// The user name.
    user: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Passwd(args)) => passwd(&args),
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

/// `myqttd passwd [-f FILE | -c CONFIG] [--delete] USER`.
fn passwd(args: &PasswdArgs) -> Result<(), String> {
    let path = match (&args.file, &args.config) {
        (Some(file), _) => file.clone(),
        (None, Some(config)) => MyqttdConfig::load(config)
            .map_err(|e| e.to_string())?
            .password_file
            .ok_or_else(|| format!("{}: no password_file set", config.display()))?,
        (None, None) => return Err("no password file: use -f FILE".into()),
    };
    let mut users = load_or_new(&path)?;
    if args.delete {
        if !users.remove(&args.user) {
            return Err(format!("{}: no user {:?}", path.display(), args.user));
        }
        users.save(&path).map_err(|e| e.to_string())?;
        eprintln!("myqttd: deleted {:?} from {}", args.user, path.display());
        return Ok(());
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password for {}: ", args.user);
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err("empty password (give it on standard input)".into());
    }
    let existed = users.contains(&args.user);
    users.set(&args.user, password).map_err(|e| e.to_string())?;
    users.save(&path).map_err(|e| e.to_string())?;
    let verb = if existed { "updated" } else { "added" };
    eprintln!("myqttd: {verb} {:?} in {}", args.user, path.display());
    Ok(())
}

/// The password file at `path`, or an empty one if there is none yet.
fn load_or_new(path: &Path) -> Result<PasswordFile, String> {
    match PasswordFile::load(path) {
        Ok(users) => Ok(users),
        Err(myqtt_host::auth::PasswordFileError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(PasswordFile::new())
        }
        Err(e) => Err(e.to_string()),
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
    let users = match &config.password_file {
        Some(path) => {
            let users = PasswordFile::load(path).map_err(|e| format!("password_file {e}"))?;
            if users.is_empty() {
                warn!(file = %path.display(), "the password file has no users");
            }
            Some(Arc::new(users))
        }
        None => None,
    };
    let acl = config.acl().map_err(|e| e.to_string())?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(serve(config, users, acl))
}

async fn serve(
    config: MyqttdConfig,
    users: Option<Arc<PasswordFile>>,
    acl: Acl,
) -> Result<(), String> {
    let mut builder = Server::builder().config(config.broker_config());
    for listener in &config.listeners {
        let address = listener.address();
        builder = match listener.kind {
            ListenerKind::Tcp => builder.listen(address),
            ListenerKind::Ws => builder.listen_ws(address),
            ListenerKind::Tls => builder.listen_tls(address, server_tls(listener)?),
            ListenerKind::Wss => builder.listen_wss(address, server_tls(listener)?),
        };
    }
    if config.persistence {
        builder = builder.storage(config.data_dir.clone());
    }
    let acl = (!acl.allows_everything()).then(|| Arc::new(acl));
    let needs_auth = users.is_some() || !config.anonymous;
    if needs_auth || acl.is_some() {
        let anonymous = config.anonymous;
        // Argon2 takes ~20 MiB and tens of milliseconds per check: bound how many run at once.
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        let checks = Arc::new(Semaphore::new(parallel));
        let will_acl = acl.clone();
        builder = builder.on_connect(move |info: ConnectInfo| {
            let (users, checks, will_acl) = (users.clone(), checks.clone(), will_acl.clone());
            async move {
                if needs_auth {
                    let decision = authenticate(info.clone(), users, anonymous, checks).await;
                    if decision != ConnectDecision::Accept {
                        return decision;
                    }
                }
                authorize_will(&info, will_acl.as_deref())
            }
        });
        if needs_auth {
            info!(anonymous, "authentication on");
        }
    }
    if let Some(acl) = acl {
        let publish_acl = acl.clone();
        builder = builder
            .on_publish(move |client, publish| {
                let topic = publish.topic.as_str();
                if publish_acl
                    .check_publish(client.client_id, client.username, topic)
                    .is_allowed()
                {
                    PublishDecision::Allow
                } else {
                    info!(
                        client_id = client.client_id,
                        user = client.username.unwrap_or(""),
                        topic,
                        "publish denied by ACL"
                    );
                    PublishDecision::Refuse(ReasonCode::NotAuthorized)
                }
            })
            .on_subscribe(move |client, subscription| {
                let filter = subscription.filter.as_str();
                if acl
                    .check_subscribe(client.client_id, client.username, filter)
                    .is_allowed()
                {
                    SubscribeDecision::Grant(subscription.options.qos)
                } else {
                    info!(
                        client_id = client.client_id,
                        user = client.username.unwrap_or(""),
                        filter,
                        "subscribe denied by ACL"
                    );
                    SubscribeDecision::Deny(ReasonCode::NotAuthorized)
                }
            });
        info!("ACL on");
    }
    let server = builder.start().await.map_err(|e| e.to_string())?;
    server.wait_for_signal().await;
    Ok(())
}

/// The TLS configuration of a `tls`/`wss` listener: one certificate, or one per SNI server name
/// with the listener's `certificate` as the default (MyQttD mod-ssl); `client_ca` requires
/// client certificates signed by it (mutual TLS).
fn server_tls(listener: &ListenerConfig) -> Result<Arc<rustls::ServerConfig>, String> {
    let mut tls = ServerTls::new();
    if listener.sni.is_empty() {
        if let (Some(cert), Some(key)) = (&listener.certificate, &listener.key) {
            tls = tls.certificate(PemSource::path(cert), PemSource::path(key));
        }
    } else {
        let entries = listener.sni.clone();
        let default = listener.certificate.clone().zip(listener.key.clone());
        let lookup = move |name: Option<&str>, key: bool| {
            let entry = name.and_then(|n| {
                entries
                    .iter()
                    .find(|e| e.server_name.eq_ignore_ascii_case(n))
            });
            match (entry, &default) {
                (Some(e), _) => Some(PemSource::path(if key { &e.key } else { &e.certificate })),
                (None, Some((cert, k))) => Some(PemSource::path(if key { k } else { cert })),
                (None, None) => None,
            }
        };
        let lookup = Arc::new(lookup);
        let (cert_lookup, key_lookup) = (lookup.clone(), lookup);
        tls = tls.sni(
            |_| true,
            move |name| cert_lookup(name, false),
            move |name| key_lookup(name, true),
        );
    }
    if let Some(ca) = &listener.client_ca {
        tls = tls.client_auth_required(PemSource::path(ca));
    }
    tls.build()
        .map_err(|e| format!("listener {}: {e}", listener.address()))
}

/// The will is published by the server on the client's behalf: a will topic the client may
/// not publish to refuses the CONNECT (Not authorized), so the ACL cannot be bypassed.
fn authorize_will(info: &ConnectInfo, acl: Option<&Acl>) -> ConnectDecision {
    if let (Some(acl), Some(topic)) = (acl, &info.will_topic)
        && !acl
            .check_publish(&info.client_id, info.username.as_deref(), topic)
            .is_allowed()
    {
        info!(
            client_id = info.client_id,
            user = info.username.as_deref().unwrap_or(""),
            topic = topic.as_str(),
            "will topic denied by ACL"
        );
        return ConnectDecision::Reject(ReasonCode::NotAuthorized);
    }
    ConnectDecision::Accept
}

/// The CONNECT check: anonymous clients per `anonymous`, named ones against the password
/// file. Logs one line per failure, never the password.
async fn authenticate(
    info: ConnectInfo,
    users: Option<Arc<PasswordFile>>,
    anonymous: bool,
    checks: Arc<Semaphore>,
) -> ConnectDecision {
    let peer = info.remote_addr.as_deref().unwrap_or("-");
    let Some(user) = info.username.clone() else {
        if anonymous {
            return ConnectDecision::Accept;
        }
        warn!(
            client_id = info.client_id,
            peer, "authentication failed: no user name (anonymous clients are not allowed)"
        );
        return ConnectDecision::Reject(ReasonCode::BadUserNameOrPassword);
    };
    let Some(users) = users else {
        // No password file (so anonymous = true): user names are not checked.
        return ConnectDecision::Accept;
    };
    let password = info.password.clone().unwrap_or_default();
    let ok = {
        let _permit = checks.acquire().await;
        let user = user.clone();
        tokio::task::spawn_blocking(move || users.verify(&user, &password))
            .await
            .unwrap_or(false)
    };
    if ok {
        ConnectDecision::Accept
    } else {
        warn!(
            client_id = info.client_id,
            user, peer, "authentication failed: bad user name or password"
        );
        ConnectDecision::Reject(ReasonCode::BadUserNameOrPassword)
    }
}
