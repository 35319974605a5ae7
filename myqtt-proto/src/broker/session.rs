//! Session state the broker keeps per client identifier (MQTT 3.1.1 §3.1.2.4,
//! MQTT 5.0 §4.1): subscriptions, QoS 1/2 messages in flight to the client, messages queued
//! for it, and QoS 2 messages received from it but not released yet.

use alloc::collections::{BTreeMap, VecDeque};
use core::num::NonZeroU32;

use crate::codec::{MqttString, ProtocolVersion, SubscriptionOptions};
use crate::session::{InboundQos2, OutboundQos, PacketIdPool, SentId};
use crate::time::{Duration, Instant};
use crate::topic::TopicFilter;

use super::{ConnectionId, Delivery};

/// A subscription as the session records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSubscription {
    /// Options, with the QoS actually granted.
    pub options: SubscriptionOptions,
    /// Subscription Identifier (5.0).
    pub identifier: Option<NonZeroU32>,
}

/// How long a session outlives its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionExpiry {
    /// Ends when the connection closes (clean session, 5.0 expiry 0).
    OnClose,
    /// Ends this long after the connection closes.
    After(Duration),
    /// Never ends by itself (3.x Clean Session 0 without a configured bound, 5.0 0xFFFFFFFF).
    Never,
}

/// One client's session.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) client_id: MqttString,
    pub(crate) version: ProtocolVersion,
    pub(crate) connection: Option<ConnectionId>,
    pub(crate) subscriptions: BTreeMap<TopicFilter, SessionSubscription>,
    pub(crate) ids: PacketIdPool,
    /// QoS 1/2 deliveries in flight; the PUBLISH is rebuilt from the delivery when resent.
    pub(crate) outbound: OutboundQos<Delivery, SentId>,
    /// Queued deliveries with their store sequence numbers.
    pub(crate) queue: VecDeque<(u64, Delivery)>,
    pub(crate) next_seq: u64,
    pub(crate) inbound_qos2: InboundQos2,
    pub(crate) expiry: SessionExpiry,
    /// When an offline session ends; bumped `generation` invalidates older timers.
    pub(crate) expires_at: Option<Instant>,
    pub(crate) generation: u64,
    /// The client's Receive Maximum for the current connection (5.0; 65,535 otherwise).
    pub(crate) client_receive_maximum: u16,
}

impl Session {
    pub(crate) fn new(
        client_id: MqttString,
        version: ProtocolVersion,
        expiry: SessionExpiry,
    ) -> Self {
        Session {
            client_id,
            version,
            connection: None,
            subscriptions: BTreeMap::new(),
            ids: PacketIdPool::new(),
            outbound: OutboundQos::new(),
            queue: VecDeque::new(),
            next_seq: 0,
            inbound_qos2: InboundQos2::new(),
            expiry,
            expires_at: None,
            generation: 0,
            client_receive_maximum: u16::MAX,
        }
    }
}
