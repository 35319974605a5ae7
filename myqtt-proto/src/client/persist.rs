//! Client persistence as data (the client-side counterpart of [`crate::store`]); the public
//! docs live on [`ClientStoreOp`].

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::fmt;

use super::{Client, ConnectionState, PublishToken, Queued, Tag};
use crate::codec::{PacketId, Publish, QoS};
use crate::session::OutboundStage;

/// One change to the client's persistent session state (the client-side counterpart of the
/// broker's [`StoreOp`](crate::store::StoreOp)).
///
/// A client that must finish its QoS 1/2 exchanges across a process restart (MyQtt's and paho's
/// client storage) needs two pieces of session state on disk (MQTT 3.1.1 §4.1, MQTT 5.0 §4.1:
/// "the Client's Session State"):
///
/// - outgoing QoS 1/2 messages not yet completed: accepted but not yet sent, sent and awaiting
///   PUBACK / PUBREC, or released with PUBREL and awaiting PUBCOMP;
/// - incoming QoS 2 packet identifiers received but not yet released by PUBREL, so that a
///   PUBLISH the server resends after a restart is not delivered twice (5.0 [MQTT-4.3.3-10],
///   MQTT 3.1.1 §4.3.3 "Method B").
///
/// With [`ClientConfig::persist`](super::ClientConfig::persist) on, the [`Client`] describes
/// every change to that state as a [`ClientStoreOp`], drained with
/// [`Client::poll_store_op`]. A durable store applies them; [`ClientSnapshot::apply`] is the
/// reference semantics. After a restart the runtime loads the [`ClientSnapshot`] and hands it to
/// [`Client::restore`] on a fresh client, before the first [`Client::handle_connected`]. With
/// Clean Start 0 and a session present on the server, the restored messages are resent with DUP
/// (or PUBREL) in their original order ([MQTT-4.4.0-1], [MQTT-4.6.0-1]).
///
/// # Durability rule
///
/// The operations of one step (a `handle_*` call or a command) must be **durable before** the
/// bytes of that step from [`Client::poll_transmit`] are written and before its events from
/// [`Client::poll_event`] reach the application: a PUBLISH must not leave before the message is
/// on disk, and a received QoS 2 message must not be delivered (nor PUBREC/PUBCOMP sent) before
/// its packet id's state is. The run loop becomes: drain `poll_store_op` and commit the batch
/// (one transaction: group commit), then drain transmit, then events.
///
/// # Operations
///
/// Keys are `seq`, a number the client gives each QoS 1/2 publish when it is accepted; it
/// increases in send order.
// `PublishAdd` carries the PUBLISH by value: boxing it would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientStoreOp {
    /// A QoS 1/2 publish was accepted by [`Client::publish`] and waits in the queue (no packet
    /// identifier yet; `publish.packet_id` is `None`).
    PublishAdd {
        /// Its position in send order.
        seq: u64,
        /// The message.
        publish: Publish,
    },
    /// The publish got `packet_id` and is being sent: it now awaits PUBACK (QoS 1) or PUBREC
    /// (QoS 2) ([MQTT-4.3.2-1], [MQTT-4.3.3-1]).
    PublishSent {
        /// Its position.
        seq: u64,
        /// The packet identifier it carries until completed.
        packet_id: PacketId,
    },
    /// PUBREC arrived and PUBREL is being sent: the QoS 2 message awaits PUBCOMP and is never
    /// sent again as a PUBLISH ([MQTT-4.3.3-3]).
    PublishReleased {
        /// Its position.
        seq: u64,
    },
    /// The publish completed (PUBACK, PUBCOMP, a refusing PUBREC), or was dropped (session lost,
    /// rejected by the server's new limits, session discarded).
    PublishRemove {
        /// Its position.
        seq: u64,
    },
    /// A QoS 2 message with this id was received and awaits PUBREL (`pending`), or was released
    /// (`!pending`) (3.1.1 [MQTT-4.3.3-2], 5.0 [MQTT-4.3.3-10]).
    InboundQos2 {
        /// Packet identifier.
        packet_id: PacketId,
        /// Whether it now awaits PUBREL.
        pending: bool,
    },
}

/// Where a stored outgoing publish is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredStage {
    /// Accepted, not sent yet.
    Queued,
    /// Sent with `packet_id`, at `stage` of its handshake.
    InFlight {
        /// Its packet identifier.
        packet_id: PacketId,
        /// Awaiting PUBACK, PUBREC or PUBCOMP.
        stage: OutboundStage,
    },
}

/// One stored outgoing QoS 1/2 publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPublish {
    /// The message (its `packet_id` and `dup` are not meaningful; the stage holds the id).
    pub publish: Publish,
    /// Where it is.
    pub stage: StoredStage,
}

/// The persistent session state of one client: input of [`Client::restore`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientSnapshot {
    /// Outgoing QoS 1/2 publishes by `seq` (send order).
    pub publishes: BTreeMap<u64, StoredPublish>,
    /// QoS 2 packet ids received and awaiting PUBREL.
    pub inbound_qos2: BTreeSet<PacketId>,
}

impl ClientSnapshot {
    /// Applies one operation: the reference semantics every client store must follow.
    /// Operations on unknown `seq`s are ignored.
    pub fn apply(&mut self, op: ClientStoreOp) {
        match op {
            ClientStoreOp::PublishAdd { seq, publish } => {
                self.publishes.insert(
                    seq,
                    StoredPublish {
                        publish,
                        stage: StoredStage::Queued,
                    },
                );
            }
            ClientStoreOp::PublishSent { seq, packet_id } => {
                if let Some(p) = self.publishes.get_mut(&seq) {
                    let stage = match p.publish.qos {
                        QoS::ExactlyOnce => OutboundStage::AwaitPubRec,
                        _ => OutboundStage::AwaitPubAck,
                    };
                    p.stage = StoredStage::InFlight { packet_id, stage };
                }
            }
            ClientStoreOp::PublishReleased { seq } => {
                if let Some(StoredPublish {
                    stage: StoredStage::InFlight { stage, .. },
                    ..
                }) = self.publishes.get_mut(&seq)
                {
                    *stage = OutboundStage::AwaitPubComp;
                }
            }
            ClientStoreOp::PublishRemove { seq } => {
                self.publishes.remove(&seq);
            }
            ClientStoreOp::InboundQos2 { packet_id, pending } => {
                if pending {
                    self.inbound_qos2.insert(packet_id);
                } else {
                    self.inbound_qos2.remove(&packet_id);
                }
            }
        }
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.publishes.is_empty() && self.inbound_qos2.is_empty()
    }
}

/// Why [`Client::restore`] refused a snapshot. Nothing was restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreError {
    /// The client already connected or holds session state: restore only into a fresh one.
    NotFresh,
    /// A stored publish has QoS 0, which is never stored.
    QoS0 {
        /// Its `seq`.
        seq: u64,
    },
    /// A stored stage does not fit the publish's QoS (PUBREC/PUBCOMP for QoS 1, PUBACK for
    /// QoS 2).
    StageMismatch {
        /// Its `seq`.
        seq: u64,
    },
    /// Two publishes in flight carry the same packet identifier ([MQTT-2.3.1-2]).
    DuplicatePacketId(PacketId),
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::NotFresh => f.write_str("the client already has session state"),
            RestoreError::QoS0 { seq } => write!(f, "stored publish {seq} has QoS 0"),
            RestoreError::StageMismatch { seq } => {
                write!(f, "stored publish {seq}: stage does not fit its QoS")
            }
            RestoreError::DuplicatePacketId(id) => {
                write!(f, "packet identifier {id} stored twice")
            }
        }
    }
}

impl core::error::Error for RestoreError {}

impl Client {
    /// The next change to persistent session state, when
    /// [`ClientConfig::persist`](super::ClientConfig::persist) is on (never otherwise).
    ///
    /// Drain it after every `handle_*` call or command and make the batch durable **before**
    /// writing [`Client::poll_transmit`]'s bytes and handing [`Client::poll_event`]'s events to
    /// the application (see the [durability rule](ClientStoreOp#durability-rule)).
    #[must_use = "store operations must be made durable before the bytes are sent"]
    pub fn poll_store_op(&mut self) -> Option<ClientStoreOp> {
        self.store_ops.pop_front()
    }

    /// Restores persistent session state saved by an earlier process, into a fresh client
    /// (before the first [`Client::handle_connected`]). Returns the tokens of the restored
    /// publishes in send order; each completes with [`ClientEvent::Published`](super::ClientEvent::Published)
    /// like any other.
    ///
    /// Messages in flight are resent on the first connection whose CONNACK says a session is
    /// present, with DUP set, and PUBREL for released ones, in the original order
    /// ([MQTT-4.4.0-1], [MQTT-4.6.0-1], [MQTT-3.3.1-1]); on a connection without a session they
    /// complete with [`PublishOutcome::SessionLost`](super::PublishOutcome::SessionLost) and the
    /// received QoS 2 ids are forgotten (MQTT 3.1.1 §4.4). So restore with
    /// [`ClientConfig::clean_start`](super::ClientConfig::clean_start) false (and a 5.0 Session
    /// Expiry Interval). Queued messages are sent after them, in order. A PUBLISH the server
    /// resends for a restored inbound QoS 2 id is answered with PUBREC and not delivered again
    /// (5.0 [MQTT-4.3.3-10]).
    ///
    /// Restoring emits no store operations: the state is already stored.
    pub fn restore(&mut self, snapshot: ClientSnapshot) -> Result<Vec<PublishToken>, RestoreError> {
        if self.connection != 0
            || self.state != ConnectionState::Disconnected
            || !self.outbound.is_empty()
            || !self.queue.is_empty()
            || !self.inbound_qos2.is_empty()
            || !self.ids.is_empty()
        {
            return Err(RestoreError::NotFresh);
        }
        // Validate everything before changing anything.
        let mut ids = BTreeSet::new();
        for (&seq, p) in &snapshot.publishes {
            match (p.publish.qos, p.stage) {
                (QoS::AtMostOnce, _) => return Err(RestoreError::QoS0 { seq }),
                (_, StoredStage::Queued) => {}
                (QoS::AtLeastOnce, StoredStage::InFlight { stage, packet_id })
                | (QoS::ExactlyOnce, StoredStage::InFlight { stage, packet_id }) => {
                    let fits = match p.publish.qos {
                        QoS::AtLeastOnce => stage == OutboundStage::AwaitPubAck,
                        _ => stage != OutboundStage::AwaitPubAck,
                    };
                    if !fits {
                        return Err(RestoreError::StageMismatch { seq });
                    }
                    if !ids.insert(packet_id) {
                        return Err(RestoreError::DuplicatePacketId(packet_id));
                    }
                }
            }
        }
        let mut tokens = Vec::with_capacity(snapshot.publishes.len());
        for (seq, p) in snapshot.publishes {
            let token = self.next_publish_token();
            tokens.push(token);
            self.next_seq = self.next_seq.max(seq.saturating_add(1));
            let mut publish = p.publish;
            publish.dup = false;
            match p.stage {
                StoredStage::Queued => {
                    publish.packet_id = None;
                    self.queue.push_back(Queued {
                        publish,
                        token,
                        seq,
                    });
                }
                StoredStage::InFlight { packet_id, stage } => {
                    publish.packet_id = Some(packet_id);
                    self.ids.reserve(packet_id);
                    // Validated above: the id is unique and the publish has it.
                    let restored = self.outbound.restore(publish, stage, Tag { token, seq });
                    debug_assert!(restored.is_ok(), "validated stored publish {seq}");
                }
            }
        }
        for id in snapshot.inbound_qos2 {
            self.inbound_qos2.on_publish(id);
        }
        Ok(tokens)
    }

    /// Forgets every received QoS 2 id (the session is gone), recording it for the store.
    pub(super) fn forget_inbound_qos2(&mut self) {
        if self.config.persist {
            for packet_id in self.inbound_qos2.iter() {
                self.store_ops.push_back(ClientStoreOp::InboundQos2 {
                    packet_id,
                    pending: false,
                });
            }
        }
        self.inbound_qos2.clear();
    }

    /// Records a store operation when persistence is on.
    pub(super) fn store(&mut self, op: impl FnOnce() -> ClientStoreOp) {
        if self.config.persist {
            self.store_ops.push_back(op());
        }
    }
}
