//! Crash safety of the `myqttd` process: SIGKILL at random points must not lose what the
//! broker acknowledged, nor deliver a QoS 2 message twice.
//!
//! Each run starts the real `myqttd` binary with a durable store (`--data-dir`, default strict
//! durability: PUBACK / PUBREC only once the message is on disk). A persistent subscriber
//! (`crash/#`, QoS 2) goes offline; a publisher sends `N` QoS 1 (`crash/q1`, payload
//! `q1-<seq>`) and `N` QoS 2 (`crash/q2`, `q2-<seq>`) messages, all at once, interleaved. A
//! seeded xorshift picks the kill point: after a random number of completed publishes (with
//! up to the Receive Maximum more in flight and the rest queued in the client), plus a few
//! random milliseconds. `myqttd` is killed with SIGKILL, restarted on the same port and data
//! directory, and the subscriber resumes its session.
//!
//! - Session state survives ([MQTT-4.1.0-1], [MQTT-3.1.2-5]): subscription and queued messages
//!   are there after the restart.
//! - Every message whose PUBACK ([MQTT-4.3.2-4]) or PUBCOMP ([MQTT-4.3.3-8],
//!   [MQTT-4.3.3-11]) the publisher received, "having accepted ownership", is delivered.
//! - No QoS 2 message is delivered twice ([MQTT-4.3.3-10], [MQTT-4.3.3-12]); QoS 1 duplicates
//!   are allowed ([MQTT-4.3.2-2]: DUP resends) and only counted.
//! - Runs alternate two publishers: one that dies with the broker (what it did not see
//!   acknowledged may be lost; those counts are printed for information), and one that keeps
//!   its session and reconnects by itself, resending what was in flight (PUBLISH with DUP, or
//!   PUBREL): then every message completes and all `2 N` must be delivered, QoS 2 once.
//! - Some runs kill the broker a second time while it delivers the queue to the resumed
//!   subscriber (which then reconnects by itself with its session in memory): what was in
//!   flight towards it is resent (PUBLISH with DUP, or PUBREL, [MQTT-4.4.0-1]) and no QoS 2
//!   message reaches the application twice.
//! - After each run the broker still works: the resumed session takes new messages, and a
//!   fresh subscriber gets a fresh publisher's QoS 0/1/2 messages.
//!
//! Sizes: `MYQTT_CRASH_MESSAGES` (messages per QoS level, default 10,000) and
//! `MYQTT_CRASH_SEEDS` (comma-separated) override the counts and seeds, to reproduce one run:
//! `MYQTT_CRASH_SEEDS=3 cargo test -p myqtt-tests --test crash_safety -- --nocapture`. A
//! failing run keeps its directory (data, logs) and prints the tail of the broker logs.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use myqtt_proto::codec::{Publish, QoS};
use myqtt_tests::myqttd::{Myqttd, free_port};
use myqtt_tokio::client::{Client, ClientError, ConnectOptions, Messages, ReconnectPolicy};
use tokio::task::JoinSet;

/// Messages per QoS level, as the issue asks (10,000 QoS 1 + 10,000 QoS 2 per run).
const MESSAGES: usize = 10_000;
/// Seeds of the CI test: 1, 3, 5 with a publisher that dies, 2, 4, 6 with one that resumes;
/// 2, 3, 6 kill the broker a second time while it delivers to the subscriber.
const SEEDS: [u64; 6] = [1, 2, 3, 4, 5, 6];
/// Seeds of the ignored soak test.
const SOAK_SEEDS: core::ops::RangeInclusive<u64> = 7..=36;

/// `MYQTT_CRASH_MESSAGES`, or [`MESSAGES`].
fn message_count() -> usize {
    match std::env::var("MYQTT_CRASH_MESSAGES") {
        Ok(v) => v.trim().parse().expect("MYQTT_CRASH_MESSAGES: a number"),
        Err(_) => MESSAGES,
    }
}

/// `MYQTT_CRASH_SEEDS`, or `default`.
fn seeds(default: impl IntoIterator<Item = u64>) -> Vec<u64> {
    match std::env::var("MYQTT_CRASH_SEEDS") {
        Ok(v) => v
            .split(',')
            .map(|s| s.trim().parse().expect("MYQTT_CRASH_SEEDS: numbers"))
            .collect(),
        Err(_) => default.into_iter().collect(),
    }
}

/// xorshift64: enough randomness for choosing kill points, reproducible from the seed.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Spread small seeds over the bits; the state must not be 0.
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform enough in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What a seed decides for one run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    seed: u64,
    /// Messages per QoS level.
    n: usize,
    /// Kill once this many publishes completed (PUBACK / PUBCOMP) ...
    kill_after: usize,
    /// ... and this many milliseconds later.
    extra_delay_ms: u64,
    /// The publisher keeps its session and reconnects to the restarted broker.
    publisher_resumes: bool,
    /// Kill the broker a second time while it delivers to the resumed subscriber, after
    /// this fraction (per mille) of the acknowledged messages arrived.
    second_kill_per_mille: Option<u64>,
}

impl Plan {
    fn new(seed: u64, n: usize) -> Plan {
        let mut rng = XorShift::new(seed);
        // Between one message and 90 % of them: there is always more in flight.
        let total = 2 * n as u64;
        let kill_after = 1 + rng.below(total * 9 / 10) as usize;
        Plan {
            seed,
            n,
            kill_after,
            extra_delay_ms: rng.below(4),
            publisher_resumes: seed.is_multiple_of(2),
            second_kill_per_mille: ((seed / 2) % 2 == 1).then(|| 1 + rng.below(900)),
        }
    }
}

/// A run's directory: broker data, configuration and logs. Removed after a successful run
/// ([`RunDir::passed`]); kept, with the logs' tails printed, when the run panics or times out.
struct RunDir {
    path: PathBuf,
    passed: bool,
}

impl RunDir {
    fn new(seed: u64) -> RunDir {
        let path = std::env::temp_dir().join(format!(
            "myqtt-crash-{}-{seed}-{}",
            std::process::id(),
            free_port()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        RunDir {
            path,
            passed: false,
        }
    }

    fn log(&self, start: usize) -> PathBuf {
        self.path.join(format!("myqttd-{start}.log"))
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if self.passed {
            let _ = std::fs::remove_dir_all(&self.path);
            return;
        }
        eprintln!("run directory kept: {}", self.path.display());
        for start in 1..=3 {
            let Ok(text) = std::fs::read_to_string(self.log(start)) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("--- {} (last lines) ---", self.log(start).display());
            for line in &lines[lines.len().saturating_sub(30)..] {
                eprintln!("{line}");
            }
        }
    }
}

/// Starts (or restarts) `myqttd` on `port` with the run's data directory and a session queue
/// large enough for every message ([MQTT-4.1.0-1]: nothing is dropped for being many).
fn start_broker(dir: &RunDir, port: u16, n: usize, start: usize) -> Myqttd {
    let config = dir.path.join("myqttd.toml");
    std::fs::write(
        &config,
        format!("[limits]\nmax_queued_messages = {}\n", 2 * n + 100),
    )
    .unwrap();
    let data = dir.path.join("data");
    Myqttd::start(
        port,
        &[
            "-c",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &dir.log(start),
    )
}

fn addr(port: u16) -> std::net::SocketAddr {
    ([127, 0, 0, 1], port).into()
}

/// The persistent subscriber: clean start off, a session that outlives the connection
/// ([MQTT-3.1.2-5]).
fn subscriber_options(n: usize) -> ConnectOptions {
    ConnectOptions::new("crash-sub")
        .clean_start(false)
        .session_expiry_interval(3600)
        .reconnect(ReconnectPolicy::disabled())
        .message_capacity(4 * n + 16)
}

/// The publisher; with `resumes`, a persistent session and reconnection (to the same port).
fn publisher_options(n: usize, resumes: bool) -> ConnectOptions {
    let options = ConnectOptions::new("crash-pub")
        // Every publish is issued at once; the client queues what the window does not take.
        .max_queued(2 * n + 100)
        .operation_timeout(Duration::from_secs(600));
    if resumes {
        options
            .clean_start(false)
            .session_expiry_interval(3600)
            .reconnect(ReconnectPolicy::backoff(
                Duration::from_millis(20),
                Duration::from_millis(200),
            ))
    } else {
        options.reconnect(ReconnectPolicy::disabled())
    }
}

/// Connects the subscriber, subscribes to `crash/#` with QoS 2 and goes offline with a
/// normal DISCONNECT: from now on the broker queues for it.
async fn offline_subscriber(port: u16, n: usize) {
    let sub = Client::connect(addr(port), subscriber_options(n))
        .await
        .unwrap();
    assert_eq!(
        sub.subscribe("crash/#", QoS::ExactlyOnce).await.unwrap(),
        QoS::ExactlyOnce
    );
    sub.close().await.unwrap();
}

/// Sequence numbers whose publish completed (PUBACK / PUBCOMP), per QoS.
#[derive(Debug, Default)]
struct Acked {
    qos1: Vec<usize>,
    qos2: Vec<usize>,
}

impl Acked {
    fn len(&self) -> usize {
        self.qos1.len() + self.qos2.len()
    }
}

/// Starts `n` QoS 1 and `n` QoS 2 publishes, interleaved, each recording its sequence number
/// once PUBACK / PUBCOMP arrived.
fn publish_all(
    publisher: &Client,
    n: usize,
    acked: &Arc<Mutex<Acked>>,
) -> JoinSet<Result<(), ClientError>> {
    let mut tasks = JoinSet::new();
    for seq in 0..n {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let (publisher, acked) = (publisher.clone(), acked.clone());
            tasks.spawn(async move {
                let (topic, payload) = match qos {
                    QoS::AtLeastOnce => ("crash/q1", format!("q1-{seq}")),
                    _ => ("crash/q2", format!("q2-{seq}")),
                };
                publisher.publish(topic, payload, qos, false).await?;
                let mut acked = acked.lock().unwrap();
                match qos {
                    QoS::AtLeastOnce => acked.qos1.push(seq),
                    _ => acked.qos2.push(seq),
                }
                Ok(())
            });
        }
    }
    tasks
}

/// Waits until at least `count` publishes completed.
async fn wait_acked(acked: &Mutex<Acked>, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while acked.lock().unwrap().len() < count {
        assert!(Instant::now() < deadline, "publishes do not complete");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// What the resumed subscriber received: sequence numbers per QoS, in arrival order.
#[derive(Debug, Default)]
struct Received {
    qos1: Vec<usize>,
    qos2: Vec<usize>,
}

impl Received {
    /// Files one message under its QoS, checking topic, payload and QoS.
    fn add(&mut self, m: &Publish, n: usize) {
        let payload = std::str::from_utf8(&m.payload).unwrap();
        let (prefix, seq) = payload.split_once('-').unwrap();
        let seq: usize = seq.parse().unwrap();
        assert!(seq < n, "{payload}");
        match (m.topic.as_str(), prefix) {
            ("crash/q1", "q1") => {
                assert_eq!(m.qos, QoS::AtLeastOnce, "{payload}");
                self.qos1.push(seq);
            }
            ("crash/q2", "q2") => {
                assert_eq!(m.qos, QoS::ExactlyOnce, "{payload}");
                self.qos2.push(seq);
            }
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// Resumes the subscriber's session and collects until 1 s passes without a message. With
/// `second_kill`, the broker is killed again once that many messages arrived and restarted
/// (by `restart`) while the subscriber, keeping its session in memory, reconnects by itself:
/// what the broker had in flight towards it is resent (PUBLISH with DUP, or PUBREL) and must
/// not reach the application twice ([MQTT-4.3.3-10], [MQTT-4.4.0-1]).
async fn resume_and_collect(
    port: u16,
    n: usize,
    second_kill: Option<(usize, &mut Myqttd)>,
    restart: impl FnOnce() -> Myqttd,
) -> (Received, Option<Myqttd>) {
    let options = if second_kill.is_some() {
        subscriber_options(n).reconnect(ReconnectPolicy::backoff(
            Duration::from_millis(20),
            Duration::from_millis(200),
        ))
    } else {
        subscriber_options(n)
    };
    let sub = Client::connect(addr(port), options).await.unwrap();
    let mut messages: Messages = sub.messages();
    // (received, when the last one arrived)
    let shared = Arc::new(Mutex::new((Received::default(), Instant::now())));
    let reader = {
        let shared = shared.clone();
        tokio::spawn(async move {
            while let Some(m) = messages.recv().await {
                let mut shared = shared.lock().unwrap();
                shared.0.add(&m, n);
                shared.1 = Instant::now();
            }
        })
    };
    let delivered = |shared: &Mutex<(Received, Instant)>| {
        let shared = shared.lock().unwrap();
        shared.0.qos1.len() + shared.0.qos2.len()
    };
    let mut restarted = None;
    if let Some((count, broker)) = second_kill {
        let deadline = Instant::now() + Duration::from_secs(300);
        while delivered(&shared) < count {
            assert!(Instant::now() < deadline, "deliveries do not come");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        broker.kill9();
        restarted = Some(restart());
    }
    let quiet_since = Instant::now();
    let deadline = quiet_since + Duration::from_secs(300);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let last = shared.lock().unwrap().1.max(quiet_since);
        if last.elapsed() >= Duration::from_secs(1) {
            break;
        }
        assert!(Instant::now() < deadline, "messages keep coming");
    }
    sub.close().await.unwrap();
    // Quiet for 1 s: the reader has read everything there was.
    reader.abort();
    let received = std::mem::take(&mut shared.lock().unwrap().0);
    (received, restarted)
}

/// How often each sequence number arrived.
fn counts(list: &[usize]) -> BTreeMap<usize, usize> {
    let mut counts = BTreeMap::new();
    for &seq in list {
        *counts.entry(seq).or_insert(0) += 1;
    }
    counts
}

/// The run's verdict: every acknowledged message delivered, no QoS 2 message twice. Returns
/// the line printed for information.
fn check(plan: &Plan, received: &Received, acked: &Acked) -> String {
    let (got1, got2) = (counts(&received.qos1), counts(&received.qos2));
    let lost = |must: &[usize], got: &BTreeMap<usize, usize>| {
        let mut lost: Vec<usize> = must
            .iter()
            .copied()
            .filter(|s| !got.contains_key(s))
            .collect();
        lost.sort_unstable();
        lost
    };
    let (lost1, lost2) = (lost(&acked.qos1, &got1), lost(&acked.qos2, &got2));
    assert!(
        lost1.is_empty() && lost2.is_empty(),
        "{plan:?}: acknowledged messages lost in the crash: QoS 1 {} {:?}, QoS 2 {} {:?} \
         (of {} + {} acknowledged; received {} + {})",
        lost1.len(),
        &lost1[..lost1.len().min(20)],
        lost2.len(),
        &lost2[..lost2.len().min(20)],
        acked.qos1.len(),
        acked.qos2.len(),
        received.qos1.len(),
        received.qos2.len()
    );
    let twice: Vec<(&usize, &usize)> = got2.iter().filter(|(_, times)| **times > 1).collect();
    assert!(
        twice.is_empty(),
        "{plan:?}: QoS 2 messages delivered more than once (seq, times): {:?} ({} in all)",
        &twice[..twice.len().min(20)],
        twice.len()
    );
    let mut line = String::new();
    write!(
        line,
        "seed {} ({} publisher, kill after {} + {} ms): acknowledged {} + {}, delivered \
         {} + {} distinct, QoS 1 duplicates {}, not acknowledged and lost {} + {}",
        plan.seed,
        if plan.publisher_resumes {
            "resuming"
        } else {
            "dying"
        },
        plan.kill_after,
        plan.extra_delay_ms,
        acked.qos1.len(),
        acked.qos2.len(),
        got1.len(),
        got2.len(),
        received.qos1.len() - got1.len(),
        plan.n - got1.len(),
        plan.n - got2.len(),
    )
    .unwrap();
    line
}

/// After the restart the broker is whole: the persistent session takes a new message (and
/// only that one: what was delivered and acknowledged is not resent), and a fresh subscriber
/// gets a fresh publisher's QoS 0, 1 and 2 messages.
async fn check_still_works(port: u16, n: usize) {
    let publisher = Client::connect(
        addr(port),
        ConnectOptions::new("crash-after-pub").reconnect(ReconnectPolicy::disabled()),
    )
    .await
    .unwrap();
    publisher
        .publish("crash/after", "after", QoS::ExactlyOnce, false)
        .await
        .unwrap();
    let sub = Client::connect(addr(port), subscriber_options(n))
        .await
        .unwrap();
    let mut messages = sub.messages();
    let m = tokio::time::timeout(Duration::from_secs(5), messages.recv())
        .await
        .expect("the resumed session gets the new message")
        .unwrap();
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("crash/after", &b"after"[..])
    );
    let extra = tokio::time::timeout(Duration::from_millis(500), messages.recv()).await;
    assert!(
        extra.is_err(),
        "delivered again after it was acknowledged: {extra:?}"
    );
    sub.close().await.unwrap();

    let fresh = Client::connect(
        addr(port),
        ConnectOptions::new("crash-fresh-sub").reconnect(ReconnectPolicy::disabled()),
    )
    .await
    .unwrap();
    assert_eq!(
        fresh.subscribe("fresh/#", QoS::ExactlyOnce).await.unwrap(),
        QoS::ExactlyOnce
    );
    let mut messages = fresh.messages();
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let payload = format!("fresh-{qos:?}");
        publisher
            .publish("fresh/x", payload.clone(), qos, false)
            .await
            .unwrap();
        let m = tokio::time::timeout(Duration::from_secs(5), messages.recv())
            .await
            .expect("a fresh round trip after the restart")
            .unwrap();
        assert_eq!(
            (m.topic.as_str(), &m.payload[..], m.qos),
            ("fresh/x", payload.as_bytes(), qos)
        );
    }
    fresh.close().await.unwrap();
    publisher.close().await.unwrap();
}

/// One run: publish, kill at the plan's point, restart, check.
async fn run(plan: Plan) -> String {
    let started = Instant::now();
    let mut dir = RunDir::new(plan.seed);
    let port = free_port();
    let mut broker = start_broker(&dir, port, plan.n, 1);
    offline_subscriber(port, plan.n).await;

    let publisher = Client::connect(
        addr(port),
        publisher_options(plan.n, plan.publisher_resumes),
    )
    .await
    .unwrap();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut tasks = publish_all(&publisher, plan.n, &acked);
    wait_acked(&acked, plan.kill_after).await;
    tokio::time::sleep(Duration::from_millis(plan.extra_delay_ms)).await;
    broker.kill9();
    let at_kill = acked.lock().unwrap().len();

    let (acked, mut broker) = if plan.publisher_resumes {
        // Same port: the publisher reconnects there by itself, resumes its session and
        // completes everything.
        let broker = start_broker(&dir, port, plan.n, 2);
        while let Some(result) = tasks.join_next().await {
            result
                .unwrap()
                .unwrap_or_else(|e| panic!("{plan:?}: a publish failed: {e}"));
        }
        let acked = std::mem::take(&mut *acked.lock().unwrap());
        assert_eq!((acked.qos1.len(), acked.qos2.len()), (plan.n, plan.n));
        publisher.close().await.unwrap();
        (acked, broker)
    } else {
        // Acknowledgments read before the kill may still be recorded; then nothing more can
        // complete.
        tokio::time::sleep(Duration::from_millis(100)).await;
        publisher.shutdown();
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let acked = std::mem::take(&mut *acked.lock().unwrap());
        assert!(acked.len() >= plan.kill_after && acked.len() <= 2 * plan.n);
        (acked, start_broker(&dir, port, plan.n, 2))
    };

    let second_kill = plan
        .second_kill_per_mille
        .map(|per_mille| (acked.len() * per_mille as usize / 1000).max(1));
    let (received, restarted) = resume_and_collect(
        port,
        plan.n,
        second_kill.map(|count| (count, &mut broker)),
        || start_broker(&dir, port, plan.n, 3),
    )
    .await;
    let _broker = restarted.unwrap_or(broker);
    let mut line = check(&plan, &received, &acked);
    if let Some(count) = second_kill {
        write!(line, "; killed again after {count} deliveries").unwrap();
    }
    check_still_works(port, plan.n).await;
    dir.passed = true;
    format!(
        "{line}; {at_kill} completed at the kill; {:.1} s",
        started.elapsed().as_secs_f64()
    )
}

/// Runs every seed one after the other, printing one line per run.
fn run_all(seeds: Vec<u64>) {
    let n = message_count();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for seed in seeds {
        let plan = Plan::new(seed, n);
        let line = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(600), run(plan))
                .await
                .unwrap_or_else(|_| panic!("{plan:?}: the run took more than 600 s"))
        });
        eprintln!("{line}");
    }
}

/// 10,000 QoS 1 + 10,000 QoS 2 messages per run, six seeds ([`SEEDS`]).
#[test]
fn acknowledged_messages_survive_kill_9_at_random_points() {
    run_all(seeds(SEEDS));
}

/// Thirty more kill points ([`SOAK_SEEDS`]), for hunting rare orderings:
/// `cargo test -p myqtt-tests --test crash_safety -- --ignored --nocapture`
#[test]
#[ignore = "soak: 30 more seeds, about 2.5 minutes"]
fn soak_acknowledged_messages_survive_kill_9_at_more_points() {
    run_all(seeds(SOAK_SEEDS));
}

#[test]
fn xorshift_is_reproducible_and_plans_differ() {
    let plans: Vec<(usize, u64)> = SEEDS
        .iter()
        .map(|&s| {
            let p = Plan::new(s, 1000);
            (p.kill_after, p.extra_delay_ms)
        })
        .collect();
    let again = Plan::new(SEEDS[0], 1000);
    assert_eq!(
        (again.kill_after, again.extra_delay_ms),
        plans[0],
        "a seed always gives the same plan"
    );
    for (i, p) in plans.iter().enumerate() {
        assert!(p.0 >= 1 && p.0 <= 1800, "{p:?}");
        assert!(!plans[..i].iter().any(|q| q.0 == p.0), "{plans:?}");
    }
}
