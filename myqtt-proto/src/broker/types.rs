//! Identifiers and the data the broker routes.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;
use core::num::NonZeroU32;

use crate::codec::{MqttString, ProtocolVersion, Publish, PublishProperties, QoS};
use crate::time::Instant;
use crate::topic::TopicName;

/// Identifies one transport connection for the life of the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

/// What the runtime knows about a transport, given when it opens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransportInfo {
    /// Remote address, as the runtime prints it.
    pub remote_addr: Option<String>,
    /// TLS SNI server name or WebSocket `Host` header (MyQtt's `serverName`).
    pub server_name: Option<String>,
    /// Whether the transport is TLS (MyQtt's `myqtt.tls.is_enabled(conn)`).
    pub is_tls: bool,
    /// Subject of the verified client certificate (mutual TLS).
    pub peer_certificate_subject: Option<String>,
}

/// What hooks see of a client.
#[derive(Clone, Copy, Debug)]
pub struct ClientView<'a> {
    /// The connection.
    pub connection: ConnectionId,
    /// Client identifier (the assigned one for clients that sent an empty one).
    pub client_id: &'a str,
    /// User Name from CONNECT.
    pub username: Option<&'a str>,
    /// Protocol version.
    pub version: ProtocolVersion,
    /// Transport facts (server name, TLS, peer address).
    pub transport: &'a TransportInfo,
}

/// An application message as the broker routes it: one shared copy for all subscribers
/// (DESIGN §1.7); the per-subscriber PUBLISH header is built at transmit time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Topic name.
    pub topic: TopicName,
    /// Payload (shared).
    pub payload: Bytes,
    /// QoS the publisher used.
    pub qos: QoS,
    /// RETAIN flag the publisher used.
    pub retain: bool,
    /// PUBLISH properties (Topic Alias and Subscription Identifiers removed).
    pub properties: PublishProperties,
    /// When the Message Expiry Interval runs out (MQTT 5.0 §3.3.2.3.3).
    pub expires_at: Option<Instant>,
    /// Publisher, for No Local (MQTT 5.0 §3.8.3.1); `None` for messages the broker itself
    /// publishes.
    pub origin: Option<MqttString>,
}

impl Message {
    /// A message from a received PUBLISH.
    pub fn from_publish(now: Instant, publish: &Publish, origin: Option<MqttString>) -> Self {
        Message::from_received(now, publish.clone(), origin)
    }

    /// [`Message::from_publish`] taking the PUBLISH by value: its properties move instead of
    /// being cloned (the broker's path for every received message).
    pub(crate) fn from_received(
        now: Instant,
        publish: Publish,
        origin: Option<MqttString>,
    ) -> Self {
        let mut properties = publish.properties;
        properties.topic_alias = None;
        properties.subscription_identifiers.clear();
        let expires_at = properties
            .message_expiry_interval
            .map(|secs| now + crate::time::Duration::from_secs(u64::from(secs)));
        Message {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties,
            expires_at,
            origin,
        }
    }

    /// Whether the message expired at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }

    /// The PUBLISH for one subscriber: QoS, RETAIN and subscription identifiers of that
    /// delivery, and the remaining expiry interval ([MQTT-3.3.2-6]).
    pub fn to_publish(&self, now: Instant, delivery: &Delivery) -> Publish {
        self.publish_for(
            now,
            delivery.qos,
            delivery.retain,
            &delivery.subscription_ids,
        )
    }

    /// [`Message::to_publish`] from the parts of a delivery.
    pub(crate) fn publish_for(
        &self,
        now: Instant,
        qos: QoS,
        retain: bool,
        subscription_ids: &[NonZeroU32],
    ) -> Publish {
        let mut properties = self.properties.clone();
        if let Some(at) = self.expires_at {
            // [MQTT-3.3.2-6]: the time left. A message whose onward delivery started before it
            // expired is still resent (QoS 1/2 obligations): with at least 1 s, as 0 would
            // read as already expired.
            let left = (at - now).as_millis().div_ceil(1000).max(1);
            properties.message_expiry_interval = Some(u32::try_from(left).unwrap_or(u32::MAX));
        }
        properties.subscription_identifiers.clear();
        properties
            .subscription_identifiers
            .extend_from_slice(subscription_ids);
        Publish {
            dup: false,
            qos,
            retain,
            topic: self.topic.clone(),
            packet_id: None,
            properties,
            payload: self.payload.clone(),
        }
    }
}

/// One message on its way to one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The shared message.
    pub message: alloc::sync::Arc<Message>,
    /// QoS for this subscriber: min(publish QoS, granted QoS) ([MQTT-3.8.4-6]).
    pub qos: QoS,
    /// RETAIN flag as sent to this subscriber.
    pub retain: bool,
    /// Subscription Identifiers of the matching subscriptions (5.0, [MQTT-3.3.4-3]).
    pub subscription_ids: Vec<NonZeroU32>,
}

/// Why a message did not reach a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The session's queue was full ([`BrokerConfig::max_queued_messages`](super::BrokerConfig)).
    QueueFull,
    /// The Message Expiry Interval ran out before it could be sent.
    Expired,
    /// Larger than the client's Maximum Packet Size ([MQTT-3.1.2-25]).
    TooLarge,
    /// QoS 0 for an offline session that does not queue QoS 0.
    Offline,
    /// QoS 0 for a connection whose transport is backed up
    /// ([`Broker::set_congested`](super::Broker::set_congested)).
    Congested,
}
