//! `myqtt-bench`: a load tool for any MQTT broker (3.1.1 or 5.0, TCP or TLS), in the spirit of
//! emqtt-bench.
//!
//! Each scenario is bounded by counts and by a hard `--timeout`, prints human-readable progress
//! on stderr and exactly one JSON line of results on stdout:
//!
//! - `fanin`: P publishers x M messages to `bench/<i>`, one subscriber on `bench/#`.
//! - `fanout`: one publisher, N subscribers on one topic.
//! - `latency`: one publisher at a fixed rate, end-to-end latency percentiles.
//! - `conns`: K idle connections opened at a target rate.
//!
//! The tool does not use the myqtt client: every connection is a raw socket driven by the
//! sans-IO codec of `myqtt-proto`, with many PUBLISH packets encoded into one buffer per write
//! (QoS 1/2 within an inflight window), so that it stays much faster than the broker it
//! measures. Its own CPU use is reported next to the broker's (`--broker-pid`) so a reader can
//! tell who was the bottleneck.

mod conn;
mod conns;
mod flows;
mod load;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use myqtt_proto::codec::QoS;
use serde_json::Value;
use tokio::time::Instant;

use conn::Target;
use stats::{Report, Usage};

/// MQTT load generator: drives a broker with one scenario and prints one JSON line.
#[derive(Debug, Parser)]
#[command(name = "myqtt-bench", disable_version_flag = true)]
struct Cli {
    /// The scenario to run.
    #[arg(value_enum)]
    scenario: Scenario,
    #[command(flatten)]
    opts: Opts,
}

/// The load scenarios.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scenario {
    /// P publishers x M messages to `<prefix>/<i>`, one subscriber on `<prefix>/#`.
    Fanin,
    /// One publisher of M messages, N subscribers on `<prefix>/fanout`.
    Fanout,
    /// One publisher at `--rate` msg/s for `--duration` s; latency percentiles.
    Latency,
    /// K idle connections opened at `--conn-rate` per second.
    Conns,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Fanin => "fanin",
            Scenario::Fanout => "fanout",
            Scenario::Latency => "latency",
            Scenario::Conns => "conns",
        }
    }
}

/// Options shared by all scenarios (each uses the ones that apply to it).
#[derive(Debug, Clone, Parser)]
pub(crate) struct Opts {
    /// Broker host name or address.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Broker port.
    #[arg(long, default_value_t = 1883)]
    pub(crate) port: u16,
    /// MQTT protocol level: 4 (3.1.1) or 5 (5.0).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(4..=5))]
    pub(crate) version: u8,
    /// QoS of publications and subscriptions.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub(crate) qos: u8,
    /// fanin: number of publishers.
    #[arg(long, default_value_t = 4)]
    pub(crate) publishers: u32,
    /// fanin: messages per publisher; fanout: messages published.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) messages: u32,
    /// fanin, fanout, latency: subscribers keep a persistent session (3.1.1 Clean Session 0,
    /// 5.0 Clean Start 0 with a Session Expiry Interval), so a persistent broker stores their
    /// QoS 1/2 deliveries. Client ids are unique per run; a 3.1.1 session stays on the broker
    /// after the run.
    #[arg(long)]
    pub(crate) persistent_subscriber: bool,
    /// Payload size in bytes (at least 16: publisher, sequence number, send time).
    #[arg(long, default_value_t = 64)]
    pub(crate) size: usize,
    /// fanout: number of subscribers.
    #[arg(long, default_value_t = 10)]
    pub(crate) subscribers: u32,
    /// latency: publish rate in messages per second.
    #[arg(long, default_value_t = 1000)]
    pub(crate) rate: u32,
    /// latency: seconds of publishing.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) duration: f64,
    /// conns: number of connections.
    #[arg(long, default_value_t = 1000)]
    pub(crate) connections: u32,
    /// conns: connection attempts started per second.
    #[arg(long, default_value_t = 1000)]
    pub(crate) conn_rate: u32,
    /// QoS 1/2: unacknowledged PUBLISH packets per publisher (capped by the broker's Receive
    /// Maximum in 5.0).
    #[arg(long, default_value_t = 256)]
    pub(crate) inflight: u16,
    /// Keep Alive announced in CONNECT, in seconds (MQTT 3.1.1 §3.1.2.10). The tool sends no
    /// PINGREQ, so keep runs shorter than 1.5 times this; 0 turns keep-alive off, which some
    /// brokers refuse (rumqttd closes such connections).
    #[arg(long, default_value_t = 60)]
    pub(crate) keep_alive: u16,
    /// Hard bound on the whole run, in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub(crate) timeout: f64,
    /// Seconds without a delivery, after the publishers finished, before the missing
    /// messages count as lost.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) drain: f64,
    /// Topic prefix.
    #[arg(long, default_value = "bench")]
    pub(crate) prefix: String,
    /// Tokio worker threads of the tool (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    pub(crate) threads: usize,
    /// Connect with TLS.
    #[arg(long)]
    pub(crate) tls: bool,
    /// TLS: PEM file of the CA that signed the broker's certificate (default: webpki roots).
    #[arg(long, value_name = "PEM")]
    pub(crate) cafile: Option<PathBuf>,
    /// TLS: accept any server certificate (testing only).
    #[arg(long)]
    pub(crate) insecure: bool,
    /// TLS: server name to verify (default: --host).
    #[arg(long)]
    pub(crate) server_name: Option<String>,
    /// Also report this process's CPU use and resident memory (the broker's).
    #[arg(long, value_name = "PID")]
    pub(crate) broker_pid: Option<u32>,
}

impl Opts {
    /// The QoS level asked for.
    pub(crate) fn qos(&self) -> QoS {
        QoS::from_u8(self.qos).unwrap_or(QoS::AtMostOnce)
    }
}

/// What a scenario measured: its own result fields, the measured window and any error.
pub(crate) struct Outcome {
    /// Scenario-specific fields, in output order.
    pub(crate) fields: Vec<(&'static str, Value)>,
    /// Resource usage at the start and end of the measured window.
    pub(crate) window: (Usage, Usage),
    /// The first error met, if any (the counts are still reported).
    pub(crate) error: Option<String>,
    /// Whether the hard timeout cut the run short.
    pub(crate) timed_out: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let opts = cli.opts;
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(cli.scenario, &format!("tokio runtime: {e}")),
    };
    let before = stats::sample(opts.broker_pid);
    let outcome = runtime.block_on(async {
        let target = Target::new(&opts)?;
        let limit = Duration::from_secs_f64(opts.timeout.max(0.1));
        let deadline = Instant::now() + limit;
        let run = async {
            match cli.scenario {
                Scenario::Fanin => flows::fanin(&opts, &target, deadline).await,
                Scenario::Fanout => flows::fanout(&opts, &target, deadline).await,
                Scenario::Latency => flows::latency(&opts, &target, deadline).await,
                Scenario::Conns => conns::run(&opts, &target, deadline).await,
            }
        };
        // Every socket operation is bounded by `deadline`; this is a last resort.
        tokio::time::timeout(limit + Duration::from_secs(5), run)
            .await
            .map_err(|_| format!("hard timeout of {} s exceeded", opts.timeout))
    });
    runtime.shutdown_timeout(Duration::from_millis(100));
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return fail(cli.scenario, &e),
    };
    let mut report = Report::new();
    report.put("scenario", cli.scenario.name());
    report.put("host", opts.host.as_str());
    report.put("port", opts.port);
    report.put("version", opts.version);
    report.put("tls", opts.tls);
    report.put("qos", opts.qos);
    report.put("tool_threads", threads);
    for (k, v) in outcome.fields {
        report.put(k, v);
    }
    report.usage(&outcome.window.0, &outcome.window.1, &before);
    report.put("timed_out", outcome.timed_out);
    let ok = outcome.error.is_none() && !outcome.timed_out;
    if let Some(e) = outcome.error {
        report.put("error", e);
    }
    println!("{report}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Reports a run that could not even start (or never ended) as one JSON line.
fn fail(scenario: Scenario, error: &str) -> ExitCode {
    eprintln!("myqtt-bench: {error}");
    let mut report = Report::new();
    report.put("scenario", scenario.name());
    report.put("error", error);
    println!("{report}");
    ExitCode::from(2)
}
