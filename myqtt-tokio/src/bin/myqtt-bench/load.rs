//! The message flows shared by `fanin`, `fanout` and `latency`: publisher and subscriber
//! loops over raw connections, and [`run_flow`], which connects them, runs them and sums up.

use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use myqtt_proto::codec::{Packet, PacketId, Publish, PublishAck, QoS};
use myqtt_proto::topic::TopicName;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout};

use crate::Opts;
use crate::conn::{Conn, Target, timed_out, unexpected};
use crate::stats::{self, STAMP_LEN, Sampler, Tracker, Usage};

/// Bytes of PUBLISH packets encoded before one write.
const BATCH_BYTES: usize = 64 << 10;
/// Receive buffer growth step of data connections.
const READ_CHUNK: usize = 64 << 10;
/// Pacing step of rate-limited publishers and idle check period of subscribers.
const TICK: Duration = Duration::from_millis(1);
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// A message flow: publishers, their topics and pace, and the subscribers.
pub(crate) struct Flow {
    /// Topic of each publisher.
    pub(crate) topics: Vec<String>,
    /// Messages per publisher.
    pub(crate) messages: u32,
    /// Messages per second per publisher (`None`: as fast as possible).
    pub(crate) rate: Option<f64>,
    /// Number of subscribers, each on `filter`.
    pub(crate) subscribers: u32,
    /// The subscribers' topic filter.
    pub(crate) filter: String,
    /// Whether subscribers keep every latency (for percentiles).
    pub(crate) latency: bool,
}

/// What a flow measured, summed over publishers and subscribers.
#[derive(Default)]
pub(crate) struct FlowRun {
    /// Seconds from the start of publishing to the last delivery.
    pub(crate) elapsed_s: f64,
    /// Seconds until every publisher had sent (and, QoS 1/2, completed) its messages.
    pub(crate) publish_s: f64,
    /// PUBLISH packets written by the publishers.
    pub(crate) sent: u64,
    /// Effective inflight window per publisher (QoS 1/2).
    pub(crate) window: u16,
    /// Deliveries expected over all subscribers.
    pub(crate) expected: u64,
    /// Deliveries received over all subscribers, duplicates included.
    pub(crate) received: u64,
    /// Expected deliveries that never came.
    pub(crate) lost: u64,
    /// Deliveries of a message a subscriber already had.
    pub(crate) duplicates: u64,
    /// Deliveries of messages not sent by this run.
    pub(crate) unexpected: u64,
    /// Send-to-receive latencies in nanoseconds, if asked for.
    pub(crate) latencies: Vec<u64>,
    /// Resource usage at the start of publishing and at the last delivery.
    pub(crate) usage: Option<(Usage, Usage)>,
    /// The first error met.
    pub(crate) error: Option<String>,
    /// Whether the hard timeout cut the run short.
    pub(crate) timed_out: bool,
}

/// Connects `ids` concurrently; the first failure fails all.
pub(crate) async fn connect_all(
    target: &Target,
    ids: Vec<String>,
    deadline: Instant,
) -> io::Result<Vec<Conn>> {
    let mut set = JoinSet::new();
    for (i, id) in ids.into_iter().enumerate() {
        let target = target.clone();
        set.spawn(async move { (i, target.connect(&id, deadline, READ_CHUNK).await) });
    }
    let mut conns: Vec<(usize, Conn)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (i, conn) = joined.map_err(io::Error::other)?;
        conns.push((i, conn?));
    }
    conns.sort_by_key(|(i, _)| *i);
    Ok(conns.into_iter().map(|(_, c)| c).collect())
}

/// Connects the subscribers and publishers of `flow`, runs it and sums up.
pub(crate) async fn run_flow(
    opts: &Opts,
    target: &Target,
    deadline: Instant,
    flow: Flow,
) -> Result<FlowRun, String> {
    let qos = opts.qos();
    let tag = std::process::id();
    let ids = |kind: &str, n: usize| (0..n).map(|i| format!("bench-{tag}-{kind}-{i}")).collect();
    let sub_target = if opts.persistent_subscriber {
        target.persistent()
    } else {
        target.clone()
    };
    let mut subs = connect_all(&sub_target, ids("sub", flow.subscribers as usize), deadline)
        .await
        .map_err(|e| format!("subscriber connect: {e}"))?;
    for sub in &mut subs {
        sub.subscribe(&flow.filter, qos)
            .await
            .map_err(|e| format!("subscribe: {e}"))?;
    }
    let pubs = connect_all(target, ids("pub", flow.topics.len()), deadline)
        .await
        .map_err(|e| format!("publisher connect: {e}"))?;
    let window = pubs
        .iter()
        .map(|c| opts.inflight.min(c.receive_maximum).max(1))
        .min()
        .unwrap_or(1);
    eprintln!(
        "myqtt-bench: {} publisher(s), {} subscriber(s) connected; publishing",
        pubs.len(),
        subs.len()
    );

    let sampler = Sampler::start(opts.broker_pid);
    let start = Instant::now();
    let done = Arc::new(OnceLock::new());
    let drain = Duration::from_secs_f64(opts.drain.max(0.0));
    let mut sub_tasks = JoinSet::new();
    for conn in subs {
        let tracker = Tracker::new(flow.topics.len() as u32, flow.messages);
        let done = Arc::clone(&done);
        sub_tasks.spawn(subscriber(conn, tracker, done, drain, flow.latency));
    }
    let size = opts.size.max(STAMP_LEN);
    let mut pub_tasks = JoinSet::new();
    for (i, (conn, topic)) in pubs.into_iter().zip(&flow.topics).enumerate() {
        let topic = TopicName::try_from(topic.as_str()).map_err(|e| format!("topic: {e}"))?;
        let mut template = Publish::new(topic, Bytes::from(vec![0u8; size]));
        template.qos = qos;
        let plan = (i as u32, flow.messages, window, flow.rate);
        pub_tasks.spawn(publisher(conn, template, plan, start));
    }

    let mut run = FlowRun {
        window,
        ..FlowRun::default()
    };
    let note = |e: io::Error, run: &mut FlowRun| {
        run.timed_out |= e.kind() == io::ErrorKind::TimedOut;
        run.error.get_or_insert_with(|| e.to_string());
    };
    while let Some(joined) = pub_tasks.join_next().await {
        let (sent, result) = joined.unwrap_or_else(|e| (0, Err(io::Error::other(e))));
        run.sent += sent;
        if let Err(e) = result {
            note(e, &mut run);
        }
    }
    let _ = done.set(Instant::now());
    run.publish_s = start.elapsed().as_secs_f64();
    eprintln!(
        "myqtt-bench: {} PUBLISH sent in {:.3} s; draining",
        run.sent, run.publish_s
    );
    let mut last_rx = start;
    while let Some(joined) = sub_tasks.join_next().await {
        let (sub, result) = match joined {
            Ok(r) => r,
            Err(e) => {
                note(io::Error::other(e), &mut run);
                continue;
            }
        };
        run.expected += sub.tracker.expected();
        run.received += sub.tracker.received;
        run.lost += sub.tracker.expected() - sub.tracker.unique();
        run.duplicates += sub.tracker.duplicates;
        run.unexpected += sub.tracker.unexpected;
        run.latencies.extend(sub.latencies);
        last_rx = last_rx.max(sub.last_rx.unwrap_or(start));
        if let Err(e) = result {
            note(e, &mut run);
        }
    }
    run.elapsed_s = last_rx.duration_since(start).as_secs_f64();
    run.usage = Some(sampler.window(start, last_rx));
    Ok(run)
}

/// A publisher's state: pacing and QoS 1/2 packet identifiers in flight.
struct Inflight {
    used: Vec<bool>,
    count: usize,
    next: PacketId,
}

impl Inflight {
    /// The next free packet identifier, marked in use, unless the window is full.
    fn take(&mut self, window: usize) -> Option<PacketId> {
        let id = self.next;
        if self.count >= window || self.used[usize::from(id.get())] {
            return None;
        }
        self.used[usize::from(id.get())] = true;
        self.count += 1;
        self.next = id.next();
        Some(id)
    }

    /// Frees `id` (a PUBACK or PUBCOMP came); false if it was not in flight.
    fn release(&mut self, id: PacketId) -> bool {
        let slot = &mut self.used[usize::from(id.get())];
        let was = std::mem::replace(slot, false);
        self.count -= usize::from(was);
        was
    }
}

/// Publishes `count` messages (`plan` = index, count, window, rate) from `template`,
/// stamping each payload, many packets per write. Returns the PUBLISH packets sent and how
/// the run ended.
async fn publisher(
    mut conn: Conn,
    mut template: Publish,
    plan: (u32, u32, u16, Option<f64>),
    start: Instant,
) -> (u64, io::Result<()>) {
    let (index, count, window, rate) = plan;
    let window = usize::from(window);
    let qos = template.qos;
    let version = conn.version();
    let filler = vec![0u8; template.payload.len() - STAMP_LEN];
    let mut header = vec![0u8; template.topic.len() + 32];
    let mut inflight = Inflight {
        used: vec![false; 1 << 16],
        count: 0,
        next: PacketId::MIN,
    };
    let refill = (window / 4).max(1);
    let mut seq = 0u32;
    let result = async {
        loop {
            let allowed = match rate {
                Some(r) => ((start.elapsed().as_secs_f64() * r) as u64).min(count.into()) as u32,
                None => count,
            };
            let mut batch_full = false;
            if qos == QoS::AtMostOnce || window - inflight.count >= refill {
                let now = stats::now_ns();
                while seq < allowed {
                    if conn.tx.len() >= BATCH_BYTES {
                        batch_full = true;
                        break;
                    }
                    if qos != QoS::AtMostOnce {
                        match inflight.take(window) {
                            Some(id) => template.packet_id = Some(id),
                            None => break,
                        }
                    }
                    let n = template
                        .encode_header(version, &mut header)
                        .map_err(io::Error::other)?;
                    let mut stamp = [0u8; STAMP_LEN];
                    stats::stamp(&mut stamp, index, seq, now);
                    conn.tx.extend_from_slice(&header[..n]);
                    conn.tx.extend_from_slice(&stamp);
                    conn.tx.extend_from_slice(&filler);
                    seq += 1;
                }
            }
            conn.flush().await?;
            if seq == count && inflight.count == 0 {
                return Ok(());
            }
            if batch_full {
                continue;
            }
            if qos == QoS::AtMostOnce {
                let wake = (Instant::now() + TICK).min(conn.deadline());
                sleep_until(wake).await;
                if wake == conn.deadline() {
                    return Err(timed_out());
                }
                continue;
            }
            let waiting = if rate.is_some() && seq < count {
                timeout(TICK, conn.read_more()).await.unwrap_or(Ok(()))
            } else {
                conn.read_more().await
            };
            waiting?;
            handle_acks(&mut conn, &mut inflight)?;
        }
    }
    .await;
    if result.is_ok() {
        conn.disconnect().await;
    }
    (u64::from(seq), result)
}

/// Handles what a publisher received: frees completed identifiers, answers PUBREC.
fn handle_acks(conn: &mut Conn, inflight: &mut Inflight) -> io::Result<()> {
    while let Some(packet) = conn.try_packet()? {
        let ack = match &packet {
            Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubComp(a) => a,
            Packet::PingResp => continue,
            other => return Err(unexpected(other)),
        };
        if ack.reason_code.is_error() {
            return Err(io::Error::other(format!(
                "broker refused PUBLISH {}: {}",
                ack.packet_id.get(),
                ack.reason_code.description()
            )));
        }
        if let Packet::PubRec(a) = &packet {
            conn.queue(&Packet::PubRel(PublishAck::new(a.packet_id)))?;
        } else if !inflight.release(ack.packet_id) {
            return Err(io::Error::other(format!(
                "acknowledgment of unknown packet id {}",
                ack.packet_id.get()
            )));
        }
    }
    Ok(())
}

/// What a subscriber saw.
struct SubSeen {
    tracker: Tracker,
    latencies: Vec<u64>,
    last_rx: Option<Instant>,
}

/// Receives and acknowledges until every expected message came, or until `drain` passed
/// without a delivery after the publishers finished (`done`).
async fn subscriber(
    mut conn: Conn,
    tracker: Tracker,
    done: Arc<OnceLock<Instant>>,
    drain: Duration,
    keep_latency: bool,
) -> (SubSeen, io::Result<()>) {
    let mut seen = SubSeen {
        tracker,
        latencies: Vec::new(),
        last_rx: None,
    };
    let mut pending_rel = 0usize;
    let mut complete_at = None;
    let result = async {
        loop {
            let mut got = false;
            while let Some(packet) = conn.try_packet()? {
                match packet {
                    Packet::Publish(p) => {
                        got = true;
                        let sent = seen.tracker.record(&p.payload);
                        if let (true, Some(sent)) = (keep_latency, sent) {
                            seen.latencies.push(stats::now_ns().saturating_sub(sent));
                        }
                        match (p.qos, p.packet_id) {
                            (QoS::AtLeastOnce, Some(id)) => {
                                conn.queue(&Packet::PubAck(PublishAck::new(id)))?;
                            }
                            (QoS::ExactlyOnce, Some(id)) => {
                                pending_rel += 1;
                                conn.queue(&Packet::PubRec(PublishAck::new(id)))?;
                            }
                            _ => {}
                        }
                    }
                    Packet::PubRel(a) => {
                        pending_rel = pending_rel.saturating_sub(1);
                        conn.queue(&Packet::PubComp(PublishAck::new(a.packet_id)))?;
                    }
                    Packet::PingResp => {}
                    other => return Err(unexpected(&other)),
                }
            }
            if got {
                seen.last_rx = Some(Instant::now());
            }
            conn.flush().await?;
            if seen.tracker.unique() >= seen.tracker.expected() {
                // Everything came; give the last QoS 2 exchanges `drain` to complete.
                let complete = *complete_at.get_or_insert_with(Instant::now);
                if pending_rel == 0 || complete.elapsed() >= drain {
                    if pending_rel > 0 {
                        eprintln!("myqtt-bench: {pending_rel} PUBREL never came");
                    }
                    return Ok(());
                }
            }
            match timeout(IDLE_CHECK, conn.read_more()).await {
                Ok(read) => read?,
                Err(_) => {
                    let quiet_since = seen.last_rx.max(done.get().copied());
                    if done.get().is_some() && quiet_since.is_some_and(|t| t.elapsed() >= drain) {
                        return Ok(());
                    }
                }
            }
        }
    }
    .await;
    if result.is_ok() {
        conn.disconnect().await;
    }
    (seen, result)
}
