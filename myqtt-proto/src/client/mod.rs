//! The sans-IO MQTT client (MQTT 3.1, 3.1.1 and 5.0).
//!
//! A [`Client`] is one MQTT session seen from the client side, across any number of network
//! connections. It never does IO and never reads a clock: the runtime tells it when the
//! transport is up ([`Client::handle_connected`]), hands it received bytes
//! ([`Client::handle_input`]), wakes it at [`Client::poll_timeout`] ([`Client::handle_timeout`]),
//! and reports the transport closing ([`Client::handle_closed`]). After every `handle_*` call or
//! command the runtime drains [`Client::poll_transmit`] to the socket and
//! [`Client::poll_event`] to the application.
//!
//! A client that must survive process restarts turns on [`ClientConfig::persist`]: it then also
//! drains [`Client::poll_store_op`] after every step and makes those operations durable *before*
//! writing that step's bytes and handing out its events; after a restart it calls
//! [`Client::restore`] with the loaded [`ClientSnapshot`] (see [`ClientStoreOp`]).
//!
//! ```
//! use bytes::BytesMut;
//! use myqtt_proto::client::{Client, ClientConfig, ClientEvent};
//! use myqtt_proto::codec::{MqttString, ProtocolVersion};
//! use myqtt_proto::time::Instant;
//!
//! let config = ClientConfig::new(ProtocolVersion::V5, MqttString::try_from("sensor-1").unwrap());
//! let mut client = Client::new(config);
//! let now = Instant::ZERO;
//!
//! // The transport is up: the client queues CONNECT.
//! client.handle_connected(now);
//! let mut wire = Vec::new();
//! client.poll_transmit(&mut wire);
//! assert_eq!(wire[0], 0x10); // CONNECT
//!
//! // The server answers CONNACK (Success, no properties).
//! let mut rx = BytesMut::from(&[0x20u8, 0x03, 0x00, 0x00, 0x00][..]);
//! client.handle_input(now, &mut rx);
//! assert!(matches!(client.poll_event(), Some(ClientEvent::Connected { session_present: false, .. })));
//!
//! // The run loop: feed input and timeouts, then drain transmit and events.
//! if let Some(deadline) = client.poll_timeout() {
//!     client.handle_timeout(deadline);
//! }
//! wire.clear();
//! client.poll_transmit(&mut wire);
//! assert_eq!(wire, [0xC0, 0x00]); // keep alive elapsed: PINGREQ
//! ```

mod commands;
mod config;
mod event;
mod limits;
mod persist;
mod receive;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use bytes::BytesMut;

pub use config::ClientConfig;
pub use event::{
    AckHandle, ClientEvent, CloseReason, CommandError, PublishOutcome, PublishToken, RequestToken,
};
pub use limits::ServerLimits;
pub use persist::{ClientSnapshot, ClientStoreOp, RestoreError, StoredPublish, StoredStage};

use crate::codec::{
    DecodeError, Disconnect, MqttString, Packet, PacketError, PacketId, ProtocolVersion, Publish,
    ReasonCode,
};
use crate::session::{
    AckOrder, InboundAliases, InboundQos2, OutboundAliases, OutboundQos, PacketIdPool,
};
use crate::time::{Duration, Instant};

/// Where the client is in the connection lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// No transport, or the connection ended.
    Disconnected,
    /// CONNECT sent, waiting for CONNACK (and possibly exchanging AUTH).
    Connecting,
    /// CONNACK accepted the connection.
    Connected,
}

/// A publish waiting for room in the inflight window or for a connection.
#[derive(Clone, Debug)]
struct Queued {
    publish: Publish,
    token: PublishToken,
    /// Position in send order, the store key ([`ClientStoreOp`]); meaningful for QoS 1/2.
    seq: u64,
}

/// What the client keeps with each outbound QoS 1/2 message in flight.
#[derive(Clone, Copy, Debug)]
struct Tag {
    token: PublishToken,
    /// The store key ([`ClientStoreOp`]).
    seq: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestKind {
    Subscribe,
    Unsubscribe,
}

/// A SUBSCRIBE or UNSUBSCRIBE waiting for its acknowledgment.
#[derive(Clone, Debug)]
struct Request {
    token: RequestToken,
    kind: RequestKind,
    filters: usize,
    /// What to record in [`Client::granted`] when acknowledged (only with
    /// [`ClientConfig::resubscribe`]).
    tracked: Tracked,
    /// Sent by the client itself to restore subscriptions: reported as
    /// [`ClientEvent::Resubscribed`], never aborted towards the application.
    internal: bool,
}

/// The filters of a request, kept for the resubscription list.
#[derive(Clone, Debug, Default)]
enum Tracked {
    #[default]
    Nothing,
    Subscribe(Vec<crate::codec::Subscription>),
    Unsubscribe(Vec<crate::topic::TopicFilter>),
}

/// An MQTT client session state machine. See the [module docs](self) for the run loop.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    state: ConnectionState,
    /// Counts transports, so ack handles from an old connection are refused.
    connection: u64,
    server: ServerLimits,
    ids: PacketIdPool,
    outbound: OutboundQos<Tag>,
    queue: VecDeque<Queued>,
    requests: BTreeMap<PacketId, Request>,
    /// Subscriptions the server granted, to restore on a connection without a session
    /// ([`ClientConfig::resubscribe`]).
    granted: BTreeMap<crate::topic::TopicFilter, crate::codec::Subscription>,
    inbound_qos2: InboundQos2,
    acks: AckOrder,
    inbound_aliases: InboundAliases,
    outbound_aliases: OutboundAliases,
    tx: Vec<u8>,
    events: VecDeque<ClientEvent>,
    last_sent: Instant,
    ping_sent: Option<Instant>,
    user_pings: u32,
    connect_deadline: Option<Instant>,
    next_token: u64,
    /// Next store key for a QoS 1/2 publish.
    next_seq: u64,
    /// Store operations not drained yet ([`ClientConfig::persist`]).
    store_ops: VecDeque<ClientStoreOp>,
}

impl Client {
    /// A client that is not connected yet.
    pub fn new(config: ClientConfig) -> Self {
        let server = ServerLimits::assumed(config.keep_alive);
        let inbound_aliases = InboundAliases::new(config.inbound_alias_maximum());
        Client {
            config,
            state: ConnectionState::Disconnected,
            connection: 0,
            server,
            ids: PacketIdPool::new(),
            outbound: OutboundQos::new(),
            queue: VecDeque::new(),
            requests: BTreeMap::new(),
            granted: BTreeMap::new(),
            inbound_qos2: InboundQos2::new(),
            acks: AckOrder::new(),
            inbound_aliases,
            outbound_aliases: OutboundAliases::new(0),
            tx: Vec::new(),
            events: VecDeque::new(),
            last_sent: Instant::ZERO,
            ping_sent: None,
            user_pings: 0,
            connect_deadline: None,
            next_token: 0,
            next_seq: 0,
            store_ops: VecDeque::new(),
        }
    }

    // ---- getters ----

    /// The configuration (the client id is replaced by the server-assigned one, if any).
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The protocol version.
    pub fn version(&self) -> ProtocolVersion {
        self.config.version
    }

    /// The client identifier in use (server-assigned after a 5.0 CONNACK that assigned one).
    pub fn client_id(&self) -> &MqttString {
        &self.config.client_id
    }

    /// Lifecycle state.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// Whether CONNACK accepted the current connection.
    pub fn is_connected(&self) -> bool {
        self.state == ConnectionState::Connected
    }

    /// The server's limits for the current (or last) connection.
    pub fn server_limits(&self) -> &ServerLimits {
        &self.server
    }

    /// Outbound QoS 1/2 messages in flight.
    pub fn inflight_len(&self) -> usize {
        self.outbound.len()
    }

    /// Publishes waiting behind the inflight window or for a connection.
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// SUBSCRIBE and UNSUBSCRIBE requests waiting for their acknowledgment.
    pub fn pending_requests(&self) -> usize {
        self.requests.len()
    }

    /// Packet identifiers currently in use (publishes in flight and pending (un)subscribes).
    pub fn packet_ids_in_use(&self) -> usize {
        self.ids.len()
    }

    // ---- inputs ----

    /// The transport is up: queues CONNECT and starts the connect timeout.
    ///
    /// Poll [`Client::poll_transmit`] next. Stale bytes of an earlier connection are dropped.
    pub fn handle_connected(&mut self, now: Instant) {
        self.connection += 1;
        self.tx.clear();
        self.abort_connection_state();
        self.state = ConnectionState::Connecting;
        self.connect_deadline = Some(now + self.config.connect_timeout);
        let connect = self.config.connect_packet();
        self.send(now, &Packet::Connect(Box::new(connect)));
    }

    /// Bytes arrived. Consumes every whole packet at the front of `rx` and leaves a partial one.
    ///
    /// Poll transmit and events afterwards. After the connection is closed (a violation, a
    /// DISCONNECT from the server), further input is ignored and left in `rx`.
    pub fn handle_input(&mut self, now: Instant, rx: &mut BytesMut) {
        while self.state != ConnectionState::Disconnected {
            let limit = self.config.incoming_packet_limit();
            match Packet::decode(rx, self.config.version, limit) {
                Ok(packet) => self.handle_packet(now, packet),
                Err(DecodeError::Incomplete { .. }) => break,
                Err(DecodeError::Invalid(e)) => {
                    self.protocol_violation(e.reason_code(), Some(e));
                    break;
                }
            }
        }
    }

    /// Time passed: sends keepalive pings, and closes on a missing CONNACK or PINGRESP.
    /// Call it at or after [`Client::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            ConnectionState::Connecting => {
                if self.connect_deadline.is_some_and(|d| now >= d) {
                    self.close(CloseReason::ConnectTimeout);
                }
            }
            ConnectionState::Connected => {
                if let Some(sent) = self.ping_sent {
                    if now >= sent + self.config.ping_timeout {
                        self.close(CloseReason::KeepAliveTimeout);
                    }
                } else if let Some(due) = self.keepalive_due()
                    && now >= due
                {
                    self.send(now, &Packet::PingReq);
                    self.ping_sent = Some(now);
                }
            }
            ConnectionState::Disconnected => {}
        }
    }

    /// The transport closed. QoS 1/2 state is kept for resuming the session on the next
    /// connection; pending (un)subscribes are aborted.
    pub fn handle_closed(&mut self, _now: Instant) {
        self.tx.clear();
        if self.state != ConnectionState::Disconnected {
            self.close(CloseReason::TransportClosed);
        }
    }

    // ---- outputs ----

    /// Appends the bytes to send (whole packets) to `out`; returns how many were appended.
    #[must_use = "the bytes must be written to the transport"]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.tx.len();
        out.append(&mut self.tx);
        n
    }

    /// The next event for the application.
    #[must_use = "events carry messages and completions"]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When [`Client::handle_timeout`] must be called next, if at all.
    #[must_use = "the client needs handle_timeout at this instant"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ConnectionState::Connecting => self.connect_deadline,
            ConnectionState::Connected => match self.ping_sent {
                Some(sent) => Some(sent + self.config.ping_timeout),
                None => self.keepalive_due(),
            },
            ConnectionState::Disconnected => None,
        }
    }

    // ---- internals shared by the submodules ----

    fn keepalive_due(&self) -> Option<Instant> {
        match self.server.keep_alive {
            0 => None,
            secs => Some(self.last_sent + Duration::from_secs(u64::from(secs))),
        }
    }

    fn next_publish_token(&mut self) -> PublishToken {
        self.next_token += 1;
        PublishToken(self.next_token)
    }

    fn next_request_token(&mut self) -> RequestToken {
        self.next_token += 1;
        RequestToken(self.next_token)
    }

    /// Encodes `packet` onto the transmit buffer.
    fn send(&mut self, now: Instant, packet: &Packet) {
        // Commands validate packets before they get here; an encode failure is a bug that
        // must not take the connection down, so the packet is dropped.
        let ok = packet.encode_to(self.config.version, &mut self.tx).is_ok();
        debug_assert!(ok, "packets are validated before they are sent: {packet:?}");
        self.last_sent = now;
    }

    /// Encodes a PUBLISH, applying outbound topic aliases when enabled.
    fn send_publish(&mut self, now: Instant, publish: &Publish) {
        let version = self.config.version;
        let ok = if self.outbound_aliases.is_enabled() {
            let mut aliased = publish.clone();
            self.outbound_aliases.apply(&mut aliased);
            aliased.encode_to(version, &mut self.tx).is_ok()
        } else {
            publish.encode_to(version, &mut self.tx).is_ok()
        };
        debug_assert!(ok, "publishes are validated before they are sent");
        self.last_sent = now;
    }

    /// The server broke the protocol: DISCONNECT with `reason` in 5.0 ([MQTT-4.13.1-1]), then
    /// the connection is over.
    fn protocol_violation(&mut self, reason: ReasonCode, error: Option<PacketError>) {
        if self.config.version.is_v5() && self.state != ConnectionState::Disconnected {
            let d = Disconnect::new(reason);
            let _ = Packet::Disconnect(d).encode_to(self.config.version, &mut self.tx);
        }
        self.close(CloseReason::ProtocolViolation { reason, error });
    }

    /// Ends the current connection and reports `reason`.
    fn close(&mut self, reason: CloseReason) {
        self.state = ConnectionState::Disconnected;
        self.abort_connection_state();
        self.events.push_back(ClientEvent::Closed(reason));
    }

    /// Drops what lives only as long as one network connection: pending (un)subscribes, acks
    /// not yet sent (the server resends those messages), pings and topic aliases.
    fn abort_connection_state(&mut self) {
        let requests = core::mem::take(&mut self.requests);
        for (id, r) in requests {
            self.ids.release(id);
            if !r.internal {
                self.events
                    .push_back(ClientEvent::RequestAborted { token: r.token });
            }
        }
        self.acks.clear();
        self.ping_sent = None;
        self.user_pings = 0;
        self.connect_deadline = None;
        self.inbound_aliases
            .reset(self.config.inbound_alias_maximum());
        self.outbound_aliases.reset(0);
    }
}
