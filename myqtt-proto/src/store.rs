//! Storage as data (DESIGN §3): the broker emits [`StoreOp`]s describing every change to
//! persistent state; a [`SessionStore`] applies them (a durable one in batches); at start the
//! runtime loads a [`StoreSnapshot`] and hands it to
//! [`Broker::restore`](crate::broker::Broker::restore).
//!
//! Only sessions that outlive their connection (Clean Session 0, or a 5.0 Session Expiry
//! Interval above zero) and retained messages are stored. Times are [`Instant`]s; a runtime that
//! persists should use a clock whose origin survives restarts (e.g. milliseconds since the UNIX
//! epoch) so that message expiry stays meaningful across them.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::Arc;
use core::convert::Infallible;

use crate::broker::{Delivery, Message, SessionExpiry, SessionSubscription};
use crate::codec::{MqttString, PacketId};
use crate::session::OutboundStage;
use crate::time::Instant;
use crate::topic::{TopicFilter, TopicName};

/// One change to persistent broker state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// A persistent session exists with this expiry (created, resumed, or expiry changed).
    SessionUpsert {
        /// Client identifier.
        client_id: MqttString,
        /// How long it outlives its connection.
        expiry: SessionExpiry,
    },
    /// The session ended; everything stored for it goes.
    SessionRemove {
        /// Client identifier.
        client_id: MqttString,
    },
    /// A subscription was added or replaced.
    Subscribe {
        /// Client identifier.
        client_id: MqttString,
        /// The filter as subscribed (including `$share/...`).
        filter: TopicFilter,
        /// Granted options and identifier.
        subscription: SessionSubscription,
    },
    /// A subscription was removed.
    Unsubscribe {
        /// Client identifier.
        client_id: MqttString,
        /// The filter.
        filter: TopicFilter,
    },
    /// A message was queued for the session (offline, or behind the inflight window).
    Enqueue {
        /// Client identifier.
        client_id: MqttString,
        /// Position in the session's queue; increasing.
        seq: u64,
        /// The message for this session.
        delivery: Delivery,
    },
    /// A queued message left the queue (sent, expired or dropped).
    Dequeue {
        /// Client identifier.
        client_id: MqttString,
        /// Its position.
        seq: u64,
    },
    /// A QoS 1/2 message was sent to the client and awaits its acknowledgment.
    InflightAdd {
        /// Client identifier.
        client_id: MqttString,
        /// Packet identifier used.
        packet_id: PacketId,
        /// The message.
        delivery: Delivery,
    },
    /// A QoS 2 message in flight reached PUBREL (PUBREC received).
    InflightReleased {
        /// Client identifier.
        client_id: MqttString,
        /// Packet identifier.
        packet_id: PacketId,
    },
    /// The handshake of a message in flight completed.
    InflightDone {
        /// Client identifier.
        client_id: MqttString,
        /// Packet identifier.
        packet_id: PacketId,
    },
    /// A QoS 2 message was received from the client and awaits PUBREL (`pending`), or was
    /// released (`!pending`).
    InboundQos2 {
        /// Client identifier.
        client_id: MqttString,
        /// Packet identifier.
        packet_id: PacketId,
        /// Whether it now awaits PUBREL.
        pending: bool,
    },
    /// A retained message was set or replaced.
    RetainSet {
        /// The message (its topic is the key).
        message: Arc<Message>,
    },
    /// A retained message was cleared.
    RetainClear {
        /// The topic.
        topic: TopicName,
    },
}

/// One stored session, as loaded at start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredSession {
    /// Expiry.
    pub expiry: Option<SessionExpiry>,
    /// Subscriptions.
    pub subscriptions: BTreeMap<TopicFilter, SessionSubscription>,
    /// Queued messages in order.
    pub queue: BTreeMap<u64, Delivery>,
    /// Messages in flight, with whether PUBREC was received (QoS 2).
    pub inflight: BTreeMap<PacketId, (Delivery, OutboundStage)>,
    /// QoS 2 packet ids received and awaiting PUBREL.
    pub inbound_qos2: BTreeSet<PacketId>,
}

/// Everything a store holds: input of [`Broker::restore`](crate::broker::Broker::restore).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreSnapshot {
    /// Sessions by client identifier.
    pub sessions: BTreeMap<MqttString, StoredSession>,
    /// Retained messages by topic.
    pub retained: BTreeMap<TopicName, Arc<Message>>,
}

impl StoreSnapshot {
    /// Applies one operation: the reference semantics every store must follow.
    pub fn apply(&mut self, op: StoreOp) {
        match op {
            StoreOp::SessionUpsert { client_id, expiry } => {
                self.sessions.entry(client_id).or_default().expiry = Some(expiry);
            }
            StoreOp::SessionRemove { client_id } => {
                self.sessions.remove(&client_id);
            }
            StoreOp::Subscribe {
                client_id,
                filter,
                subscription,
            } => {
                self.sessions
                    .entry(client_id)
                    .or_default()
                    .subscriptions
                    .insert(filter, subscription);
            }
            StoreOp::Unsubscribe { client_id, filter } => {
                if let Some(s) = self.sessions.get_mut(&client_id) {
                    s.subscriptions.remove(&filter);
                }
            }
            StoreOp::Enqueue {
                client_id,
                seq,
                delivery,
            } => {
                self.sessions
                    .entry(client_id)
                    .or_default()
                    .queue
                    .insert(seq, delivery);
            }
            StoreOp::Dequeue { client_id, seq } => {
                if let Some(s) = self.sessions.get_mut(&client_id) {
                    s.queue.remove(&seq);
                }
            }
            StoreOp::InflightAdd {
                client_id,
                packet_id,
                delivery,
            } => {
                let stage = match delivery.qos {
                    crate::codec::QoS::ExactlyOnce => OutboundStage::AwaitPubRec,
                    _ => OutboundStage::AwaitPubAck,
                };
                self.sessions
                    .entry(client_id)
                    .or_default()
                    .inflight
                    .insert(packet_id, (delivery, stage));
            }
            StoreOp::InflightReleased {
                client_id,
                packet_id,
            } => {
                if let Some((_, stage)) = self
                    .sessions
                    .get_mut(&client_id)
                    .and_then(|s| s.inflight.get_mut(&packet_id))
                {
                    *stage = OutboundStage::AwaitPubComp;
                }
            }
            StoreOp::InflightDone {
                client_id,
                packet_id,
            } => {
                if let Some(s) = self.sessions.get_mut(&client_id) {
                    s.inflight.remove(&packet_id);
                }
            }
            StoreOp::InboundQos2 {
                client_id,
                packet_id,
                pending,
            } => {
                let s = self.sessions.entry(client_id).or_default();
                if pending {
                    s.inbound_qos2.insert(packet_id);
                } else {
                    s.inbound_qos2.remove(&packet_id);
                }
            }
            StoreOp::RetainSet { message } => {
                self.retained.insert(message.topic.clone(), message);
            }
            StoreOp::RetainClear { topic } => {
                self.retained.remove(&topic);
            }
        }
    }

    /// Drops messages that expired by `now` (used when loading).
    pub fn drop_expired(&mut self, now: Instant) {
        self.retained.retain(|_, m| !m.is_expired(now));
        for s in self.sessions.values_mut() {
            s.queue.retain(|_, d| !d.message.is_expired(now));
        }
    }
}

/// Where the broker's persistent state goes.
pub trait SessionStore {
    /// Why an operation failed.
    type Error;

    /// Applies a batch of operations, in order, atomically if the store can.
    fn apply(&mut self, ops: &[StoreOp]) -> Result<(), Self::Error>;

    /// Loads everything, for [`Broker::restore`](crate::broker::Broker::restore).
    fn load(&self) -> Result<StoreSnapshot, Self::Error>;
}

/// A store in memory: state survives connections, not the process.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    state: StoreSnapshot,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current contents.
    pub fn snapshot(&self) -> &StoreSnapshot {
        &self.state
    }
}

impl SessionStore for MemoryStore {
    type Error = Infallible;

    fn apply(&mut self, ops: &[StoreOp]) -> Result<(), Infallible> {
        for op in ops {
            self.state.apply(op.clone());
        }
        Ok(())
    }

    fn load(&self) -> Result<StoreSnapshot, Infallible> {
        Ok(self.state.clone())
    }
}
