//! Durable storage for the server: the broker's store operations are committed by a dedicated
//! thread on a [`RedbStore`] (MyQtt's `storage_set_path`), with group commit: batches that
//! queue up while one commits are committed together, then the actor is told which store mark
//! is durable so held acknowledgments can go out (`Durability::Strict`). The thread logs its
//! group-commit statistics ([`CommitStats`]) at `info`.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use futures_channel::mpsc;
use myqtt_proto::store::{SessionStore, StoreOp, StoreSnapshot};
use tracing::{error, info};

use crate::store::{RedbStore, StoreError};

/// Opens the store in `dir` and loads what it holds.
pub(crate) fn open(dir: &Path) -> Result<(RedbStore, StoreSnapshot), StoreError> {
    let store = RedbStore::open(dir)?;
    let snapshot = store.load()?;
    Ok((store, snapshot))
}

/// Where the actor sends `(ops, mark)` batches.
pub(crate) type BatchSender = std_mpsc::Sender<(Vec<StoreOp>, u64)>;

/// How often a busy commit thread logs its statistics.
const STATS_PERIOD: Duration = Duration::from_secs(10);

/// Starts the commit thread of domain `domain` (`None`: the default one); returns where to
/// send batches and the thread, which ends (after committing everything sent) when the sender
/// is dropped. After each commit the thread sends the store mark that is now durable to
/// `durable` (unbounded: a plain thread cannot wait on an async channel, and there is at most
/// one mark per commit).
pub(crate) fn spawn(
    mut store: RedbStore,
    durable: mpsc::UnboundedSender<u64>,
    domain: Option<Arc<str>>,
) -> std::io::Result<(BatchSender, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std_mpsc::channel::<(Vec<StoreOp>, u64)>();
    let thread = std::thread::Builder::new()
        .name("myqtt-store".into())
        .spawn(move || {
            let mut stats = CommitStats::new(domain);
            while let Ok((mut ops, mut mark)) = rx.recv() {
                // Group commit: take everything that queued meanwhile.
                while let Ok((more, m)) = rx.try_recv() {
                    ops.extend(more);
                    mark = m;
                }
                let started = Instant::now();
                let applied = store.apply(&ops);
                stats.record(ops.len(), started);
                match applied {
                    Ok(()) => {
                        // The actor may be gone (shutting down): keep committing what is left.
                        let _ = durable.unbounded_send(mark);
                    }
                    // Acknowledgments that wait for this batch stay held: clients retry, and
                    // nothing is claimed durable that is not.
                    Err(e) => error!("store commit failed: {e}"),
                }
                stats.log_every_period();
            }
            stats.log();
        })?;
    Ok((tx, thread))
}

/// Group-commit statistics of a commit thread since it started: how many commits (one redb
/// transaction each), how many operations they carried, the largest batch and the time spent
/// committing. Logged every [`STATS_PERIOD`] while commits happen and when the thread ends.
struct CommitStats {
    /// The domain, for the log (`None`: the default one).
    domain: Option<Arc<str>>,
    /// Transactions committed (or attempted).
    commits: u64,
    /// Operations in them.
    ops: u64,
    /// The largest number of operations in one commit.
    max_ops: usize,
    /// Time spent in commits.
    busy: Duration,
    /// `commits` at the last log line.
    logged_commits: u64,
    /// When the last line was logged (or the thread started).
    logged_at: Instant,
}

impl CommitStats {
    /// No commits yet.
    fn new(domain: Option<Arc<str>>) -> Self {
        CommitStats {
            domain,
            commits: 0,
            ops: 0,
            max_ops: 0,
            busy: Duration::ZERO,
            logged_commits: 0,
            logged_at: Instant::now(),
        }
    }

    /// Counts one commit of `ops` operations that started at `started` and just ended.
    fn record(&mut self, ops: usize, started: Instant) {
        self.commits += 1;
        self.ops += ops as u64;
        self.max_ops = self.max_ops.max(ops);
        self.busy += started.elapsed();
    }

    /// Logs the totals if [`STATS_PERIOD`] passed since the last line.
    fn log_every_period(&mut self) {
        if self.logged_at.elapsed() >= STATS_PERIOD {
            self.log();
        }
    }

    /// Logs the totals at `info`, if something was committed since the last line.
    fn log(&mut self) {
        self.logged_at = Instant::now();
        if self.commits == self.logged_commits {
            return;
        }
        self.logged_commits = self.commits;
        let commits = self.commits as f64;
        info!(
            domain = self.domain.as_deref().unwrap_or("-"),
            "store commits: {} commits, {} ops, mean {:.1} ops/commit, max {}, \
             mean commit {:.2} ms, {:.3} s committing",
            self.commits,
            self.ops,
            self.ops as f64 / commits,
            self.max_ops,
            self.busy.as_secs_f64() * 1e3 / commits,
            self.busy.as_secs_f64(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_stats_count_batches_and_log_only_news() {
        let mut stats = CommitStats::new(None);
        let started = Instant::now();
        stats.record(3, started);
        stats.record(10, started);
        stats.record(0, started);
        assert_eq!((stats.commits, stats.ops, stats.max_ops), (3, 13, 10));
        stats.log();
        assert_eq!(stats.logged_commits, 3);
        // Nothing new: no line, but the period starts again.
        let before = stats.logged_at;
        stats.log();
        assert_eq!(stats.logged_commits, 3);
        assert!(stats.logged_at >= before);
    }
}
