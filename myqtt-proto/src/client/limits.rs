//! What the server told the client in CONNACK (MQTT 5.0 §3.2.2.3), with the spec defaults for
//! everything it left out, and what 3.x servers implicitly allow.

use crate::codec::{ConnAckProperties, QoS};

/// The server's limits and capabilities for the current connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Receive Maximum: QoS 1/2 messages the client may have in flight (default 65,535,
    /// [MQTT-3.3.4-7]).
    pub receive_maximum: u16,
    /// Maximum QoS the server accepts (default 2, [MQTT-3.2.2-11]).
    pub maximum_qos: QoS,
    /// Whether RETAIN is supported (default true, [MQTT-3.2.2-14]).
    pub retain_available: bool,
    /// Largest packet the server accepts, if limited ([MQTT-3.1.2-24]).
    pub maximum_packet_size: Option<u32>,
    /// Topic aliases the server accepts (default 0, [MQTT-3.2.2-16]).
    pub topic_alias_maximum: u16,
    /// Wildcard subscriptions supported (default true).
    pub wildcard_subscription_available: bool,
    /// Subscription identifiers supported (default true).
    pub subscription_identifiers_available: bool,
    /// Shared subscriptions supported (default true).
    pub shared_subscription_available: bool,
    /// Keep alive in force: the server's override ([MQTT-3.2.2-21]) or the client's own.
    pub keep_alive: u16,
}

impl ServerLimits {
    /// The limits assumed before CONNACK, and for 3.x servers.
    pub fn assumed(keep_alive: u16) -> Self {
        ServerLimits {
            receive_maximum: u16::MAX,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            maximum_packet_size: None,
            topic_alias_maximum: 0,
            wildcard_subscription_available: true,
            subscription_identifiers_available: true,
            shared_subscription_available: true,
            keep_alive,
        }
    }

    /// The limits announced in a 5.0 CONNACK.
    pub fn from_connack(p: &ConnAckProperties, keep_alive: u16) -> Self {
        ServerLimits {
            receive_maximum: p.receive_maximum.map_or(u16::MAX, |n| n.get()),
            maximum_qos: p.maximum_qos.unwrap_or(QoS::ExactlyOnce),
            retain_available: p.retain_available.unwrap_or(true),
            maximum_packet_size: p.maximum_packet_size.map(|n| n.get()),
            topic_alias_maximum: p.topic_alias_maximum.unwrap_or(0),
            wildcard_subscription_available: p.wildcard_subscription_available.unwrap_or(true),
            subscription_identifiers_available: p
                .subscription_identifiers_available
                .unwrap_or(true),
            shared_subscription_available: p.shared_subscription_available.unwrap_or(true),
            keep_alive: p.server_keep_alive.unwrap_or(keep_alive),
        }
    }

    /// Whether a packet of `len` bytes may be sent.
    pub fn allows_packet(&self, len: usize) -> bool {
        self.maximum_packet_size
            .is_none_or(|max| len <= max as usize)
    }
}
