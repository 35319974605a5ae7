//! Durable storage for the server: the broker's store operations are committed by a dedicated
//! thread on a [`RedbStore`] (MyQtt's `storage_set_path`), with group commit: batches that
//! queue up while one commits are committed together, then the actor is told which store mark
//! is durable so held acknowledgments can go out (`Durability::Strict`).

use std::path::Path;
use std::sync::mpsc as std_mpsc;

use myqtt_host::store::{RedbStore, StoreError};
use myqtt_proto::store::{SessionStore, StoreOp, StoreSnapshot};
use tokio::sync::mpsc;
use tracing::error;

use super::actor::Command;

/// Opens the store in `dir` and loads what it holds.
pub(crate) fn open(dir: &Path) -> Result<(RedbStore, StoreSnapshot), StoreError> {
    let store = RedbStore::open(dir)?;
    let snapshot = store.load()?;
    Ok((store, snapshot))
}

/// Where the actor sends `(ops, mark)` batches.
pub(crate) type BatchSender = std_mpsc::Sender<(Vec<StoreOp>, u64)>;

/// Starts the commit thread; returns where to send batches and the thread, which ends (after
/// committing everything sent) when the sender is dropped.
pub(crate) fn spawn(
    mut store: RedbStore,
    actor: mpsc::Sender<Command>,
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
                        let _ = actor.blocking_send(Command::Durable { mark });
                    }
                    // Acknowledgments that wait for this batch stay held: clients retry, and
                    // nothing is claimed durable that is not.
                    Err(e) => error!("store commit failed: {e}"),
                }
            }
        })?;
    Ok((tx, thread))
}
