//! `myqttd`: the ready-to-run myqtt broker.
//!
//! With no arguments it listens on 127.0.0.1:1883, keeps its state in `./myqttd-data` and
//! accepts every client. See `--help`.

use std::process::ExitCode;

use clap::Parser;
use myqtt_tokio::server::{BrokerConfig, Server};
use tracing_subscriber::EnvFilter;

/// The myqtt MQTT broker (MQTT 3.1, 3.1.1 and 5.0).
#[derive(Debug, Parser)]
#[command(name = "myqttd", version, about)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// TCP port for MQTT.
    #[arg(short, long, default_value_t = 1883)]
    port: u16,
    /// Largest packet accepted from a client, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_packet_size: usize,
    /// Directory of the durable store (persistent sessions, queued and retained messages).
    #[arg(long, default_value = "./myqttd-data")]
    data_dir: std::path::PathBuf,
    /// Keep everything in memory only (nothing survives a restart).
    #[arg(long)]
    no_persistence: bool,
    /// Connections accepted at once.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// More logging (-v: debug, -vv: trace); `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let default_level = match args.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let config = BrokerConfig {
        max_packet_size: args.max_packet_size,
        max_connections: args.max_connections,
        ..BrokerConfig::default()
    };
    let addr = format!("{}:{}", args.bind, args.port);
    let mut builder = Server::builder().config(config).listen(addr);
    if !args.no_persistence {
        builder = builder.storage(args.data_dir);
    }
    let server = match builder.start().await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("myqttd: {e}");
            return ExitCode::FAILURE;
        }
    };
    server.wait_for_signal().await;
    ExitCode::SUCCESS
}
