//! Session state the broker keeps per client identifier (MQTT 3.1.1 §3.1.2.4,
//! MQTT 5.0 §4.1): subscriptions, QoS 1/2 messages in flight to the client, messages queued
//! for it, and QoS 2 messages received from it but not released yet.

use alloc::collections::{BTreeMap, VecDeque};
use core::num::NonZeroU32;

use crate::codec::PacketId;
use crate::codec::{MqttString, ProtocolVersion, SubscriptionOptions};
use crate::session::{InboundQos2, OutboundQos, SentId};
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
    /// Where the search for a free packet identifier starts ([`Session::allocate_packet_id`]).
    pub(crate) next_packet_id: PacketId,
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
            next_packet_id: PacketId::MIN,
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

impl Session {
    /// A packet identifier not used by a message in flight to the client, the next after the
    /// last one handed out ([MQTT-2.3.1-2] / MQTT 5.0 [MQTT-2.2.1-3]); `None` if all 65,535
    /// are in flight. The broker sends no SUBSCRIBE or UNSUBSCRIBE, so the in-flight table is
    /// the whole set of identifiers in use: an identifier is free again once its QoS 1/2
    /// exchange completes [MQTT-2.3.1-3].
    pub(crate) fn allocate_packet_id(&mut self) -> Option<PacketId> {
        if self.outbound.len() >= usize::from(u16::MAX) {
            return None;
        }
        let mut candidate = self.next_packet_id;
        while self.outbound.get(candidate).is_some() {
            candidate = candidate.next();
        }
        self.next_packet_id = candidate.next();
        Some(candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::types::Message;
    use crate::codec::{Publish, QoS};
    use crate::topic::TopicName;
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    fn delivery() -> Delivery {
        let publish = Publish::new(TopicName::try_from("t").unwrap(), &b"x"[..]);
        Delivery {
            message: Arc::new(Message::from_publish(Instant::ZERO, &publish, None)),
            qos: QoS::AtLeastOnce,
            retain: false,
            subscription_ids: Vec::new(),
        }
    }

    /// [MQTT-2.3.1-2] [MQTT-2.3.1-3]: an identifier in flight is never handed out again; it is
    /// free once its exchange completes, and the search wraps from 65,535 to 1.
    #[test]
    fn packet_ids_skip_those_in_flight_and_wrap() {
        let mut session = Session::new(
            MqttString::try_from("c").unwrap(),
            ProtocolVersion::V3_1_1,
            SessionExpiry::OnClose,
        );
        let fly = |session: &mut Session| {
            let packet_id = session.allocate_packet_id().unwrap();
            let sent = SentId {
                packet_id,
                qos: QoS::AtLeastOnce,
            };
            session.outbound.insert(sent, delivery()).unwrap();
            packet_id.get()
        };
        assert_eq!((fly(&mut session), fly(&mut session)), (1, 2));
        session.next_packet_id = PacketId::MAX;
        assert_eq!(fly(&mut session), u16::MAX);
        assert_eq!(fly(&mut session), 3, "wraps past 1 and 2, in flight");
        assert!(session.outbound.on_puback(PacketId::MIN).is_some());
        session.next_packet_id = PacketId::MIN;
        assert_eq!(fly(&mut session), 1, "free again once acknowledged");
    }
}
