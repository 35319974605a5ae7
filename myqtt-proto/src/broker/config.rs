//! Broker limits and policies. Every limit has a safe default (DESIGN §1.6).

use crate::time::Duration;

/// What to do when a client id that is already connected connects again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TakeoverPolicy {
    /// The new connection wins and the old one is closed: MQTT 3.1.1 [MQTT-3.1.4-2], MQTT 5.0
    /// [MQTT-3.1.4-3] (DISCONNECT "Session taken over" in 5.0).
    #[default]
    TakeOver,
    /// The new connection is refused with "Client Identifier not valid" (MyQtt's default
    /// behaviour, kept as an opt-in policy; not what the specifications ask for).
    RejectNew,
}

/// What to do with a new message for a session whose offline queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueueFullPolicy {
    /// Drop the new message ([`BrokerEvent::MessageDropped`](super::BrokerEvent::MessageDropped)).
    #[default]
    DropNewest,
    /// Drop the oldest queued message to make room for the new one.
    DropOldest,
}

/// When a QoS 1/2 publish is acknowledged, with persistence on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// PUBACK/PUBREC wait until the store operations the message caused (queued for offline
    /// sessions, retained) are durable: an acknowledged message survives a crash.
    #[default]
    Strict,
    /// Acknowledge at once; a crash may lose messages acknowledged in the last batch.
    Relaxed,
}

/// Limits and policies of a [`Broker`](super::Broker).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Connections open at once (also those not past CONNECT yet). Default 10,000.
    pub max_connections: usize,
    /// Largest packet accepted from a client, fixed header included; announced as Maximum
    /// Packet Size in 5.0 CONNACK. Default 1 MiB.
    pub max_packet_size: usize,
    /// Sessions kept at once, connected or not; a new client identifier beyond it is refused
    /// with Quota exceeded (3.x: Server unavailable). Default 100,000.
    pub max_sessions: usize,
    /// Receive Maximum announced to 5.0 clients: QoS 1/2 PUBLISH a client may have
    /// unacknowledged towards the broker. Default 100.
    pub receive_maximum: u16,
    /// Outbound QoS 1/2 messages in flight per session, further bounded by the client's own
    /// Receive Maximum. Default 1,000.
    ///
    /// The window is what limits delivery to a fast subscriber: with 100, a loopback subscriber
    /// of 4 publishers took 0.5M QoS 1 messages/s while the broker idled; 1,000 gives 0.85M
    /// (`myqtt-bench fanin --qos 1`). Raising it is safe: MQTT 5.0 §4.9 lets each client bound
    /// it with its Receive Maximum (the broker never exceeds it, [MQTT-3.3.4-7]), and the
    /// memory it holds per session is bounded (one in-flight record per message, its payload
    /// shared with the other subscribers; the same messages would otherwise wait in the queue
    /// of [`max_queued_messages`](Self::max_queued_messages)). Only MQTT 3.x clients, which
    /// have no Receive Maximum, always get the full window.
    pub max_inflight: u16,
    /// Messages queued per session behind the inflight window or while offline. Default 10,000.
    pub max_queued_messages: usize,
    /// Policy when that queue is full.
    pub queue_full_policy: QueueFullPolicy,
    /// Queue QoS 0 messages for offline persistent sessions (MQTT 3.1.1 §3.1.2.4 allows it).
    /// Default false.
    pub queue_qos0_offline: bool,
    /// Topic levels allowed in a topic name or filter. Default 32.
    pub max_topic_levels: usize,
    /// Longest client identifier accepted, in bytes. Default 256. MQTT 3.1 clients are
    /// limited to 23 characters by their specification.
    pub max_client_id_len: usize,
    /// Subscriptions per session. Default 1,000.
    pub max_subscriptions_per_session: usize,
    /// Retained messages kept in total. Default 100,000.
    pub max_retained_messages: usize,
    /// Topic Alias Maximum announced to 5.0 clients. Default 16.
    pub topic_alias_maximum: u16,
    /// Time a connection may take to send CONNECT. Default 10 s.
    pub connect_timeout: Duration,
    /// Keep alive imposed on 5.0 clients (Server Keep Alive, [MQTT-3.2.2-21]); `None` keeps the
    /// client's value.
    pub server_keep_alive: Option<u16>,
    /// Largest Session Expiry Interval granted to 5.0 clients, in seconds. Default one week.
    pub max_session_expiry_interval: u32,
    /// Session expiry for 3.x persistent sessions (Clean Session 0), which never expire by the
    /// specification; `None` keeps them forever. Default one week.
    pub v3_session_expiry: Option<Duration>,
    /// Same client id connecting twice.
    pub takeover_policy: TakeoverPolicy,
    /// Allow `+`/`#` subscriptions (announced in 5.0 CONNACK). Default true.
    pub wildcard_subscriptions: bool,
    /// Allow `$share/` subscriptions. Default true.
    pub shared_subscriptions: bool,
    /// Keep retained messages. Default true.
    pub retain_available: bool,
    /// Highest QoS accepted from publishers (Maximum QoS, 5.0). Default QoS 2.
    pub maximum_qos: crate::codec::QoS,
    /// Emit [`StoreOp`](crate::store::StoreOp)s for persistent sessions and retained messages
    /// (drain them with [`Broker::poll_store_ops`](super::Broker::poll_store_ops)). Default false.
    pub persistence: bool,
    /// With persistence, whether acknowledgments wait for durability. Default strict.
    pub durability: Durability,
    /// Prefix of client identifiers the broker assigns to clients that sent an empty one.
    pub assigned_id_prefix: &'static str,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            max_connections: 10_000,
            max_packet_size: 1024 * 1024,
            max_sessions: 100_000,
            receive_maximum: 100,
            max_inflight: 1_000,
            max_queued_messages: 10_000,
            queue_full_policy: QueueFullPolicy::DropNewest,
            queue_qos0_offline: false,
            max_topic_levels: 32,
            max_client_id_len: 256,
            max_subscriptions_per_session: 1_000,
            max_retained_messages: 100_000,
            topic_alias_maximum: 16,
            connect_timeout: Duration::from_secs(10),
            server_keep_alive: None,
            max_session_expiry_interval: 7 * 24 * 3600,
            v3_session_expiry: Some(Duration::from_secs(7 * 24 * 3600)),
            takeover_policy: TakeoverPolicy::TakeOver,
            wildcard_subscriptions: true,
            shared_subscriptions: true,
            retain_available: true,
            maximum_qos: crate::codec::QoS::ExactlyOnce,
            persistence: false,
            durability: Durability::Strict,
            assigned_id_prefix: "myqtt-",
        }
    }
}
