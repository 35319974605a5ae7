//! Durable storage for the server: the broker's store operations are committed by a dedicated
//! thread on a [`RedbStore`] (MyQtt's `storage_set_path`), with group commit: batches that
//! queue up while one commits are committed together, then the actor is told which store mark
//! is durable so held acknowledgments can go out (`Durability::Strict`).

use std::path::Path;
use std::sync::mpsc as std_mpsc;

use futures_channel::mpsc;
use myqtt_proto::store::{SessionStore, StoreOp, StoreSnapshot};
use tracing::error;

use crate::store::{RedbStore, StoreError};

/// Opens the store in `dir` and loads what it holds.
pub(crate) fn open(dir: &Path) -> Result<(RedbStore, StoreSnapshot), StoreError> {
    let store = RedbStore::open(dir)?;
    let snapshot = store.load()?;
    Ok((store, snapshot))
}

/// Where the actor sends `(ops, mark)` batches.
pub(crate) type BatchSender = std_mpsc::Sender<(Vec<StoreOp>, u64)>;

/// Starts the commit thread; returns where to send batches and the thread, which ends (after
/// committing everything sent) when the sender is dropped. After each commit the thread sends
/// the store mark that is now durable to `durable` (unbounded: a plain thread cannot wait on
/// an async channel, and there is at most one mark per commit).
pub(crate) fn spawn(
    mut store: RedbStore,
    durable: mpsc::UnboundedSender<u64>,
) -> std::io::Result<(BatchSender, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std_mpsc::channel::<(Vec<StoreOp>, u64)>();
    let thread = std::thread::Builder::new()
        .name("myqtt-store".into())
        .spawn(move || {
            while let Ok((mut ops, mut mark)) = rx.recv() {
                // Group commit: take everything that queued meanwhile.
                while let Ok((more, m)) = rx.try_recv() {
                    ops.extend(more);
                    mark = m;
                }
                match store.apply(&ops) {
                    Ok(()) => {
                        // The actor may be gone (shutting down): keep committing what is left.
                        let _ = durable.unbounded_send(mark);
                    }
                    // Acknowledgments that wait for this batch stay held: clients retry, and
                    // nothing is claimed durable that is not.
                    Err(e) => error!("store commit failed: {e}"),
                }
            }
        })?;
    Ok((tx, thread))
}
