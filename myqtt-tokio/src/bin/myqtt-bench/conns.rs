//! The `conns` scenario: `--connections` idle connections opened at `--conn-rate` per second,
//! all held open until the last attempt ended (so `broker_rss_kib_after` counts them all).

use std::io;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior, interval};

use crate::conn::Target;
use crate::stats::{Sampler, put_percentiles, round3};
use crate::{Opts, Outcome};

/// Receive buffer growth step of an idle connection (it only ever reads CONNACK).
const IDLE_READ_CHUNK: usize = 256;

/// Opens the connections, each with CONNECT/CONNACK, and reports successes, the connect rate
/// and CONNACK latency percentiles.
pub(crate) async fn run(opts: &Opts, target: &Target, deadline: Instant) -> Outcome {
    let total = opts.connections;
    let rate = f64::from(opts.conn_rate.max(1));
    let tag = std::process::id();
    let sampler = Sampler::start(opts.broker_pid);
    let start = Instant::now();
    let mut attempts = JoinSet::new();
    let mut started = 0u32;
    let mut tick = interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    while started < total && Instant::now() < deadline {
        tick.tick().await;
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total.into()) as u32;
        for i in started..due {
            let target = target.clone();
            attempts.spawn(async move {
                let t = Instant::now();
                let id = format!("bench-{tag}-conn-{i}");
                let conn = target.connect(&id, deadline, IDLE_READ_CHUNK).await;
                (conn, t.elapsed(), Instant::now())
            });
        }
        if due / 1000 > started / 1000 {
            eprintln!("myqtt-bench: {due} connection attempts started");
        }
        started = due;
    }
    let mut open = Vec::with_capacity(total as usize);
    let mut connack_ns = Vec::with_capacity(total as usize);
    let (mut failed, mut error, mut timed_out) = (0u64, None, false);
    let mut last = start;
    while let Some(joined) = attempts.join_next().await {
        match joined
            .map_err(io::Error::other)
            .and_then(|(c, t, at)| Ok((c?, t, at)))
        {
            Ok((conn, took, at)) => {
                open.push(conn);
                connack_ns.push(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
                last = last.max(at);
            }
            Err(e) => {
                failed += 1;
                timed_out |= e.kind() == io::ErrorKind::TimedOut;
                error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let elapsed = last.duration_since(start).as_secs_f64();
    eprintln!(
        "myqtt-bench: {} connections open, {failed} failed",
        open.len()
    );
    // The end sample is taken now, with every connection still open.
    let window = sampler.window(start, Instant::now());
    let succeeded = open.len() as u64;
    let mut fields = vec![
        ("connections", total.into()),
        ("conn_rate", opts.conn_rate.into()),
        ("succeeded", succeeded.into()),
        ("failed", (failed + u64::from(total - started)).into()),
        ("elapsed_s", round3(elapsed).into()),
        (
            "connects_per_s",
            if elapsed > 0.0 {
                round3(succeeded as f64 / elapsed).into()
            } else {
                serde_json::Value::Null
            },
        ),
    ];
    let keys = [
        "connack_p50_ms",
        "connack_p90_ms",
        "connack_p99_ms",
        "connack_max_ms",
    ];
    put_percentiles(&mut fields, keys, &mut connack_ns);
    drop(open);
    Outcome {
        fields,
        window,
        error,
        timed_out: timed_out || started < total,
    }
}
