//! The durable client store: [`ClientStore`], where an MQTT client keeps its session state
//! across process restarts (MyQtt's and paho's client storage path).
//!
//! The sans-IO client describes every change to its persistent state as a
//! [`ClientStoreOp`] (see its docs for what is stored and the durability rule). The runtime
//! drains the operations of one step and hands them to [`ClientStore::apply`]: **one redb write
//! transaction** committed with [`Durability::Immediate`] (fsync), so when it returns `Ok` the
//! whole batch is on disk, and on `Err` none of it is. Only then may the step's bytes be sent
//! and its events delivered. After a restart, [`ClientStore::load`] returns the
//! [`ClientSnapshot`] for [`Client::restore`](myqtt_proto::client::Client::restore).
//!
//! # Files
//!
//! [`ClientStore::open`] creates the directory the user chose if needed, and one file in it,
//! [`ClientStore::FILE_NAME`]. Client identifiers are only keys inside that file, never file
//! names, so no client id can reach outside the directory (MyQtt had a path traversal bug
//! there). Several client ids may share one file; a file is open in one process, by one
//! [`ClientStore`], at a time (redb locks it).
//!
//! # Layout
//!
//! | table                 | key                                 | value                       |
//! |-----------------------|-------------------------------------|-----------------------------|
//! | `meta`                | `"format"`                          | format version, `u64` (1)   |
//! | `client_publishes`    | client id ‖ 0 ‖ seq (u64 BE)        | stage, packet id, PUBLISH   |
//! | `client_inbound_qos2` | client id ‖ 0 ‖ packet id (u16 BE)  | empty                       |
//!
//! MQTT strings never contain U+0000, so one client's rows are the key range
//! `[id ‖ 0x00, id ‖ 0x01)`. A publish value is the format byte (1), the stage (0 queued,
//! 1 awaiting PUBACK, 2 awaiting PUBREC, 3 awaiting PUBCOMP), the packet identifier as u16 BE
//! (0 while queued), then the message as an MQTT 5.0 PUBLISH packet encoded by the
//! `myqtt-proto` codec (topic, payload, QoS, RETAIN and every property). Decoding never panics
//! on damaged bytes: [`ClientStore::load`] returns [`StoreError::Corrupt`].

use std::fmt;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use myqtt_proto::client::{ClientSnapshot, ClientStoreOp, StoredPublish, StoredStage};
use myqtt_proto::codec::{MqttString, Packet, PacketId, ProtocolVersion, Publish, QoS};
use myqtt_proto::session::OutboundStage;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::store::{StoreError, open_database};

const FORMAT_VERSION: u64 = 1;
/// First byte of every publish value.
const VALUE_FORMAT: u8 = 1;
/// Offset of the stage byte in a publish value; the packet id follows it.
const STAGE_OFFSET: usize = 1;
/// Length of the value header: format, stage, packet id.
const HEADER_LEN: usize = 4;

const PUBLISHES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("client_publishes");
const INBOUND_QOS2: TableDefinition<&[u8], &[u8]> = TableDefinition::new("client_inbound_qos2");

/// A durable client session store: one redb file in a directory. See the
/// [module docs](self) for durability and layout.
///
/// The calls block on disk I/O (`apply` on an fsync); async runtimes call them from a blocking
/// thread.
pub struct ClientStore {
    db: Database,
    path: PathBuf,
}

impl fmt::Debug for ClientStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ClientStore {
    /// Name of the database file inside the directory.
    pub const FILE_NAME: &'static str = "client.redb";

    /// Opens the store in `dir`, creating the directory and [`FILE_NAME`](Self::FILE_NAME) if
    /// needed. A file left by a crash is repaired by redb on open, keeping every batch whose
    /// [`apply`](Self::apply) returned `Ok`. Fails with [`StoreError::Database`] if the file is
    /// open elsewhere, [`StoreError::UnsupportedVersion`] for a newer format.
    pub fn open(dir: &Path) -> Result<ClientStore, StoreError> {
        let (db, path) = open_database(dir, Self::FILE_NAME, FORMAT_VERSION, |txn| {
            txn.open_table(PUBLISHES)?;
            txn.open_table(INBOUND_QOS2)?;
            Ok(())
        })?;
        Ok(ClientStore { db, path })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies the operations of `client_id` in order, in one write transaction committed with
    /// fsync, with the semantics of [`ClientSnapshot::apply`]. When this returns `Ok` the batch
    /// is durable; on `Err` none of it was applied. An empty batch does nothing.
    pub fn apply(
        &mut self,
        client_id: &MqttString,
        ops: &[ClientStoreOp],
    ) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut publishes = txn.open_table(PUBLISHES)?;
            let mut inbound = txn.open_table(INBOUND_QOS2)?;
            let mut value = Vec::new();
            for op in ops {
                value.clear();
                match op {
                    ClientStoreOp::PublishAdd { seq, publish } => {
                        encode_publish(&mut value, publish, StoredStage::Queued)?;
                        publishes.insert(
                            key(client_id, &seq.to_be_bytes()).as_slice(),
                            value.as_slice(),
                        )?;
                    }
                    ClientStoreOp::PublishSent { seq, packet_id } => {
                        let k = key(client_id, &seq.to_be_bytes());
                        if let Some(v) = publishes.get(k.as_slice())? {
                            value.extend_from_slice(v.value());
                        }
                        if !value.is_empty() {
                            let publish = decode_publish(&value).map_err(|e| context(e, &k))?;
                            let stage = match publish.publish.qos {
                                QoS::ExactlyOnce => OutboundStage::AwaitPubRec,
                                _ => OutboundStage::AwaitPubAck,
                            };
                            set_stage(&mut value, stage, *packet_id);
                            publishes.insert(k.as_slice(), value.as_slice())?;
                        }
                    }
                    ClientStoreOp::PublishReleased { seq } => {
                        let k = key(client_id, &seq.to_be_bytes());
                        if let Some(v) = publishes.get(k.as_slice())? {
                            value.extend_from_slice(v.value());
                        }
                        if !value.is_empty() {
                            let stored = decode_publish(&value).map_err(|e| context(e, &k))?;
                            if let StoredStage::InFlight { packet_id, .. } = stored.stage {
                                set_stage(&mut value, OutboundStage::AwaitPubComp, packet_id);
                                publishes.insert(k.as_slice(), value.as_slice())?;
                            }
                        }
                    }
                    ClientStoreOp::PublishRemove { seq } => {
                        publishes.remove(key(client_id, &seq.to_be_bytes()).as_slice())?;
                    }
                    ClientStoreOp::InboundQos2 { packet_id, pending } => {
                        let k = key(client_id, &packet_id.get().to_be_bytes());
                        if *pending {
                            inbound.insert(k.as_slice(), [].as_slice())?;
                        } else {
                            inbound.remove(k.as_slice())?;
                        }
                    }
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Everything stored for `client_id` (empty if nothing is), for
    /// [`Client::restore`](myqtt_proto::client::Client::restore).
    pub fn load(&self, client_id: &MqttString) -> Result<ClientSnapshot, StoreError> {
        let txn = self.db.begin_read()?;
        let (start, end) = range(client_id);
        let mut snapshot = ClientSnapshot::default();
        for row in txn
            .open_table(PUBLISHES)?
            .range::<&[u8]>(start.as_slice()..end.as_slice())?
        {
            let (k, v) = row?;
            let (k, v) = (k.value(), v.value());
            let seq = rest(k, start.len())
                .and_then(|r| {
                    <[u8; 8]>::try_from(r)
                        .map(u64::from_be_bytes)
                        .map_err(|_| corrupt("sequence number is not 8 bytes"))
                })
                .map_err(|e| context(e, k))?;
            let stored = decode_publish(v).map_err(|e| context(e, k))?;
            snapshot.publishes.insert(seq, stored);
        }
        for row in txn
            .open_table(INBOUND_QOS2)?
            .range::<&[u8]>(start.as_slice()..end.as_slice())?
        {
            let (k, v) = row?;
            let k = k.value();
            let id = rest(k, start.len())
                .and_then(|r| {
                    <[u8; 2]>::try_from(r)
                        .ok()
                        .and_then(|b| PacketId::new(u16::from_be_bytes(b)))
                        .ok_or_else(|| corrupt("packet identifier is not a non-zero u16"))
                })
                .map_err(|e| context(e, k))?;
            if !v.value().is_empty() {
                return Err(context(corrupt("inbound QoS 2 row has a value"), k));
            }
            snapshot.inbound_qos2.insert(id);
        }
        Ok(snapshot)
    }
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

/// Adds the key to a decoding error.
fn context(e: StoreError, key: &[u8]) -> StoreError {
    match e {
        StoreError::Corrupt(what) => {
            StoreError::Corrupt(format!("client store row {}: {what}", key.escape_ascii()))
        }
        other => other,
    }
}

/// `client id ‖ 0x00 ‖ rest`.
fn key(client_id: &MqttString, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(client_id.len() + 1 + rest.len());
    k.extend_from_slice(client_id.as_bytes());
    k.push(0);
    k.extend_from_slice(rest);
    k
}

/// The key range `[id ‖ 0x00, id ‖ 0x01)` of one client's rows.
fn range(client_id: &MqttString) -> (Vec<u8>, Vec<u8>) {
    let start = key(client_id, &[]);
    let mut end = start.clone();
    if let Some(last) = end.last_mut() {
        *last = 1;
    }
    (start, end)
}

/// The part of `key` after the `prefix_len` bytes of `id ‖ 0x00`.
fn rest(key: &[u8], prefix_len: usize) -> Result<&[u8], StoreError> {
    key.get(prefix_len..)
        .ok_or_else(|| corrupt("key shorter than its client id"))
}

fn stage_code(stage: StoredStage) -> (u8, u16) {
    match stage {
        StoredStage::Queued => (0, 0),
        StoredStage::InFlight { packet_id, stage } => (
            match stage {
                OutboundStage::AwaitPubAck => 1,
                OutboundStage::AwaitPubRec => 2,
                OutboundStage::AwaitPubComp => 3,
            },
            packet_id.get(),
        ),
    }
}

/// Rewrites the stage and packet id of an encoded (and checked) publish value.
fn set_stage(value: &mut [u8], stage: OutboundStage, packet_id: PacketId) {
    let (code, id) = stage_code(StoredStage::InFlight { packet_id, stage });
    value[STAGE_OFFSET] = code;
    value[STAGE_OFFSET + 1..HEADER_LEN].copy_from_slice(&id.to_be_bytes());
}

fn encode_publish(
    out: &mut Vec<u8>,
    publish: &Publish,
    stage: StoredStage,
) -> Result<(), StoreError> {
    let (code, id) = stage_code(stage);
    out.push(VALUE_FORMAT);
    out.push(code);
    out.extend_from_slice(&id.to_be_bytes());
    let mut p = publish.clone();
    p.dup = false;
    // The PUBLISH encoding needs an id for QoS 1/2; the header holds the real one.
    p.packet_id = (p.qos != QoS::AtMostOnce).then_some(PacketId::MIN);
    p.encode_to(ProtocolVersion::V5, out)
        .map(|_| ())
        .map_err(|e| StoreError::Unencodable(format!("publish: {e}")))
}

fn decode_publish(value: &[u8]) -> Result<StoredPublish, StoreError> {
    let header = value
        .get(..HEADER_LEN)
        .ok_or_else(|| corrupt("publish value shorter than its header"))?;
    if header[0] != VALUE_FORMAT {
        return Err(corrupt(format!("unknown value format {}", header[0])));
    }
    let id = u16::from_be_bytes([header[2], header[3]]);
    let in_flight = |stage| {
        PacketId::new(id)
            .map(|packet_id| StoredStage::InFlight { packet_id, stage })
            .ok_or_else(|| corrupt("publish in flight with packet identifier 0"))
    };
    let stage = match header[STAGE_OFFSET] {
        0 => StoredStage::Queued,
        1 => in_flight(OutboundStage::AwaitPubAck)?,
        2 => in_flight(OutboundStage::AwaitPubRec)?,
        3 => in_flight(OutboundStage::AwaitPubComp)?,
        other => return Err(corrupt(format!("unknown publish stage {other}"))),
    };
    let mut buf = BytesMut::from(&value[HEADER_LEN..]);
    let mut publish = match Packet::decode(&mut buf, ProtocolVersion::V5, usize::MAX) {
        Ok(Packet::Publish(p)) if buf.is_empty() => p,
        Ok(_) => return Err(corrupt("stored packet is not exactly one PUBLISH")),
        Err(e) => return Err(corrupt(format!("stored PUBLISH: {e}"))),
    };
    if publish.qos == QoS::AtMostOnce {
        return Err(corrupt("stored publish has QoS 0"));
    }
    publish.packet_id = None;
    Ok(StoredPublish { publish, stage })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Damaged values are errors, never panics.
    #[test]
    fn damaged_values_do_not_decode() {
        let mut p = Publish::new(
            myqtt_proto::topic::TopicName::try_from("t").unwrap(),
            &b"x"[..],
        );
        p.qos = QoS::AtLeastOnce;
        let mut good = Vec::new();
        encode_publish(&mut good, &p, StoredStage::Queued).unwrap();
        assert!(decode_publish(&good).is_ok());
        for len in 0..good.len() {
            assert!(decode_publish(&good[..len]).is_err(), "truncated to {len}");
        }
        let mut bad_stage = good.clone();
        bad_stage[STAGE_OFFSET] = 9;
        assert!(decode_publish(&bad_stage).is_err());
        let mut zero_id = good.clone();
        zero_id[STAGE_OFFSET] = 1;
        assert!(decode_publish(&zero_id).is_err());
        let mut trailing = good;
        trailing.push(0);
        assert!(decode_publish(&trailing).is_err());
    }
}
