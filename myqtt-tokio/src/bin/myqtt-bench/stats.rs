//! Measurements: CPU and memory from `/proc`, the payload stamp, loss and duplicate tracking,
//! percentiles, and the one-line JSON report.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on every Linux port that
/// matters).
const TICKS_PER_S: f64 = 100.0;

/// Bytes of the stamp at the front of every payload: publisher (u32), sequence number (u32),
/// send time in nanoseconds since [`epoch`] (u64), all little-endian.
pub(crate) const STAMP_LEN: usize = 16;

/// The time origin of payload send times (the first call).
pub(crate) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`].
pub(crate) fn now_ns() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Writes the stamp of message `seq` of `publisher`, sent at `sent_ns`, into `out`.
pub(crate) fn stamp(out: &mut [u8; STAMP_LEN], publisher: u32, seq: u32, sent_ns: u64) {
    out[..4].copy_from_slice(&publisher.to_le_bytes());
    out[4..8].copy_from_slice(&seq.to_le_bytes());
    out[8..].copy_from_slice(&sent_ns.to_le_bytes());
}

/// Reads a stamp: `(publisher, seq, sent_ns)`, or `None` if the payload is too short.
pub(crate) fn read_stamp(payload: &[u8]) -> Option<(u32, u32, u64)> {
    let s: &[u8; STAMP_LEN] = payload.get(..STAMP_LEN)?.try_into().ok()?;
    let word = |r: core::ops::Range<usize>| s[r].iter().rev().fold(0u64, |a, b| a << 8 | *b as u64);
    Some((word(0..4) as u32, word(4..8) as u32, word(8..16)))
}

/// Which messages a subscriber received, per publisher: one bit per sequence number.
pub(crate) struct Tracker {
    seen: Vec<Vec<u64>>,
    per_publisher: u32,
    /// Deliveries counted, duplicates included.
    pub(crate) received: u64,
    /// Deliveries of a message already received.
    pub(crate) duplicates: u64,
    /// Deliveries whose stamp names no expected message (foreign traffic on the topics).
    pub(crate) unexpected: u64,
}

impl Tracker {
    /// Expects `per_publisher` messages from each of `publishers`.
    pub(crate) fn new(publishers: u32, per_publisher: u32) -> Tracker {
        let words = (per_publisher as usize).div_ceil(64);
        Tracker {
            seen: (0..publishers).map(|_| vec![0; words]).collect(),
            per_publisher,
            received: 0,
            duplicates: 0,
            unexpected: 0,
        }
    }

    /// Counts one delivered payload; returns its send time.
    pub(crate) fn record(&mut self, payload: &[u8]) -> Option<u64> {
        self.received += 1;
        let per_publisher = self.per_publisher;
        let found = read_stamp(payload).and_then(|(publisher, seq, sent)| {
            let words = self.seen.get_mut(publisher as usize)?;
            let word = words
                .get_mut(seq as usize / 64)
                .filter(|_| seq < per_publisher)?;
            Some((word, 1u64 << (seq % 64), sent))
        });
        let Some((word, bit, sent)) = found else {
            self.unexpected += 1;
            return None;
        };
        if *word & bit != 0 {
            self.duplicates += 1;
        }
        *word |= bit;
        Some(sent)
    }

    /// Distinct expected messages received.
    pub(crate) fn unique(&self) -> u64 {
        self.received - self.duplicates - self.unexpected
    }

    /// Messages expected in all.
    pub(crate) fn expected(&self) -> u64 {
        self.seen.len() as u64 * u64::from(self.per_publisher)
    }
}

/// CPU time and memory of this process and optionally the broker's, at one instant.
#[derive(Clone, Debug)]
pub(crate) struct Usage {
    at: Instant,
    tool_ticks: Option<u64>,
    broker_ticks: Option<u64>,
    broker_rss_kib: Option<u64>,
}

/// Samples `/proc/self/stat` and, with a broker pid, `/proc/<pid>/stat` and `status`.
pub(crate) fn sample(broker: Option<u32>) -> Usage {
    Usage {
        at: Instant::now(),
        tool_ticks: cpu_ticks("self"),
        broker_ticks: broker.and_then(|p| cpu_ticks(&p.to_string())),
        broker_rss_kib: broker.and_then(rss_kib),
    }
}

/// utime + stime of a process, in clock ticks (fields 14 and 15 of `proc_pid_stat(5)`).
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: count from its closing parenthesis,
    // after which field 3 (state) comes first.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size of a process (VmRSS), in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Samples [`Usage`] every 50 ms in the background, so that a window ending at the last
/// delivery can be measured after a quiet drain period.
pub(crate) struct Sampler {
    samples: Arc<Mutex<Vec<Usage>>>,
    task: JoinHandle<()>,
    broker: Option<u32>,
}

impl Sampler {
    /// Starts sampling (the first sample is taken now).
    pub(crate) fn start(broker: Option<u32>) -> Sampler {
        let samples = Arc::new(Mutex::new(vec![sample(broker)]));
        let shared = Arc::clone(&samples);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tick.tick().await;
                let s = sample(broker);
                shared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(s);
            }
        });
        Sampler {
            samples,
            task,
            broker,
        }
    }

    /// Stops sampling; the samples nearest to `from` and `to`.
    pub(crate) fn window(self, from: Instant, to: Instant) -> (Usage, Usage) {
        self.task.abort();
        let mut samples =
            std::mem::take(&mut *self.samples.lock().unwrap_or_else(PoisonError::into_inner));
        samples.push(sample(self.broker));
        let nearest = |t: Instant| {
            let gap = |u: &&Usage| u.at.max(t).duration_since(u.at.min(t));
            samples.iter().min_by_key(gap).cloned()
        };
        let last = samples[samples.len() - 1].clone();
        (
            nearest(from).unwrap_or_else(|| last.clone()),
            nearest(to).unwrap_or(last),
        )
    }
}

/// Cores used between two samples (CPU seconds / wall seconds).
fn cores(a: Option<u64>, b: Option<u64>, wall: f64) -> Option<f64> {
    let ticks = b?.checked_sub(a?)?;
    (wall > 0.0).then(|| round3(ticks as f64 / TICKS_PER_S / wall))
}

/// Rounds to 3 decimals for the report.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The `q` quantile (0..=1) of sorted `values` (nearest rank), or 0 if empty.
pub(crate) fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Puts p50/p90/p99/max of `ns` (nanoseconds, sorted here) as `<name>_p50_ms`... fields.
pub(crate) fn put_percentiles(
    fields: &mut Vec<(&'static str, Value)>,
    keys: [&'static str; 4],
    ns: &mut [u64],
) {
    ns.sort_unstable();
    for (key, q) in keys.into_iter().zip([0.5, 0.9, 0.99, 1.0]) {
        fields.push((key, round3(quantile(ns, q) as f64 / 1e6).into()));
    }
}

/// The JSON result line, its keys in insertion order.
pub(crate) struct Report(Vec<(&'static str, Value)>);

impl Report {
    /// An empty report.
    pub(crate) fn new() -> Report {
        Report(Vec::new())
    }

    /// Appends a field.
    pub(crate) fn put(&mut self, key: &'static str, value: impl Into<Value>) {
        self.0.push((key, value.into()));
    }

    /// Appends the CPU shares over the window `start..end` and the broker's memory at the
    /// start of the run (`before`) and at the end of the window.
    pub(crate) fn usage(&mut self, start: &Usage, end: &Usage, before: &Usage) {
        let wall = end.at.saturating_duration_since(start.at).as_secs_f64();
        self.put("cpu_window_s", round3(wall));
        self.put("tool_cpu", cores(start.tool_ticks, end.tool_ticks, wall));
        if before.broker_ticks.is_some() || before.broker_rss_kib.is_some() {
            self.put(
                "broker_cpu",
                cores(start.broker_ticks, end.broker_ticks, wall),
            );
            self.put("broker_rss_kib_before", before.broker_rss_kib);
            self.put("broker_rss_kib_after", end.broker_rss_kib);
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{}:{v}", Value::from(*k))?;
        }
        f.write_str("}")
    }
}
