//! The durable session store: [`RedbStore`], a [`SessionStore`] on [`redb`].
//!
//! # Batching and durability
//!
//! The broker describes every change to persistent state as a [`StoreOp`] (DESIGN §3,
//! "Storage"). The runtime collects the operations of one turn of its loop and hands them to
//! [`RedbStore::apply`](SessionStore::apply) in one call. Each call is **one redb write
//! transaction** committed with [`Durability::Immediate`]: the operations are applied in order,
//! with exactly the semantics of [`StoreSnapshot::apply`], and when `apply` returns `Ok` they are
//! on disk (fsynced) and survive a crash or `kill -9`. This is group commit: one fsync pays for
//! every operation of the batch, however many clients they came from, so the runtime should
//! batch as much as it has and only then report the batch durable to the broker (a QoS 1/2
//! PUBACK waits for that when durability is on).
//!
//! A batch is atomic: if an operation fails (a message that cannot be encoded, an I/O error), the
//! transaction is dropped and none of the batch is applied. redb's copy-on-write B-trees with
//! checksummed commit slots keep the file consistent if the process dies mid-commit: after a
//! restart the store holds exactly the batches whose `apply` returned `Ok`, and perhaps the one
//! in progress, never a part of one.
//!
//! [`load`](SessionStore::load) reads everything in one read transaction into a
//! [`StoreSnapshot`] for [`Broker::restore`](myqtt_proto::broker::Broker::restore). Call
//! [`StoreSnapshot::drop_expired`] on it first if messages should expire across the downtime.
//!
//! # Files
//!
//! [`RedbStore::open`] creates the data directory if needed and one file inside it,
//! [`RedbStore::FILE_NAME`]. Client identifiers and topics are only ever keys inside that file,
//! never file or directory names, so a client id such as `../../etc` cannot reach outside the
//! directory (a path traversal bug MyQtt had with its one-file-per-session store). A directory
//! is open in one process at a time: redb locks the file.
//!
//! # Table layout
//!
//! All tables map bytes to bytes. Per-session keys are `client id ‖ 0x00 ‖ rest`: MQTT strings
//! never contain U+0000, so one session's rows form the key range `[id ‖ 0x00, id ‖ 0x01)`
//! and a session is removed with one range delete per table.
//!
//! | table           | key                                  | value                              |
//! |-----------------|--------------------------------------|------------------------------------|
//! | `meta`          | `"format"` (`&str`)                  | format version, `u64` (1)          |
//! | `sessions`      | client id                            | expiry                             |
//! | `subscriptions` | client id ‖ 0 ‖ topic filter         | options byte, identifier           |
//! | `queue`         | client id ‖ 0 ‖ sequence (u64 BE)    | delivery                           |
//! | `inflight`      | client id ‖ 0 ‖ packet id (u16 BE)   | stage, delivery                    |
//! | `inbound_qos2`  | client id ‖ 0 ‖ packet id (u16 BE)   | empty                              |
//! | `retained`      | topic name                           | message                            |
//!
//! A session is in `sessions` whenever [`StoreSnapshot`] would hold an entry for it, with the
//! expiry still unknown if only a subscription, queued message or inbound QoS 2 id created it.
//!
//! # Value encoding
//!
//! Every value starts with a format byte (1), so the encoding can evolve. Integers are
//! big-endian.
//!
//! - expiry: tag 0 (not yet known), 1 (on close), 2 (after, then u64 milliseconds), 3 (never);
//! - subscription: the MQTT 5.0 options byte (§3.8.3.1), then the Subscription Identifier as
//!   u32, 0 for none;
//! - message: a flags byte (bit 0: expiry follows, bit 1: origin follows), the expiry instant as
//!   u64 milliseconds, the origin client id as u16 length + UTF-8, then the message as an MQTT
//!   5.0 PUBLISH packet encoded by the `myqtt-proto` codec to the end of the value (topic,
//!   payload, QoS, RETAIN and every property; QoS 1/2 carry the placeholder packet id 1);
//! - delivery: QoS, RETAIN (0/1), the count of subscription identifiers as u32 and each as u32,
//!   then the message;
//! - inflight: the stage (0 awaiting PUBACK, 1 PUBREC, 2 PUBCOMP) right after the format
//!   byte, then the delivery.
//!
//! Each delivery stores its own copy of the message. Decoding never panics on damaged bytes:
//! [`load`](SessionStore::load) returns [`StoreError::Corrupt`] naming the table and key.

mod keys;
mod value;

use std::fmt;
use std::path::{Path, PathBuf};

use myqtt_proto::codec::{MqttString, QoS};
use myqtt_proto::session::OutboundStage;
use myqtt_proto::store::{SessionStore, StoreOp, StoreSnapshot, StoredSession};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, Table, TableDefinition};

/// Format version of the database, kept in the `meta` table.
const FORMAT_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions");
const SUBSCRIPTIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("subscriptions");
const QUEUE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("queue");
const INFLIGHT: TableDefinition<&[u8], &[u8]> = TableDefinition::new("inflight");
const INBOUND_QOS2: TableDefinition<&[u8], &[u8]> = TableDefinition::new("inbound_qos2");
const RETAINED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("retained");

/// Why a [`RedbStore`] operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("store directory: {0}")]
    Io(#[from] std::io::Error),
    /// The database failed: I/O while reading or committing, a lock held by another process,
    /// damage redb itself detected.
    #[error("store database: {0}")]
    Database(#[from] redb::Error),
    /// Stored bytes do not decode; the message names the table, key and field.
    #[error("store corrupt: {0}")]
    Corrupt(String),
    /// The database was written in a format version this build does not know.
    #[error("store format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    UnsupportedVersion(u64),
    /// An operation carried a value that cannot be stored (a message the MQTT 5.0 codec refuses
    /// to encode, such as one with an empty topic and no alias). The batch was not applied.
    #[error("store: cannot encode {0}")]
    Unencodable(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Database(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// A durable [`SessionStore`]: one redb database file in a data directory.
///
/// Open it once at start with [`RedbStore::open`], [`load`](SessionStore::load) the snapshot for
/// [`Broker::restore`](myqtt_proto::broker::Broker::restore), then
/// [`apply`](SessionStore::apply) each batch of [`StoreOp`]s the broker emits. See the
/// [module docs](self) for batching, durability and the file layout.
///
/// The calls block on disk I/O (`apply` on an fsync); async runtimes call them from a blocking
/// thread.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Opens (creating the directory and file if needed) the redb database `file_name` in `dir`,
/// checks or records its format `version` in the `meta` table, and creates its tables with
/// `create_tables` (so that reads never meet a missing one), all in one durable transaction.
/// Shared by the broker's and the client's stores.
pub(crate) fn open_database(
    dir: &Path,
    file_name: &str,
    version: u64,
    create_tables: impl FnOnce(&redb::WriteTransaction) -> Result<(), StoreError>,
) -> Result<(Database, PathBuf), StoreError> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name);
    let db = Database::create(&path)?;
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut meta = txn.open_table(META)?;
        let found = meta.get("format")?.map(|v| v.value());
        match found {
            None => {
                meta.insert("format", version)?;
            }
            Some(v) if v == version => {}
            Some(other) => return Err(StoreError::UnsupportedVersion(other)),
        }
    }
    create_tables(&txn)?;
    txn.commit()?;
    Ok((db, path))
}

impl RedbStore {
    /// Name of the database file inside the data directory.
    pub const FILE_NAME: &'static str = "myqtt.redb";

    /// Opens the store in `dir`, creating the directory and the database file
    /// ([`FILE_NAME`](Self::FILE_NAME)) if needed.
    ///
    /// A database that was not closed cleanly (crash, `kill -9`) is repaired by redb on open;
    /// every batch whose [`apply`](SessionStore::apply) returned `Ok` is kept. Fails with
    /// [`StoreError::Database`] if another process holds the directory open, and with
    /// [`StoreError::UnsupportedVersion`] for a database written by a newer format.
    pub fn open(dir: &Path) -> Result<RedbStore, StoreError> {
        let (db, path) = open_database(dir, Self::FILE_NAME, FORMAT_VERSION, |txn| {
            for def in [
                SESSIONS,
                SUBSCRIPTIONS,
                QUEUE,
                INFLIGHT,
                INBOUND_QOS2,
                RETAINED,
            ] {
                txn.open_table(def)?;
            }
            Ok(())
        })?;
        Ok(RedbStore { db, path })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl SessionStore for RedbStore {
    type Error = StoreError;

    /// Applies `ops` in order in one write transaction and commits it with fsync (group
    /// commit). When this returns `Ok`, the whole batch is durable; on `Err`, none of it was
    /// applied. An empty batch does nothing.
    fn apply(&mut self, ops: &[StoreOp]) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut tables = Tables {
                sessions: txn.open_table(SESSIONS)?,
                subscriptions: txn.open_table(SUBSCRIPTIONS)?,
                queue: txn.open_table(QUEUE)?,
                inflight: txn.open_table(INFLIGHT)?,
                inbound_qos2: txn.open_table(INBOUND_QOS2)?,
                retained: txn.open_table(RETAINED)?,
                key: Vec::new(),
                value: Vec::new(),
            };
            for op in ops {
                tables.apply(op)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Reads the whole store in one read transaction.
    fn load(&self) -> Result<StoreSnapshot, StoreError> {
        let txn = self.db.begin_read()?;
        let mut snapshot = StoreSnapshot::default();

        for row in txn.open_table(SESSIONS)?.iter()? {
            let (k, v) = row?;
            let (k, v) = (k.value(), v.value());
            let (client_id, expiry) = keys::client_id(k)
                .and_then(|id| Ok((id, value::decode_session(v)?)))
                .map_err(|e| context(e, "sessions", k))?;
            snapshot.sessions.insert(
                client_id,
                StoredSession {
                    expiry,
                    ..StoredSession::default()
                },
            );
        }

        for_session_rows(
            &txn,
            SUBSCRIPTIONS,
            "subscriptions",
            &mut snapshot,
            |s, rest, v| {
                let filter = keys::decode_filter(rest)?;
                s.subscriptions
                    .insert(filter, value::decode_subscription(v)?);
                Ok(())
            },
        )?;
        for_session_rows(&txn, QUEUE, "queue", &mut snapshot, |s, rest, v| {
            s.queue
                .insert(keys::decode_seq(rest)?, value::decode_queued(v)?);
            Ok(())
        })?;
        for_session_rows(&txn, INFLIGHT, "inflight", &mut snapshot, |s, rest, v| {
            s.inflight
                .insert(keys::decode_packet_id(rest)?, value::decode_inflight(v)?);
            Ok(())
        })?;
        for_session_rows(
            &txn,
            INBOUND_QOS2,
            "inbound_qos2",
            &mut snapshot,
            |s, rest, v| {
                value::decode_inbound(v)?;
                s.inbound_qos2.insert(keys::decode_packet_id(rest)?);
                Ok(())
            },
        )?;

        for row in txn.open_table(RETAINED)?.iter()? {
            let (k, v) = row?;
            let (k, v) = (k.value(), v.value());
            let decode = || {
                let topic = keys::decode_topic(k)?;
                let message = value::decode_retained(v)?;
                if message.topic != topic {
                    return Err(StoreError::Corrupt(format!(
                        "message topic {:?} differs from its key",
                        message.topic.as_str()
                    )));
                }
                Ok((topic, message))
            };
            let (topic, message) = decode().map_err(|e| context(e, "retained", k))?;
            snapshot.retained.insert(topic, message.into());
        }
        Ok(snapshot)
    }
}

/// Adds the table and key to a decoding error.
fn context(e: StoreError, table: &str, key: &[u8]) -> StoreError {
    match e {
        StoreError::Corrupt(what) => {
            StoreError::Corrupt(format!("{table} row {}: {what}", key.escape_ascii()))
        }
        other => other,
    }
}

/// Decodes every row of a per-session table into its session, which must exist.
fn for_session_rows(
    txn: &redb::ReadTransaction,
    def: TableDefinition<'static, &'static [u8], &'static [u8]>,
    name: &str,
    snapshot: &mut StoreSnapshot,
    mut f: impl FnMut(&mut StoredSession, &[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    for row in txn.open_table(def)?.iter()? {
        let (k, v) = row?;
        let (k, v) = (k.value(), v.value());
        let mut decode = |snapshot: &mut StoreSnapshot| {
            let (client_id, rest) = keys::split(k)?;
            let session = snapshot.sessions.get_mut(&client_id).ok_or_else(|| {
                StoreError::Corrupt("row of a session missing from `sessions`".into())
            })?;
            f(session, rest, v)
        };
        decode(snapshot).map_err(|e| context(e, name, k))?;
    }
    Ok(())
}

type BytesTable<'txn> = Table<'txn, &'static [u8], &'static [u8]>;

/// The tables of one write transaction, with scratch buffers for keys and values.
struct Tables<'txn> {
    sessions: BytesTable<'txn>,
    subscriptions: BytesTable<'txn>,
    queue: BytesTable<'txn>,
    inflight: BytesTable<'txn>,
    inbound_qos2: BytesTable<'txn>,
    retained: BytesTable<'txn>,
    key: Vec<u8>,
    value: Vec<u8>,
}

impl Tables<'_> {
    /// Creates the session row (with no expiry yet) if it does not exist, as
    /// `StoreSnapshot::apply` does with `entry(..).or_default()`.
    fn ensure_session(&mut self, client_id: &MqttString) -> Result<(), StoreError> {
        let key = client_id.as_str().as_bytes();
        if self.sessions.get(key)?.is_none() {
            self.value.clear();
            value::encode_session(&mut self.value, None);
            self.sessions.insert(key, self.value.as_slice())?;
        }
        Ok(())
    }

    /// One operation, with the semantics of [`StoreSnapshot::apply`].
    fn apply(&mut self, op: &StoreOp) -> Result<(), StoreError> {
        self.value.clear();
        match op {
            StoreOp::SessionUpsert { client_id, expiry } => {
                value::encode_session(&mut self.value, Some(*expiry));
                self.sessions
                    .insert(client_id.as_str().as_bytes(), self.value.as_slice())?;
            }
            StoreOp::SessionRemove { client_id } => {
                self.sessions.remove(client_id.as_str().as_bytes())?;
                let (start, end) = keys::session_range(client_id);
                for table in [
                    &mut self.subscriptions,
                    &mut self.queue,
                    &mut self.inflight,
                    &mut self.inbound_qos2,
                ] {
                    table.retain_in::<&[u8], _>(start.as_slice()..end.as_slice(), |_, _| false)?;
                }
            }
            StoreOp::Subscribe {
                client_id,
                filter,
                subscription,
            } => {
                self.ensure_session(client_id)?;
                self.value.clear();
                value::encode_subscription(&mut self.value, subscription);
                let key = keys::session_key(&mut self.key, client_id, filter.as_str().as_bytes());
                self.subscriptions.insert(key, self.value.as_slice())?;
            }
            StoreOp::Unsubscribe { client_id, filter } => {
                let key = keys::session_key(&mut self.key, client_id, filter.as_str().as_bytes());
                self.subscriptions.remove(key)?;
            }
            StoreOp::Enqueue {
                client_id,
                seq,
                delivery,
            } => {
                self.ensure_session(client_id)?;
                self.value.clear();
                value::encode_queued(&mut self.value, delivery)?;
                let key = keys::session_key(&mut self.key, client_id, &keys::seq(*seq));
                self.queue.insert(key, self.value.as_slice())?;
            }
            StoreOp::Dequeue { client_id, seq } => {
                let key = keys::session_key(&mut self.key, client_id, &keys::seq(*seq));
                self.queue.remove(key)?;
            }
            StoreOp::InflightAdd {
                client_id,
                packet_id,
                delivery,
            } => {
                self.ensure_session(client_id)?;
                let stage = match delivery.qos {
                    QoS::ExactlyOnce => OutboundStage::AwaitPubRec,
                    _ => OutboundStage::AwaitPubAck,
                };
                self.value.clear();
                value::encode_inflight(&mut self.value, delivery, stage)?;
                let key = keys::session_key(&mut self.key, client_id, &keys::packet_id(*packet_id));
                self.inflight.insert(key, self.value.as_slice())?;
            }
            StoreOp::InflightReleased {
                client_id,
                packet_id,
            } => {
                let key = keys::session_key(&mut self.key, client_id, &keys::packet_id(*packet_id));
                if let Some(v) = self.inflight.get(key)? {
                    self.value.extend_from_slice(v.value());
                }
                if !self.value.is_empty() {
                    value::check_inflight(&self.value)
                        .map_err(|e| context(e, "inflight", &self.key))?;
                    self.value[value::STAGE_OFFSET] =
                        value::stage_code(OutboundStage::AwaitPubComp);
                    self.inflight
                        .insert(self.key.as_slice(), self.value.as_slice())?;
                }
            }
            StoreOp::InflightDone {
                client_id,
                packet_id,
            } => {
                let key = keys::session_key(&mut self.key, client_id, &keys::packet_id(*packet_id));
                self.inflight.remove(key)?;
            }
            StoreOp::InboundQos2 {
                client_id,
                packet_id,
                pending,
            } => {
                self.ensure_session(client_id)?;
                let key = keys::session_key(&mut self.key, client_id, &keys::packet_id(*packet_id));
                if *pending {
                    self.inbound_qos2.insert(key, [].as_slice())?;
                } else {
                    self.inbound_qos2.remove(key)?;
                }
            }
            StoreOp::RetainSet { message } => {
                if message.topic.is_empty() {
                    // It would be stored under a key that does not load back as a topic.
                    return Err(StoreError::Unencodable(
                        "retained message with an empty topic".into(),
                    ));
                }
                value::encode_retained(&mut self.value, message)?;
                self.retained
                    .insert(message.topic.as_str().as_bytes(), self.value.as_slice())?;
            }
            StoreOp::RetainClear { topic } => {
                self.retained.remove(topic.as_str().as_bytes())?;
            }
        }
        Ok(())
    }
}
