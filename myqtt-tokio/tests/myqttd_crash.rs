//! `kill -9` of the `myqttd` process: what the broker acknowledged must survive the crash.
//!
//! The broker runs as a child process with a durable store (`--data-dir`, default strict
//! durability: PUBACK/PUBREC wait until the store has the message on disk). A persistent
//! subscriber goes offline, a publisher sends QoS 1 and QoS 2 messages, and the broker is
//! killed with SIGKILL while more are in flight; it is restarted on the same data directory
//! and port, and the subscriber resumes its session.
//!
//! - Session state survives the crash ([MQTT-4.1.0-1], [MQTT-3.1.2-5]): the subscription and
//!   the queued messages are there after the restart.
//! - Every message the publisher saw acknowledged (PUBACK [MQTT-4.3.2-4], PUBCOMP after
//!   PUBREC [MQTT-4.3.3-8], [MQTT-4.3.3-11]: the broker "accepted ownership") is delivered.
//! - No QoS 2 message is delivered twice, also when the publisher resumes its own session
//!   after the restart and resends PUBLISH (DUP) or PUBREL for what was in flight
//!   ([MQTT-4.3.3-10], [MQTT-4.3.3-12]).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use myqtt_proto::codec::{Publish, QoS};
use myqtt_tokio::client::{Client, ClientError, ConnectOptions, Messages, ReconnectPolicy};
use tokio::task::JoinSet;

mod myqttd_common;
use myqttd_common::{MYQTTD, free_port};

/// Messages per QoS level.
const N: usize = 200;

/// One `myqttd` process; killed (SIGKILL) when dropped. Its output goes to a log file that is
/// printed if the test fails.
struct Myqttd {
    child: Child,
    log: PathBuf,
}

impl Myqttd {
    /// Starts `myqttd --port <port> --data-dir <dir>/data` and waits until it accepts TCP
    /// connections. `None` if it exited instead (the port was taken).
    fn start(dir: &Path, port: u16, run: usize) -> Option<Myqttd> {
        let log = dir.join(format!("myqttd-{run}.log"));
        let out = File::create(&log).unwrap();
        let child = Command::new(MYQTTD)
            .arg("--port")
            .arg(port.to_string())
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("RUST_LOG", "info")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let mut broker = Myqttd { child, log };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if broker.child.try_wait().unwrap().is_some() {
                broker.dump();
                return None;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Some(broker);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("myqttd did not listen on {addr} within 5 s");
    }

    /// `kill -9`: no shutdown code runs, nothing is flushed.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn dump(&self) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        eprintln!("--- {} (last lines) ---", self.log.display());
        for line in tail.iter().rev() {
            eprintln!("{line}");
        }
    }
}

impl Drop for Myqttd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            self.dump();
        }
    }
}

fn addr(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

/// The persistent subscriber: clean start off, a session that outlives the connection.
fn subscriber_options() -> ConnectOptions {
    ConnectOptions::new("crash-sub")
        .clean_start(false)
        .session_expiry_interval(3600)
        .reconnect(ReconnectPolicy::disabled())
        .message_capacity(4 * N)
}

/// Connects the subscriber, subscribes to `crash/#` with QoS 2 and goes offline with a
/// normal DISCONNECT: from now on the broker queues for it.
async fn offline_subscriber(port: u16) {
    let sub = Client::connect(addr(port), subscriber_options())
        .await
        .unwrap();
    assert_eq!(
        sub.subscribe("crash/#", QoS::ExactlyOnce).await.unwrap(),
        QoS::ExactlyOnce
    );
    sub.close().await.unwrap();
}

/// What the publisher saw completed: sequence numbers per QoS.
#[derive(Default)]
struct Acked {
    qos1: Vec<usize>,
    qos2: Vec<usize>,
}

impl Acked {
    fn len(&self) -> usize {
        self.qos1.len() + self.qos2.len()
    }
}

/// A client with a persistent session that reconnects by itself (to the same port).
fn resuming_options(client_id: &str) -> ConnectOptions {
    ConnectOptions::new(client_id)
        .clean_start(false)
        .session_expiry_interval(3600)
        .operation_timeout(Duration::from_secs(20))
        .reconnect(ReconnectPolicy::backoff(
            Duration::from_millis(20),
            Duration::from_millis(200),
        ))
}

/// Starts `N` QoS 1 (`crash/q1`, payload `q1-<i>`) and `N` QoS 2 (`crash/q2`, `q2-<i>`)
/// publishes, interleaved, each recording its sequence number once PUBACK / PUBCOMP arrived.
fn publish_all(publisher: &Client, acked: &Arc<Mutex<Acked>>) -> JoinSet<Result<(), ClientError>> {
    let mut tasks = JoinSet::new();
    for i in 0..N {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let (publisher, acked) = (publisher.clone(), acked.clone());
            tasks.spawn(async move {
                let (topic, payload) = match qos {
                    QoS::AtLeastOnce => ("crash/q1", format!("q1-{i}")),
                    _ => ("crash/q2", format!("q2-{i}")),
                };
                publisher.publish(topic, payload, qos, false).await?;
                let mut acked = acked.lock().unwrap();
                match qos {
                    QoS::AtLeastOnce => acked.qos1.push(i),
                    _ => acked.qos2.push(i),
                }
                Ok(())
            });
        }
    }
    tasks
}

/// Waits until at least `count` publishes completed, so that the kill comes after
/// acknowledged messages and while others are in flight.
async fn wait_acked(acked: &Arc<Mutex<Acked>>, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
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
    fn add(&mut self, m: &Publish) {
        let payload = std::str::from_utf8(&m.payload).unwrap();
        let (prefix, seq) = payload.split_once('-').unwrap();
        let seq: usize = seq.parse().unwrap();
        assert!(seq < N, "{payload}");
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

/// Reads `messages` into `received` until 1 s passes without a message.
async fn collect_until_quiet(messages: &mut Messages, received: &Mutex<Received>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(1), messages.recv()).await {
        assert!(Instant::now() < deadline, "messages keep coming");
        received.lock().unwrap().add(&m);
    }
}

/// Reconnects the subscriber with its session and collects until 1 s passes without a
/// message.
async fn resume_and_collect(port: u16) -> Received {
    let sub = Client::connect(addr(port), subscriber_options())
        .await
        .unwrap();
    let mut messages: Messages = sub.messages();
    let received = Mutex::new(Received::default());
    collect_until_quiet(&mut messages, &received).await;
    sub.close().await.unwrap();
    received.into_inner().unwrap()
}

/// The checks common to the scenarios; `must_have` lists what the publisher saw completed.
fn check(received: &Received, must_have: &Acked) {
    let count = |list: &[usize]| {
        let mut counts = BTreeMap::new();
        for &seq in list {
            *counts.entry(seq).or_insert(0usize) += 1;
        }
        counts
    };
    let (got1, got2) = (count(&received.qos1), count(&received.qos2));
    let mut lost1: Vec<usize> = must_have
        .qos1
        .iter()
        .copied()
        .filter(|s| !got1.contains_key(s))
        .collect();
    let mut lost2: Vec<usize> = must_have
        .qos2
        .iter()
        .copied()
        .filter(|s| !got2.contains_key(s))
        .collect();
    lost1.sort_unstable();
    lost2.sort_unstable();
    assert!(
        lost1.is_empty() && lost2.is_empty(),
        "acknowledged messages lost in the crash: QoS 1 {lost1:?}, QoS 2 {lost2:?} \
         (of {} + {} acknowledged; received {} + {})",
        must_have.qos1.len(),
        must_have.qos2.len(),
        received.qos1.len(),
        received.qos2.len()
    );
    eprintln!(
        "acknowledged {} + {}, received {} + {} ({} + {} distinct)",
        must_have.qos1.len(),
        must_have.qos2.len(),
        received.qos1.len(),
        received.qos2.len(),
        got1.len(),
        got2.len()
    );
    let twice: Vec<(&usize, &usize)> = got2.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "QoS 2 messages delivered more than once (seq, times): {twice:?}"
    );
}

/// The publisher does not come back: whatever it saw acknowledged before the kill must be
/// delivered after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9() {
    tokio::time::timeout(Duration::from_secs(40), async {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut broker = Myqttd::start(dir.path(), port, 1).unwrap();
        offline_subscriber(port).await;

        let publisher = Client::connect(
            addr(port),
            ConnectOptions::new("crash-pub").reconnect(ReconnectPolicy::disabled()),
        )
        .await
        .unwrap();
        let acked = Arc::new(Mutex::new(Acked::default()));
        let mut tasks = publish_all(&publisher, &acked);
        wait_acked(&acked, N).await;
        broker.kill();
        // Acknowledgments read before the kill may still be recorded; then nothing more can
        // complete.
        tokio::time::sleep(Duration::from_millis(100)).await;
        publisher.shutdown();
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let acked = std::mem::take(&mut *acked.lock().unwrap());
        assert!(acked.len() >= N && acked.len() <= 2 * N);

        let (_broker, port) = match Myqttd::start(dir.path(), port, 2) {
            Some(b) => (b, port),
            None => {
                let port = free_port();
                (Myqttd::start(dir.path(), port, 3).unwrap(), port)
            }
        };
        let received = resume_and_collect(port).await;
        check(&received, &acked);
    })
    .await
    .unwrap();
}

/// The publisher keeps its session too and reconnects to the restarted broker: everything it
/// had in flight is resent (PUBLISH with DUP, or PUBREL) and completes; every message is then
/// delivered, QoS 2 exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_publisher_completes_without_duplicates_after_kill_9() {
    tokio::time::timeout(Duration::from_secs(40), async {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut broker = Myqttd::start(dir.path(), port, 1).unwrap();
        offline_subscriber(port).await;

        let publisher = Client::connect(addr(port), resuming_options("crash-pub-resume"))
            .await
            .unwrap();
        let acked = Arc::new(Mutex::new(Acked::default()));
        let mut tasks = publish_all(&publisher, &acked);
        wait_acked(&acked, N).await;
        broker.kill();
        // Same port: the publisher reconnects there by itself.
        let _broker = Myqttd::start(dir.path(), port, 2).expect("the port was taken meanwhile");
        while let Some(result) = tasks.join_next().await {
            result.unwrap().unwrap();
        }
        let acked = std::mem::take(&mut *acked.lock().unwrap());
        assert_eq!((acked.qos1.len(), acked.qos2.len()), (N, N));
        publisher.close().await.unwrap();

        let received = resume_and_collect(port).await;
        check(&received, &acked);
    })
    .await
    .unwrap();
}

/// The subscriber stays connected through the crash (with its session, reconnecting by
/// itself) while the broker forwards to it: QoS 2 deliveries in flight from the broker at the
/// kill are resumed after the restart (PUBLISH with DUP before PUBREC, PUBREL after it,
/// [MQTT-4.4.0-1]) and must not reach the application twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_subscriber_gets_qos2_once_across_kill_9() {
    tokio::time::timeout(Duration::from_secs(40), async {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut broker = Myqttd::start(dir.path(), port, 1).unwrap();
        let sub = Client::connect(
            addr(port),
            resuming_options("crash-sub-live").message_capacity(4 * N),
        )
        .await
        .unwrap();
        assert_eq!(
            sub.subscribe("crash/#", QoS::ExactlyOnce).await.unwrap(),
            QoS::ExactlyOnce
        );
        let received = Arc::new(Mutex::new(Received::default()));
        let mut messages = sub.messages();
        let reader = {
            let received = received.clone();
            tokio::spawn(async move {
                // Quiet for 1 s only once everything arrived after the restart (the restart
                // itself takes well under a second).
                collect_until_quiet(&mut messages, &received).await;
                messages
            })
        };

        let publisher = Client::connect(addr(port), resuming_options("crash-pub-live"))
            .await
            .unwrap();
        let acked = Arc::new(Mutex::new(Acked::default()));
        let mut tasks = publish_all(&publisher, &acked);
        wait_acked(&acked, N).await;
        broker.kill();
        let _broker = Myqttd::start(dir.path(), port, 2).expect("the port was taken meanwhile");
        while let Some(result) = tasks.join_next().await {
            result.unwrap().unwrap();
        }
        let acked = std::mem::take(&mut *acked.lock().unwrap());
        assert_eq!((acked.qos1.len(), acked.qos2.len()), (N, N));
        publisher.close().await.unwrap();

        let mut messages = reader.await.unwrap();
        collect_until_quiet(&mut messages, &received).await;
        sub.close().await.unwrap();
        let received = std::mem::take(&mut *received.lock().unwrap());
        check(&received, &acked);
    })
    .await
    .unwrap();
}
