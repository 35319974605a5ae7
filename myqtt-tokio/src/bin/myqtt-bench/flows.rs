//! The `fanin`, `fanout` and `latency` scenarios: a [`Flow`] each, and their result fields.

use serde_json::Value;
use tokio::time::Instant;

use crate::conn::Target;
use crate::load::{Flow, FlowRun, run_flow};
use crate::stats::{STAMP_LEN, put_percentiles, round3};
use crate::{Opts, Outcome};

/// `fanin`: `--publishers` x `--messages` to `<prefix>/<i>`, one subscriber on `<prefix>/#`.
pub(crate) async fn fanin(opts: &Opts, target: &Target, deadline: Instant) -> Outcome {
    let flow = Flow {
        topics: (0..opts.publishers)
            .map(|i| format!("{}/{i}", opts.prefix))
            .collect(),
        messages: opts.messages,
        rate: None,
        subscribers: 1,
        filter: format!("{}/#", opts.prefix),
        latency: false,
    };
    let run = run_flow(opts, target, deadline, flow).await;
    outcome(opts, run, |run, f| {
        f.push(("publishers", opts.publishers.into()));
        f.push(("messages", opts.messages.into()));
        f.push(("msgs_per_s", per_s(run.received, run.elapsed_s)));
        f.push(("publish_msgs_per_s", per_s(run.sent, run.publish_s)));
    })
}

/// `fanout`: one publisher of `--messages`, `--subscribers` on `<prefix>/fanout`.
pub(crate) async fn fanout(opts: &Opts, target: &Target, deadline: Instant) -> Outcome {
    let topic = format!("{}/fanout", opts.prefix);
    let flow = Flow {
        topics: vec![topic.clone()],
        messages: opts.messages,
        rate: None,
        subscribers: opts.subscribers,
        filter: topic,
        latency: false,
    };
    let run = run_flow(opts, target, deadline, flow).await;
    outcome(opts, run, |run, f| {
        f.push(("subscribers", opts.subscribers.into()));
        f.push(("messages", opts.messages.into()));
        f.push(("deliveries_per_s", per_s(run.received, run.elapsed_s)));
        f.push(("publish_msgs_per_s", per_s(run.sent, run.publish_s)));
    })
}

/// `latency`: one publisher at `--rate` for `--duration` seconds, one subscriber;
/// end-to-end latency percentiles in milliseconds.
pub(crate) async fn latency(opts: &Opts, target: &Target, deadline: Instant) -> Outcome {
    let topic = format!("{}/latency", opts.prefix);
    let rate = f64::from(opts.rate.max(1));
    let messages = (rate * opts.duration)
        .round()
        .clamp(1.0, f64::from(u32::MAX)) as u32;
    let flow = Flow {
        topics: vec![topic.clone()],
        messages,
        rate: Some(rate),
        subscribers: 1,
        filter: topic,
        latency: true,
    };
    let run = run_flow(opts, target, deadline, flow).await;
    outcome(opts, run, |run, f| {
        f.push(("rate", opts.rate.into()));
        f.push(("messages", messages.into()));
        f.push(("msgs_per_s", per_s(run.received, run.elapsed_s)));
        let keys = ["p50_ms", "p90_ms", "p99_ms", "max_ms"];
        put_percentiles(f, keys, &mut run.latencies);
    })
}

/// `count / seconds`, rounded, for the report.
fn per_s(count: u64, seconds: f64) -> Value {
    if seconds > 0.0 {
        round3(count as f64 / seconds).into()
    } else {
        Value::Null
    }
}

/// The outcome of a flow: the scenario's own fields (from `own`), then the common ones.
fn outcome(
    opts: &Opts,
    run: Result<FlowRun, String>,
    own: impl FnOnce(&mut FlowRun, &mut Vec<(&'static str, Value)>),
) -> Outcome {
    let now = || {
        let s = crate::stats::sample(opts.broker_pid);
        (s.clone(), s)
    };
    let mut run = match run {
        Ok(run) => run,
        Err(error) => {
            return Outcome {
                fields: Vec::new(),
                window: now(),
                timed_out: error.contains("timed out") || error.contains("timeout"),
                error: Some(error),
            };
        }
    };
    let mut f = vec![("size", opts.size.max(STAMP_LEN).into())];
    if opts.qos > 0 {
        f.push(("inflight", run.window.into()));
    }
    f.push(("persistent_subscriber", opts.persistent_subscriber.into()));
    own(&mut run, &mut f);
    f.extend([
        ("elapsed_s", round3(run.elapsed_s).into()),
        ("publish_s", round3(run.publish_s).into()),
        ("sent", run.sent.into()),
        ("expected", run.expected.into()),
        ("received", run.received.into()),
        ("lost", run.lost.into()),
        ("duplicates", run.duplicates.into()),
        ("unexpected", run.unexpected.into()),
    ]);
    Outcome {
        fields: f,
        window: run.usage.take().unwrap_or_else(now),
        error: run.error,
        timed_out: run.timed_out,
    }
}
