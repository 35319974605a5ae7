//! Client configuration: what goes into CONNECT, and the client's own limits.

use bytes::Bytes;

use crate::codec::{Connect, ConnectProperties, MqttString, ProtocolVersion, Will};
use crate::time::Duration;

/// Everything a [`Client`](super::Client) needs to connect and run.
///
/// The CONNECT fields follow MQTT 3.1.1 §3.1 and MQTT 5.0 §3.1; the limits are the client's own
/// bounds on memory and waiting (DESIGN §1.6).
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Protocol version to speak.
    pub version: ProtocolVersion,
    /// Client Identifier. Empty asks the server to assign one; this requires `clean_start`
    /// in 3.1.1 ([MQTT-3.1.3-7]).
    pub client_id: MqttString,
    /// Clean Session (3.x) / Clean Start (5.0).
    pub clean_start: bool,
    /// Send Clean Start only on the first connection; reconnections then resume the session
    /// (paho's "clean start first only"; useful with a 5.0 Session Expiry Interval). Default
    /// false: every CONNECT carries `clean_start`.
    pub clean_start_first_only: bool,
    /// Keep Alive in seconds; 0 disables keepalive pings (§3.1.2.10).
    pub keep_alive: u16,
    /// Will message.
    pub will: Option<Will>,
    /// User Name.
    pub username: Option<MqttString>,
    /// Password.
    pub password: Option<Bytes>,
    /// CONNECT properties (MQTT 5.0). `receive_maximum`, `maximum_packet_size` and
    /// `topic_alias_maximum` here are also the limits the client enforces on the server.
    pub properties: ConnectProperties,
    /// How long to wait for CONNACK (and any AUTH exchange) after the transport is up.
    pub connect_timeout: Duration,
    /// How long to wait for PINGRESP before declaring the connection lost.
    pub ping_timeout: Duration,
    /// Upper bound on outbound QoS 1/2 messages in flight, further limited by the server's
    /// Receive Maximum (MQTT 5.0 §3.3.4, [MQTT-3.3.4-7]).
    pub max_inflight: u16,
    /// Upper bound on publishes queued behind the inflight window (and while disconnected).
    pub max_queued: usize,
    /// Largest packet accepted from the server when `properties.maximum_packet_size` is not set.
    pub max_incoming_packet_size: usize,
    /// Deliver QoS 1/2 messages with an ack handle and wait for [`Client::ack`](super::Client::ack)
    /// instead of acknowledging at once.
    pub manual_acks: bool,
    /// Remember the subscriptions the server granted and subscribe to them again, with the
    /// same options, when a connection starts without a session (MQTT 3.1.1 §4.1, MQTT 5.0
    /// §4.1: subscriptions live in the session); the result is reported as
    /// [`ClientEvent::Resubscribed`](super::ClientEvent::Resubscribed). Default false.
    pub resubscribe: bool,
    /// Assign outbound topic aliases automatically, up to the server's Topic Alias Maximum
    /// (MQTT 5.0 §3.3.2.3.4).
    pub auto_topic_alias: bool,
    /// Describe every change to the persistent session state (outgoing QoS 1/2 messages,
    /// incoming QoS 2 ids) as [`ClientStoreOp`](super::ClientStoreOp)s for
    /// [`Client::poll_store_op`](super::Client::poll_store_op), so that a durable store can keep
    /// them across process restarts ([`Client::restore`](super::Client::restore)). Default
    /// false: nothing is recorded.
    pub persist: bool,
}

impl ClientConfig {
    /// A configuration with the given version and client id and the defaults below: clean
    /// start, keep alive 60 s, connect timeout 30 s, ping timeout 10 s, 100 messages in flight,
    /// 10,000 queued, 1 MiB incoming packet limit, automatic acks, no topic alias assignment,
    /// no persistence.
    pub fn new(version: ProtocolVersion, client_id: MqttString) -> Self {
        ClientConfig {
            version,
            client_id,
            clean_start: true,
            clean_start_first_only: false,
            keep_alive: 60,
            will: None,
            username: None,
            password: None,
            properties: ConnectProperties::default(),
            connect_timeout: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(10),
            max_inflight: 100,
            max_queued: 10_000,
            max_incoming_packet_size: 1024 * 1024,
            manual_acks: false,
            resubscribe: false,
            auto_topic_alias: false,
            persist: false,
        }
    }

    /// The largest packet the client accepts from the server.
    pub fn incoming_packet_limit(&self) -> usize {
        match self.properties.maximum_packet_size {
            Some(n) if self.version.is_v5() => n.get() as usize,
            _ => self.max_incoming_packet_size,
        }
    }

    /// The Topic Alias Maximum the client announces (5.0), 0 otherwise.
    pub fn inbound_alias_maximum(&self) -> u16 {
        if self.version.is_v5() {
            self.properties.topic_alias_maximum.unwrap_or(0)
        } else {
            0
        }
    }

    /// The Receive Maximum the client announces (5.0; 65,535 when absent, §3.1.2.11.3).
    pub fn inbound_receive_maximum(&self) -> u16 {
        self.properties
            .receive_maximum
            .map_or(u16::MAX, |n| n.get())
    }

    /// The CONNECT packet for this configuration.
    pub fn connect_packet(&self) -> Connect {
        let mut c = Connect::new(self.version, self.client_id.clone());
        c.clean_start = self.clean_start;
        c.keep_alive = self.keep_alive;
        c.will = self.will.clone();
        c.username = self.username.clone();
        c.password = self.password.clone();
        if self.version.is_v5() {
            c.properties = self.properties.clone();
        }
        c
    }
}
