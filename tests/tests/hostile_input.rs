//! Hostile and faulty input against the real `myqttd` process. Each test asserts that the
//! offending connection gets the specification's answer (CONNACK / DISCONNECT code, or a
//! close), that a pair of well-behaved clients ([`Chat`]) keeps exchanging messages meanwhile,
//! and that the broker's memory stays bounded: its peak resident size (`VmHWM`) stays within
//! [`MEMORY_BOUND_KIB`] of the idle resident size measured after start.
//!
//! Every broker runs on loopback with a short connect timeout, so the file runs in well under
//! a minute.

#[path = "hostile_input/corpus.rs"]
mod corpus;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use corpus::{Answer, Case, Stage};
use myqtt_proto::codec::{QoS, ReasonCode};
use myqtt_tests::hostile::{
    ANSWER_TIMEOUT, Chat, Raw, V4, V5, connect, frame, proc_status_kib, split_packets, string,
};
use myqtt_tests::myqttd::{Myqttd, binary, free_port};
use myqtt_tokio::client::{Client, ClientError, ConnectOptions, ReconnectPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

/// The stated memory bound: the broker's peak resident size stays under 64 MiB above its idle
/// resident size, whatever the attack.
const MEMORY_BOUND_KIB: u64 = 64 * 1024;

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("myqtt-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Starts `myqttd -c <dir>/myqttd.toml <args>` with `config` as that file, logging to
/// `<dir>/myqttd.log`.
fn start(dir: &Path, config: &str, args: &[&str]) -> Myqttd {
    let path = dir.join("myqttd.toml");
    std::fs::write(&path, config).expect("the config file");
    let path = path.to_str().expect("a UTF-8 path").to_owned();
    let mut all = vec!["-c", path.as_str()];
    all.extend_from_slice(args);
    Myqttd::start(free_port(), &all, &dir.join("myqttd.log"))
}

/// The broker's idle resident size, in KiB.
fn idle_rss(broker: &Myqttd) -> u64 {
    broker.rss_kib().expect("VmRSS (Linux)")
}

/// Asserts the broker's peak resident size stayed within [`MEMORY_BOUND_KIB`] of `idle`;
/// returns the growth in KiB.
fn assert_memory_bounded(broker: &Myqttd, idle: u64, what: &str) -> u64 {
    assert_memory_within(broker, idle, MEMORY_BOUND_KIB, what)
}

/// Asserts the broker's peak resident size stayed within `bound` KiB of `idle`; returns the
/// growth in KiB.
fn assert_memory_within(broker: &Myqttd, idle: u64, bound: u64, what: &str) -> u64 {
    let peak = proc_status_kib(broker.pid(), "VmHWM").expect("VmHWM (Linux)");
    let growth = peak.saturating_sub(idle);
    eprintln!("{what}: idle RSS {idle} KiB, peak RSS {peak} KiB, growth {growth} KiB");
    assert!(
        growth < bound,
        "{what}: peak RSS {peak} KiB is {growth} KiB above idle ({idle} KiB), bound {bound} KiB"
    );
    growth
}

/// Checks what the broker sent on a hostile connection (up to its close) against `answer`.
fn check_answer(answer: Answer, got: &[u8]) -> Result<(), String> {
    let packets = split_packets(got)?;
    let disconnect_with = |p: &myqtt_tests::hostile::RawPacket, code: u8| {
        if p.first == 0xE0 && p.reason_code() == Some(code) {
            Ok(())
        } else {
            Err(format!("expected DISCONNECT 0x{code:02X}, got {p:02X?}"))
        }
    };
    match (answer, packets.as_slice()) {
        (Answer::Close, []) => Ok(()),
        (Answer::ConnAck(code), [p]) => {
            // [MQTT-3.2.2-4] (3.1.1) / [MQTT-3.2.2-6] (5.0): Session Present 0 with an error.
            if p.first == 0x20 && p.body.first() == Some(&0) && p.reason_code() == Some(code) {
                Ok(())
            } else {
                Err(format!("expected CONNACK 0x{code:02X}, got {p:02X?}"))
            }
        }
        (Answer::Disconnect(code), [p]) => disconnect_with(p, code),
        (
            Answer::AcksThenDisconnect {
                ack_type,
                acks,
                code,
            },
            [ackd @ .., last],
        ) if ackd.len() == acks && ackd.iter().all(|p| p.packet_type() == ack_type) => {
            disconnect_with(last, code)
        }
        (answer, packets) => Err(format!("expected {answer:?}, got {packets:02X?}")),
    }
}

/// Sends one corpus case on a fresh connection and checks the answer.
async fn run_case(addr: SocketAddr, index: usize, case: &Case) -> Result<(), String> {
    let mut raw = match case.stage {
        Stage::First => Raw::open(addr).await.map_err(|e| format!("connect: {e}"))?,
        Stage::After(level) => Raw::handshake(addr, level, &format!("corpus-{index}")).await?,
    };
    // The broker may close before it read everything; what it answered still arrives.
    let _ = raw.send(&case.wire).await;
    let got = raw.read_to_close(ANSWER_TIMEOUT).await?;
    check_answer(case.answer, &got)
}

/// The malformed corpus (`hostile_input/corpus.rs`: every client-sendable malformed case of
/// `myqtt-proto/tests/malformed.rs` and more, in 3.1.1 and 5.0), each on its own connection,
/// all at once, while two other clients keep talking.
///
/// [MQTT-4.8.0-1] (3.1.1: close on a protocol violation), [MQTT-4.13.1-1] (5.0: DISCONNECT
/// with the reason code, then close), [MQTT-3.1.4-1] (malformed CONNECT: close),
/// [MQTT-3.1.0-1] [MQTT-3.1.0-2] [MQTT-3.1.2-2] [MQTT-3.1.3-8] [MQTT-3.1.3-9]
/// [MQTT-3.2.2-4] [MQTT-3.2.2-6] [MQTT-3.3.4-9], and the ids named in each case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_corpus_gets_the_spec_answers() {
    let dir = scratch("corpus");
    let config = format!(
        "[limits]\nconnect_timeout_secs = 3\nreceive_maximum = {}\ntopic_alias_maximum = {}\n",
        corpus::RECEIVE_MAXIMUM,
        corpus::TOPIC_ALIAS_MAXIMUM
    );
    let broker = start(&dir, &config, &["--no-persistence"]);
    let addr = broker.addr();
    let idle = idle_rss(&broker);
    let chatter = Chat::join(addr, "corpus", None).await.spawn();

    let cases = corpus::cases();
    let names: BTreeSet<_> = cases.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), cases.len(), "case names are distinct");
    assert!(cases.len() >= 50, "the corpus has {} cases", cases.len());
    let tasks: Vec<_> = cases
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, case)| tokio::spawn(async move { (case.name, run_case(addr, i, &case).await) }))
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        let (name, result) = task.await.expect("a corpus task");
        if let Err(e) = result {
            failures.push(format!("{name}: {e}"));
        }
    }
    let round_trips = chatter.finish().await;
    assert!(
        failures.is_empty(),
        "{} of {} cases got the wrong answer:\n{}\n--- broker log ---\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n"),
        broker.log_text()
    );
    assert!(round_trips >= 2, "{round_trips} chat round trips");
    assert_memory_bounded(&broker, idle, "malformed corpus");
    // Every violation was logged with its cause.
    let log = broker.log_text();
    assert!(log.contains("protocol violation"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A remaining length announcing 256 MB (the largest the encoding allows) is refused from the
/// fixed header: the broker answers at once (5.0: DISCONNECT 0x95 Packet too large; 3.1.1 and
/// a first packet: close), does not wait for or buffer the body, and the sender's further
/// bytes hit a closed connection. MQTT 5.0 §3.1.2.11.4, [MQTT-4.13.1-1], [MQTT-4.8.0-1],
/// [MQTT-3.1.4-1].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remaining_length_of_256_mb_is_refused_from_the_header() {
    let dir = scratch("huge");
    let broker = start(&dir, "", &["--no-persistence"]);
    let addr = broker.addr();
    let idle = idle_rss(&broker);
    let chatter = Chat::join(addr, "huge", None).await.spawn();
    let header = [0x30, 0xFF, 0xFF, 0xFF, 0x7F];
    for (stage, answer) in [
        (None, Answer::Close),
        (Some(V4), Answer::Close),
        (Some(V5), Answer::Disconnect(0x95)),
    ] {
        let mut raw = match stage {
            None => Raw::open(addr).await.expect("connect"),
            Some(level) => Raw::handshake(addr, level, &format!("huge-{level}"))
                .await
                .expect("handshake"),
        };
        let mut first = header;
        if stage.is_none() {
            first[0] = 0x10; // a CONNECT of 256 MB
        }
        let started = Instant::now();
        raw.send(&first).await.expect("the header is sent");
        let got = raw.read_to_close(ANSWER_TIMEOUT).await.expect("closed");
        check_answer(answer, &got).unwrap_or_else(|e| panic!("{stage:?}: {e}"));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{stage:?}: answered after {:?}, not from the header",
            started.elapsed()
        );
        // The body the header announced goes nowhere: writing fails long before 64 MiB.
        let chunk = vec![0u8; 64 * 1024];
        let mut sent = 0usize;
        while sent < 64 << 20 {
            if raw.send(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        assert!(
            sent < 64 << 20,
            "{stage:?}: 64 MiB of body accepted after the refusal"
        );
    }
    let round_trips = chatter.finish().await;
    assert!(round_trips >= 1);
    assert_memory_bounded(&broker, idle, "256 MB remaining length");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Slowloris: CONNECTs trickled one byte every 100 ms (never finished within the timeout) and
/// connections that send nothing are closed once `connect_timeout_secs` (1 s) passes, without
/// any answer (MQTT 3.1.1 §3.1 / 5.0 §3.1: a server that gets no CONNECT within a reasonable
/// time closes the connection; [MQTT-3.1.4-1]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connect_is_closed_after_the_connect_timeout() {
    let dir = scratch("slowloris");
    let broker = start(
        &dir,
        "[limits]\nconnect_timeout_secs = 1\n",
        &["--no-persistence"],
    );
    let addr = broker.addr();
    let idle = idle_rss(&broker);
    let chatter = Chat::join(addr, "slowloris", None).await.spawn();
    let connect = {
        let mut rest = vec![0x00];
        rest.extend(string("s".repeat(200).as_bytes()));
        connect(V5, 0x02, &rest)
    };
    let tasks: Vec<_> = (0..20u32)
        .map(|i| {
            let connect = connect.clone();
            tokio::spawn(async move {
                let trickle = i.is_multiple_of(2);
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                let started = Instant::now();
                let mut sent = 0;
                let mut buf = [0u8; 64];
                loop {
                    tokio::select! {
                        read = stream.read(&mut buf) => match read {
                            Ok(0) | Err(_) => break,
                            Ok(n) => panic!("slowloris {i}: the broker sent {:02X?}", &buf[..n]),
                        },
                        () = sleep(Duration::from_millis(100)) => {
                            if trickle && sent < connect.len() {
                                let _ = stream.write_all(&connect[sent..=sent]).await;
                                sent += 1;
                            }
                        }
                    }
                    assert!(
                        started.elapsed() < Duration::from_secs(5),
                        "slowloris {i}: still open after 5 s"
                    );
                }
                assert!(sent < connect.len(), "slowloris {i}: CONNECT finished");
                started.elapsed()
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let took = task.await.expect("a slowloris task");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "slowloris {i}: closed after {took:?}, the connect timeout is 1 s"
        );
    }
    let round_trips = chatter.finish().await;
    assert!(round_trips >= 5, "{round_trips} chat round trips in ~1 s");
    assert_memory_bounded(&broker, idle, "slowloris");
    let log = broker.log_text();
    assert!(
        log.matches("no CONNECT in time").count() >= 20,
        "the timeouts are logged:\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// 1000 connections opened and dropped at every point of the CONNECT exchange (nothing sent,
/// part of the fixed header, part of the body, the whole CONNECT without reading CONNACK)
/// against `max_connections = 60` and a 10 s connect timeout: every slot is released on the
/// drop itself, so right after them 55 new clients connect at once. The broker's memory stays
/// bounded and the other clients keep talking. ([MQTT-3.1.4-1]: nothing of a half CONNECT is
/// processed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_dropped_mid_connect_release_their_slots() {
    let dir = scratch("drops");
    let broker = start(
        &dir,
        "[limits]\nmax_connections = 60\nconnect_timeout_secs = 10\n",
        &["--no-persistence"],
    );
    let addr = broker.addr();
    let idle = idle_rss(&broker);
    let chatter = Chat::join(addr, "drops", None).await.spawn();
    let full = myqtt_tests::hostile::connect_packet(V4, "dropper");
    for i in 0..1000 {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            continue;
        };
        let part = match i % 4 {
            0 => &full[..0],
            1 => &full[..1],
            2 => &full[..full.len() / 2],
            _ => &full[..],
        };
        let _ = stream.write_all(part).await;
        drop(stream);
    }
    // Every slot comes back: 55 clients (+ 2 chat = 57 of 60) connect within 5 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut held = Vec::new();
    let mut last_error = String::new();
    while held.len() < 55 && Instant::now() < deadline {
        match Raw::handshake(addr, V4, &format!("after-drops-{}", held.len())).await {
            Ok(raw) => held.push(raw),
            Err(e) => {
                last_error = e;
                sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert_eq!(
        held.len(),
        55,
        "connection slots leaked by dropped connections (last error: {last_error})\n{}",
        broker.log_text()
    );
    let round_trips = chatter.finish().await;
    assert!(round_trips >= 1);
    assert_memory_bounded(&broker, idle, "1000 dropped connections");
    drop(held);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads the QoS 1 PUBLISH packets a raw 5.0 subscriber receives, acknowledging each, until
/// none comes for `quiet`; returns their payloads.
async fn drain_qos1(raw: &mut Raw, quiet: Duration) -> Vec<String> {
    let mut payloads = Vec::new();
    while let Ok(p) = raw.read_packet(quiet).await {
        if p.packet_type() != 3 {
            continue;
        }
        let topic_len = usize::from(u16::from_be_bytes([p.body[0], p.body[1]]));
        let pid = [p.body[2 + topic_len], p.body[3 + topic_len]];
        let props_len = usize::from(p.body[4 + topic_len]);
        let payload = &p.body[5 + topic_len + props_len..];
        payloads.push(String::from_utf8_lossy(payload).into_owned());
        raw.send(&[0x40, 0x02, pid[0], pid[1]])
            .await
            .expect("PUBACK sent");
    }
    payloads
}

/// A raw 5.0 subscriber to `filter` at `qos` with a small receive buffer.
async fn raw_subscriber(addr: SocketAddr, client_id: &str, filter: &str, qos: u8) -> Raw {
    let mut raw = Raw::open_small_buffer(addr).await.expect("connect");
    raw.send(&myqtt_tests::hostile::connect_packet(V5, client_id))
        .await
        .expect("CONNECT");
    let ack = raw.read_packet(ANSWER_TIMEOUT).await.expect("CONNACK");
    assert_eq!(ack.reason_code(), Some(0), "{ack:02X?}");
    let mut body = vec![0x00, 0x01, 0x00];
    body.extend(string(filter.as_bytes()));
    body.push(qos);
    raw.send(&frame(0x82, &body)).await.expect("SUBSCRIBE");
    let suback = raw.read_packet(ANSWER_TIMEOUT).await.expect("SUBACK");
    assert_eq!(suback.first, 0x90);
    assert_eq!(suback.body.last(), Some(&qos), "granted QoS");
    raw
}

/// A subscriber that stops reading while a publisher floods it:
///
/// - at QoS 1 the session's limits apply: `max_inflight` (10) messages in flight plus
///   `max_queued_messages` (100) queued, the newer ones dropped (`queue_full_policy =
///   drop-newest`); once it reads again it gets exactly the first 110, and its connection
///   was never closed;
/// - at QoS 0 (40 000 × 1 KiB) the broker's per-connection write backlog bounds apply: past
///   4 MiB queued the connection is congested and QoS 0 messages to it are dropped (MQTT
///   §4.3.1, at most once); as its backlog does not shrink for 5 s, the broker closes it as
///   a slow consumer.
///
/// Meanwhile the other clients keep talking and the broker's peak memory stays within
/// [`MEMORY_BOUND_KIB`] of idle. [MQTT-3.3.4-7] (inflight window), MQTT 5.0 §4.9.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooded_subscriber_that_stops_reading_is_bounded() {
    const MAX_INFLIGHT: usize = 10;
    const MAX_QUEUED: usize = 100;
    const QOS1_FLOOD: usize = 1000;
    const QOS0_FLOOD: usize = 40_000;
    let dir = scratch("flood");
    let config = format!(
        "[limits]\nmax_inflight = {MAX_INFLIGHT}\nmax_queued_messages = {MAX_QUEUED}\n\
         queue_full_policy = \"drop-newest\"\n"
    );
    let broker = start(&dir, &config, &["--no-persistence"]);
    let addr = broker.addr();
    let mut sub1 = raw_subscriber(addr, "flood-sub-q1", "flood/q1", 1).await;
    let mut sub0 = raw_subscriber(addr, "flood-sub-q0", "flood/q0", 0).await;
    let publisher = Client::connect(
        addr,
        ConnectOptions::new("flood-pub").reconnect(ReconnectPolicy::disabled()),
    )
    .await
    .expect("the publisher connects");
    let idle = idle_rss(&broker);
    let chatter = Chat::join(addr, "flood", None).await.spawn();

    let started = Instant::now();
    for i in 0..QOS1_FLOOD {
        publisher
            .publish(
                "flood/q1",
                i.to_string().into_bytes(),
                QoS::AtLeastOnce,
                false,
            )
            .await
            .expect("QoS 1 flood publish acknowledged");
    }
    let kib = vec![b'x'; 1024];
    for _ in 0..QOS0_FLOOD {
        publisher
            .publish("flood/q0", kib.clone(), QoS::AtMostOnce, false)
            .await
            .expect("QoS 0 flood publish");
    }
    // The broker routed everything (a QoS 1 round trip after the QoS 0 flood).
    publisher
        .publish("flood/done", &b"done"[..], QoS::AtLeastOnce, false)
        .await
        .expect("the last publish");
    eprintln!("flood sent in {:?}", started.elapsed());
    let round_trips = chatter.finish().await;
    assert!(round_trips >= 2, "{round_trips} chat round trips");
    let growth = assert_memory_bounded(&broker, idle, "flooded slow subscribers");

    // QoS 0: the slow consumer is cut off once its backlog stalled (checked as traffic
    // passes: keep publishing a little).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !broker.log_text().contains("slow consumer") && Instant::now() < deadline {
        publisher
            .publish("flood/q0", &b"tick"[..], QoS::AtMostOnce, false)
            .await
            .expect("QoS 0 tick");
        sleep(Duration::from_millis(250)).await;
    }
    let log = broker.log_text();
    assert!(log.contains("slow consumer"), "{log}");
    let got0 = sub0
        .read_to_close(Duration::from_secs(10))
        .await
        .expect("the QoS 0 subscriber's connection ends");
    assert!(
        got0.len() < QOS0_FLOOD * 1024,
        "the slow QoS 0 subscriber got all {} bytes",
        got0.len()
    );
    // Cut off at once, its backlog discarded: it gets at most what the sockets' buffers held,
    // not the 16 MiB backlog the broker had queued for it (a Close queued behind that backlog
    // kept the connection, and its memory, alive for as long as the peer did not read).
    assert!(
        got0.len() < 8 * 1024 * 1024,
        "the slow QoS 0 subscriber got {} bytes after being cut off",
        got0.len()
    );

    // QoS 1: the first max_inflight + max_queued messages, in order, the rest dropped.
    let payloads = drain_qos1(&mut sub1, Duration::from_secs(1)).await;
    let expected: Vec<String> = (0..MAX_INFLIGHT + MAX_QUEUED)
        .map(|i| i.to_string())
        .collect();
    assert_eq!(payloads, expected, "QoS 1 deliveries after the flood");
    // Its connection is still open: a PINGREQ gets PINGRESP.
    sub1.send(&[0xC0, 0x00]).await.expect("PINGREQ");
    let pong = sub1.read_packet(ANSWER_TIMEOUT).await.expect("PINGRESP");
    assert_eq!(pong.first, 0xD0);
    eprintln!("flood: memory growth {growth} KiB");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every entry below `dir`, relative to it, recursively.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            out.insert(path.strip_prefix(dir).expect("below dir").to_owned());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
    out
}

/// A CONNECT resuming a session (Clean Session / Clean Start 0; 5.0: Session Expiry 1 h).
fn resume_connect(level: u8, client_id: &str) -> Vec<u8> {
    let mut rest = Vec::new();
    if level == V5 {
        rest.extend([0x05, 0x11, 0x00, 0x00, 0x0E, 0x10]);
    }
    rest.extend(string(client_id.as_bytes()));
    connect(level, 0x00, &rest)
}

/// Client identifiers shaped like paths are ordinary identifiers: their sessions persist,
/// survive a `kill -9` and resume, and nothing is created outside the data directory
/// (its parents' listings are unchanged, every file below it resolves inside it).
/// [MQTT-3.1.3-5] (the server may allow any UTF-8 client id), [MQTT-3.1.2-4] / 5.0
/// [MQTT-3.1.2-23] (sessions resume), [MQTT-3.2.2-2] (Session Present 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_like_client_ids_stay_inside_the_data_dir() {
    let dir = scratch("paths");
    // ../../etc from <box>/a/b/data would be <box>/a/etc; every level is watched.
    let boxed = dir.join("box");
    let data = boxed.join("a").join("b").join("data");
    std::fs::create_dir_all(&data).expect("the data directory");
    let ids = [
        "../../etc",
        "../../../../../../../../tmp/myqtt-escape",
        "/etc/passwd",
        "..",
        ".",
        "a/../../b",
        "..\\..\\windows\\system32",
        "%2e%2e%2fetc",
        "C:\\escape",
        "data/../../escape",
        "~root/.ssh",
        "-rf",
        "$SYS/../etc",
        "./././",
    ];
    let before_box = tree(&boxed);
    let data_str = data.to_str().expect("a UTF-8 path").to_owned();
    let args = ["--data-dir", data_str.as_str()];
    let mut broker = start(&dir, "", &args);
    let addr = broker.addr();
    let idle = idle_rss(&broker);
    let chatter = Chat::join(addr, "paths", None).await.spawn();
    let level_of = |i: usize| if i.is_multiple_of(2) { V5 } else { V4 };
    for (i, id) in ids.iter().enumerate() {
        let level = level_of(i);
        let mut raw = Raw::open(addr).await.expect("connect");
        raw.send(&resume_connect(level, id)).await.expect("CONNECT");
        let ack = raw.read_packet(ANSWER_TIMEOUT).await.expect("CONNACK");
        assert_eq!(
            (ack.first, ack.body[0], ack.body[1]),
            (0x20, 0, 0),
            "{id:?}: a new session"
        );
        let mut body = vec![0x00, 0x01];
        if level == V5 {
            body.push(0x00);
        }
        body.extend(string(format!("paths/{i}").as_bytes()));
        body.push(1);
        raw.send(&frame(0x82, &body)).await.expect("SUBSCRIBE");
        let suback = raw.read_packet(ANSWER_TIMEOUT).await.expect("SUBACK");
        assert_eq!(suback.body.last(), Some(&1), "{id:?}: granted QoS 1");
        raw.send(&[0xE0, 0x00]).await.expect("DISCONNECT");
        raw.read_to_close(ANSWER_TIMEOUT).await.expect("closed");
    }
    // Queue one message per offline session; PUBACK waits until it is on disk (durability
    // strict by default).
    let publisher = Client::connect(
        addr,
        ConnectOptions::new("paths-pub").reconnect(ReconnectPolicy::disabled()),
    )
    .await
    .expect("the publisher connects");
    for (i, id) in ids.iter().enumerate() {
        publisher
            .publish(
                format!("paths/{i}").as_str(),
                id.as_bytes().to_vec(),
                QoS::AtLeastOnce,
                false,
            )
            .await
            .expect("queued for the offline session");
    }
    let round_trips = chatter.finish().await;
    assert!(round_trips >= 1);
    assert_memory_bounded(&broker, idle, "path-like client ids");
    let log = broker.log_text();
    assert!(
        log.contains("../../etc"),
        "the id is logged as given:\n{log}"
    );

    // kill -9 and restart on the same data directory: every session resumes with its message.
    broker.kill9();
    let broker = start(&dir, "", &args);
    let addr = broker.addr();
    for (i, id) in ids.iter().enumerate() {
        let level = level_of(i);
        let mut raw = Raw::open(addr).await.expect("connect");
        raw.send(&resume_connect(level, id)).await.expect("CONNECT");
        let ack = raw.read_packet(ANSWER_TIMEOUT).await.expect("CONNACK");
        assert_eq!(
            (ack.first, ack.body[0], ack.body[1]),
            (0x20, 1, 0),
            "{id:?}: session present after the restart"
        );
        let publish = raw
            .read_packet(ANSWER_TIMEOUT)
            .await
            .expect("the queued message");
        assert_eq!(publish.packet_type(), 3, "{id:?}: {publish:02X?}");
        let topic = format!("paths/{i}");
        let topic_end = 2 + topic.len();
        assert_eq!(&publish.body[2..topic_end], topic.as_bytes());
        let payload_at = topic_end
            + 2
            + usize::from(level == V5) * (1 + usize::from(publish.body[topic_end + 2]));
        assert_eq!(
            &publish.body[payload_at..],
            id.as_bytes(),
            "{id:?}: payload"
        );
        raw.send(&[
            0x40,
            0x02,
            publish.body[topic_end],
            publish.body[topic_end + 1],
        ])
        .await
        .expect("PUBACK");
    }
    drop(broker);

    // Nothing outside the data directory: the levels above it hold only the path to it.
    let after_box = tree(&boxed);
    let outside: BTreeSet<_> = after_box
        .iter()
        .filter(|p| {
            p.strip_prefix("a/b/data")
                .map_or(true, |r| r.as_os_str().is_empty())
        })
        .collect();
    let expected: BTreeSet<_> = before_box.iter().collect();
    assert_eq!(outside, expected, "entries outside the data dir");
    assert!(
        after_box.len() > before_box.len(),
        "the store wrote into the data dir"
    );
    let canonical = data.canonicalize().expect("the data dir");
    for entry in after_box.iter().filter(|p| p.starts_with("a/b/data/")) {
        let real = boxed.join(entry).canonicalize().expect("an entry");
        assert!(real.starts_with(&canonical), "{} escapes", real.display());
    }
    assert!(!Path::new("/tmp/myqtt-escape").exists());
    let scratch_entries: BTreeSet<_> = std::fs::read_dir(&dir)
        .expect("the scratch dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let allowed: BTreeSet<String> = ["box", "myqttd.toml", "myqttd.log"]
        .map(String::from)
        .into();
    assert_eq!(scratch_entries, allowed, "entries next to the data tree");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Adds `user` with `password` to the password file `file` with `myqttd passwd`.
fn add_user(file: &Path, user: &str, password: &str) {
    let mut child = Command::new(binary())
        .arg("passwd")
        .arg("-f")
        .arg(file)
        .arg(user)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("myqttd passwd starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("its stdin");
        writeln!(stdin, "{password}").expect("the password is written");
    }
    assert!(child.wait().expect("myqttd passwd ends").success());
}

/// A CONNECT at `level` with client id, and optionally user name and password.
fn login_connect(
    level: u8,
    client_id: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> Vec<u8> {
    let mut flags = 0x02;
    let mut rest = Vec::new();
    if level == V5 {
        rest.push(0x00);
    }
    rest.extend(string(client_id.as_bytes()));
    if let Some(user) = user {
        flags |= 0x80;
        rest.extend(string(user.as_bytes()));
    }
    if let Some(password) = password {
        flags |= 0x40;
        rest.extend(string(password.as_bytes()));
    }
    connect(level, flags, &rest)
}

/// A 5.0 client logged in as `user`.
async fn login(addr: SocketAddr, client_id: &str, user: &str, password: &str) -> Client {
    Client::connect(
        addr,
        ConnectOptions::new(client_id)
            .credentials(user, password.as_bytes().to_vec())
            .reconnect(ReconnectPolicy::disabled()),
    )
    .await
    .unwrap_or_else(|e| panic!("{client_id} logs in: {e}"))
}

/// Wrong passwords, unknown users and missing credentials are refused with CONNACK 0x86
/// Bad User Name or Password (5.0) / return code 0x04 (3.1.1), then closed; ACL-denied
/// publishes get PUBACK 0x87 Not authorized (5.0) or a plain PUBACK (3.1.1) and reach no
/// subscriber; ACL-denied subscriptions get SUBACK 0x87 (5.0) / 0x80 (3.1.1). Every refusal
/// is logged with the client id, and the refused clients' connections stay usable.
/// [MQTT-3.1.4-2], [MQTT-3.2.2-5], [MQTT-3.3.5-2], [MQTT-3.9.3-1] (3.1.1 return code 0x80),
/// MQTT 5.0 §3.2.2.2, §3.4.2.1, §3.9.3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_acl_denials_are_refused_and_logged() {
    let dir = scratch("auth");
    let passwd = dir.join("passwd");
    for (user, password) in [
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("carol", "c4r0l"),
    ] {
        add_user(&passwd, user, password);
    }
    let config = format!(
        "anonymous = false\npassword_file = {:?}\n\
         [acl]\ndefault = \"allow\"\n\
         [[acl.rules]]\nuser = \"carol\"\naction = \"publish\"\npattern = \"news/#\"\npermission = \"deny\"\n\
         [[acl.rules]]\naction = \"subscribe\"\npattern = \"private/#\"\npermission = \"deny\"\n",
        passwd.to_str().expect("a UTF-8 path")
    );
    let broker = start(&dir, &config, &["--no-persistence"]);
    let addr = broker.addr();
    let idle = idle_rss(&broker);
    let chatter = Chat::join(addr, "auth", Some(("alice", "wonderland")))
        .await
        .spawn();

    // Refused logins, on raw connections for the exact codes.
    let refusals = [
        ("mallory-v5-wrong", V5, Some("alice"), Some("guess"), 0x86),
        ("mallory-v4-wrong", V4, Some("alice"), Some("guess"), 0x04),
        ("mallory-v5-unknown", V5, Some("eve"), Some("x"), 0x86),
        ("mallory-v4-unknown", V4, Some("eve"), Some("x"), 0x04),
        ("mallory-v5-nopass", V5, Some("bob"), None, 0x86),
        ("mallory-v5-anonymous", V5, None, None, 0x86),
        ("mallory-v4-anonymous", V4, None, None, 0x04),
    ];
    for (client_id, level, user, password, code) in refusals {
        let mut raw = Raw::open(addr).await.expect("connect");
        raw.send(&login_connect(level, client_id, user, password))
            .await
            .expect("CONNECT");
        let got = raw.read_to_close(ANSWER_TIMEOUT).await.expect("closed");
        check_answer(Answer::ConnAck(code), &got).unwrap_or_else(|e| panic!("{client_id}: {e}"));
    }
    // The library client reports the same.
    let refused = Client::connect(
        addr,
        ConnectOptions::new("mallory-client")
            .credentials("bob", b"wrong".to_vec())
            .reconnect(ReconnectPolicy::disabled()),
    )
    .await;
    assert!(
        matches!(
            refused,
            Err(ClientError::Refused(ReasonCode::BadUserNameOrPassword))
        ),
        "{:?}",
        refused.err()
    );

    // ACL: carol may not publish under news/, nobody may subscribe under private/.
    let bob = login(addr, "bob-reader", "bob", "builder").await;
    let mut inbox = bob.messages();
    bob.subscribe("news/#", QoS::AtLeastOnce)
        .await
        .expect("bob subscribes to news/#");
    let carol = login(addr, "carol-writer", "carol", "c4r0l").await;
    let denied = carol
        .publish("news/1", &b"from carol"[..], QoS::AtLeastOnce, false)
        .await;
    assert!(
        matches!(
            denied,
            Err(ClientError::PublishRefused(ReasonCode::NotAuthorized))
        ),
        "{denied:?}"
    );
    carol
        .publish("news/2", &b"from carol"[..], QoS::AtMostOnce, false)
        .await
        .expect("a QoS 0 publish has no answer");
    let denied = carol.subscribe("private/x", QoS::AtLeastOnce).await;
    assert!(
        matches!(
            denied,
            Err(ClientError::SubscribeRefused(ReasonCode::NotAuthorized))
        ),
        "{denied:?}"
    );
    carol.ping().await.expect("carol's connection is still up");

    // 3.1.1: a plain PUBACK ([MQTT-3.3.5-2]) and SUBACK 0x80.
    let mut raw = Raw::open(addr).await.expect("connect");
    raw.send(&login_connect(V4, "carol-v4", Some("carol"), Some("c4r0l")))
        .await
        .expect("CONNECT");
    let ack = raw.read_packet(ANSWER_TIMEOUT).await.expect("CONNACK");
    assert_eq!(ack.body, [0x00, 0x00], "carol logs in over 3.1.1");
    let mut body = string(b"news/3");
    body.extend([0x00, 0x07]);
    body.extend_from_slice(b"from carol");
    raw.send(&frame(0x32, &body)).await.expect("PUBLISH");
    let puback = raw.read_packet(ANSWER_TIMEOUT).await.expect("PUBACK");
    assert_eq!(
        (puback.first, puback.body.as_slice()),
        (0x40, &[0x00, 0x07][..])
    );
    let mut body = vec![0x00, 0x08];
    body.extend(string(b"private/#"));
    body.push(1);
    raw.send(&frame(0x82, &body)).await.expect("SUBSCRIBE");
    let suback = raw.read_packet(ANSWER_TIMEOUT).await.expect("SUBACK");
    assert_eq!(
        (suback.first, suback.body.as_slice()),
        (0x90, &[0x00, 0x08, 0x80][..])
    );
    raw.send(&[0xC0, 0x00]).await.expect("PINGREQ");
    assert_eq!(
        raw.read_packet(ANSWER_TIMEOUT)
            .await
            .expect("PINGRESP")
            .first,
        0xD0
    );

    // None of carol's messages reached bob; alice's does.
    let alice = login(addr, "alice-writer", "alice", "wonderland").await;
    alice
        .publish("news/ok", &b"from alice"[..], QoS::AtLeastOnce, false)
        .await
        .expect("alice may publish");
    let first = timeout(Duration::from_secs(5), inbox.recv())
        .await
        .expect("bob receives within 5 s")
        .expect("bob's inbox is open");
    assert_eq!(first.payload.as_ref(), b"from alice");
    let more = timeout(Duration::from_millis(300), inbox.recv()).await;
    assert!(more.is_err(), "an unexpected message: {more:?}");

    let round_trips = chatter.finish().await;
    assert!(round_trips >= 1);
    // Each Argon2 check needs 19 MiB; the broker reuses that working memory (at most one
    // buffer per check running at once), so a burst of bad logins stays within the bound.
    // (It used to leave each buffer resident on its blocking thread: RSS grew by ~20 MiB per
    // check up to hundreds of MiB.)
    assert_memory_bounded(&broker, idle, "auth and ACL");
    let log = broker.log_text();
    let lines = |needle: &str, id: &str| log.lines().any(|l| l.contains(needle) && l.contains(id));
    for (client_id, ..) in refusals {
        assert!(
            lines("authentication failed", client_id),
            "refusal of {client_id} not logged:\n{log}"
        );
    }
    assert!(lines("authentication failed", "mallory-client"), "{log}");
    assert!(lines("publish denied by ACL", "carol-writer"), "{log}");
    assert!(lines("publish denied by ACL", "carol-v4"), "{log}");
    assert!(lines("subscribe denied by ACL", "carol-writer"), "{log}");
    assert!(lines("subscribe denied by ACL", "carol-v4"), "{log}");
    assert!(
        !log.contains("guess") && !log.contains("c4r0l"),
        "a password in the log"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
