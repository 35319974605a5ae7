//! The per-connection state machine.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use bytes::BytesMut;

use crate::codec::{
    ConnAck, Connect, DecodeError, Disconnect, Packet, PacketError, ProtocolVersion, Publish,
    ReasonCode,
};
use crate::session::{InboundAliases, OutboundAliases};
use crate::time::{Duration, Instant};

/// Settings of one server-side connection.
#[derive(Clone, Copy, Debug)]
pub struct ServerConnectionConfig {
    /// Largest packet accepted from the client.
    pub max_packet_size: usize,
    /// Time allowed between the transport opening and CONNECT.
    pub connect_timeout: Duration,
    /// Topic Alias Maximum announced to the client (5.0); aliases above it are refused.
    pub topic_alias_maximum: u16,
}

/// Lifecycle of a server-side connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    /// Waiting for CONNECT.
    AwaitConnect,
    /// CONNECT received; the broker has not answered yet (authentication may be deferred).
    Connecting,
    /// CONNACK accepted the client.
    Connected,
    /// The connection is over; flush the transmit buffer, then close the transport.
    Closed,
}

/// Why a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseCause {
    /// The client sent DISCONNECT.
    ClientDisconnect(Disconnect),
    /// The client broke the protocol; in 5.0 it was sent DISCONNECT (or CONNACK) with this code.
    ProtocolViolation {
        /// Reason code sent (5.0) or that would have been.
        reason: ReasonCode,
        /// The decode error, if the packet was malformed.
        error: Option<PacketError>,
    },
    /// Nothing received for one and a half keep alive periods ([MQTT-3.1.2-24]).
    KeepAliveTimeout,
    /// No CONNECT within the connect timeout.
    ConnectTimeout,
    /// The broker refused the CONNECT.
    Refused(ReasonCode),
    /// The broker closed the connection (takeover, shutdown, hook decision...).
    ServerDisconnect(ReasonCode),
    /// The transport closed.
    TransportClosed,
}

impl core::fmt::Display for CloseCause {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CloseCause::ClientDisconnect(d) => write!(f, "client DISCONNECT: {}", d.reason_code),
            CloseCause::ProtocolViolation {
                reason,
                error: Some(e),
            } => {
                write!(f, "protocol violation: {e} -> {reason}")
            }
            CloseCause::ProtocolViolation {
                reason,
                error: None,
            } => {
                write!(f, "protocol violation: {reason}")
            }
            CloseCause::KeepAliveTimeout => f.write_str("keep alive timeout"),
            CloseCause::ConnectTimeout => f.write_str("no CONNECT in time"),
            CloseCause::Refused(code) => write!(f, "CONNECT refused: {code}"),
            CloseCause::ServerDisconnect(code) => write!(f, "closed by the server: {code}"),
            CloseCause::TransportClosed => f.write_str("transport closed"),
        }
    }
}

impl CloseCause {
    /// Whether the will message must be published ([MQTT-3.1.2-8], MQTT 5.0 §3.1.2.5): on every
    /// close except a normal client DISCONNECT (5.0: except reason 0x00).
    pub fn publishes_will(&self) -> bool {
        match self {
            CloseCause::ClientDisconnect(d) => {
                d.reason_code == ReasonCode::DisconnectWithWillMessage
            }
            CloseCause::Refused(_) => false,
            _ => true,
        }
    }
}

/// What the connection reports to the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    /// A valid CONNECT arrived; answer with [`ServerConnection::accept`] or
    /// [`ServerConnection::reject`].
    Connect(Box<Connect>),
    /// A packet for the broker after CONNACK (PUBLISH with its topic alias resolved, acks,
    /// SUBSCRIBE, UNSUBSCRIBE, AUTH, and PINGREQ, which the owner answers with PINGRESP).
    /// DISCONNECT is handled here.
    Packet(Packet),
    /// The connection ended.
    Closed(CloseCause),
}

/// The topic alias tables of a connection (5.0).
#[derive(Debug, Default)]
struct TopicAliases {
    /// Aliases the client set, up to the Topic Alias Maximum we announced.
    inbound: InboundAliases,
    /// Aliases we set, up to the client's Topic Alias Maximum.
    outbound: OutboundAliases,
}

/// Bytes a fresh transmit buffer starts with (see `ServerConnection::tx_buffer`).
const INITIAL_TX: usize = 2048;

/// One client connection, server side. See the [module docs](super).
#[derive(Debug)]
pub struct ServerConnection {
    /// [`ServerConnectionConfig::max_packet_size`] (the rest of the configuration is used up
    /// at creation and not kept).
    max_packet_size: usize,
    /// [`ServerConnectionConfig::topic_alias_maximum`].
    topic_alias_maximum: u16,
    state: ServerState,
    version: ProtocolVersion,
    keep_alive: u16,
    last_received: Instant,
    connect_deadline: Instant,
    /// Topic alias tables (5.0), made when one of them may hold aliases: boxed because most
    /// connections use none, and the two tables inline cost every connection 64 bytes.
    /// `None` is both tables with a maximum of 0.
    aliases: Option<Box<TopicAliases>>,
    client_max_packet_size: Option<u32>,
    /// Bytes received after CONNECT and before the decision on it: clients may send packets
    /// without waiting for CONNACK; they are processed once accepted and dropped if refused
    /// ([MQTT-3.1.4-5] 3.1.1 / [MQTT-3.1.4-6] 5.0). Also keeps a partial packet left then.
    ///
    /// Boxed, and `None` when empty: only clients that send before CONNACK use it, and a
    /// `BytesMut` is 32 bytes in every connection.
    held: Option<Box<BytesMut>>,
    tx: Vec<u8>,
    /// Events not polled yet. Empty between inputs: the [`Broker`](crate::broker::Broker)
    /// lends it one shared buffer for each input and takes it back once drained
    /// ([`ServerConnection::lend_events`]), so an idle connection holds no event storage (a
    /// queue grown by the CONNECT would otherwise keep four ~200-byte slots for the
    /// connection's life).
    events: VecDeque<ServerEvent>,
}

impl ServerConnection {
    /// A connection whose transport just opened.
    pub fn new(now: Instant, config: ServerConnectionConfig) -> Self {
        ServerConnection {
            max_packet_size: config.max_packet_size,
            topic_alias_maximum: config.topic_alias_maximum,
            state: ServerState::AwaitConnect,
            version: ProtocolVersion::V3_1_1,
            keep_alive: 0,
            last_received: now,
            connect_deadline: now + config.connect_timeout,
            aliases: None,
            client_max_packet_size: None,
            held: None,
            tx: Vec::new(),
            events: VecDeque::new(),
        }
    }

    /// Lifecycle state.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// Protocol version (MQTT 3.1.1 until CONNECT says otherwise).
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Keep alive in force, in seconds.
    pub fn keep_alive(&self) -> u16 {
        self.keep_alive
    }

    /// The client's Maximum Packet Size (5.0), if it set one.
    pub fn client_max_packet_size(&self) -> Option<u32> {
        self.client_max_packet_size
    }

    /// Bytes arrived from the client. Consumes whole packets; poll events and transmit after.
    /// Bytes that follow CONNECT wait inside until the broker accepts or rejects it.
    pub fn handle_input(&mut self, now: Instant, rx: &mut BytesMut) {
        let held_len = self.held.as_ref().map_or(0, |held| held.len());
        if held_len > 0 || self.state == ServerState::Connecting {
            if held_len + rx.len() > self.max_packet_size.saturating_mul(2) {
                // Far more than one packet piled up before CONNACK: refuse to buffer it.
                self.violation(ReasonCode::QuotaExceeded, None);
                return;
            }
            let mut held = self.held.take().map_or_else(BytesMut::new, |held| *held);
            held.extend_from_slice(rx);
            rx.clear();
            self.decode_from(now, &mut held);
            self.hold(held);
            return;
        }
        self.decode_from(now, rx);
        if self.state == ServerState::Connecting && !rx.is_empty() {
            let mut held = BytesMut::new();
            held.extend_from_slice(rx);
            rx.clear();
            self.hold(held);
        }
    }

    /// A packet the transport decoded itself, with the version and maximum size that
    /// [`ServerConnection::transport_decoding`] gave, after every byte that came before it was
    /// passed to [`ServerConnection::handle_input`]. Handled exactly like the same packet
    /// arriving as bytes; a transport that fails to decode reports the error to
    /// [`ServerConnection::handle_decode_error`].
    pub fn handle_decoded(&mut self, now: Instant, packet: Packet) {
        if self.state == ServerState::Closed {
            return;
        }
        debug_assert!(self.held.is_none() && self.state == ServerState::Connected);
        self.last_received = now;
        self.handle_packet(packet);
    }

    /// The transport failed to decode a packet (with the settings of
    /// [`ServerConnection::transport_decoding`]): answered exactly as the same bytes passed to
    /// [`ServerConnection::handle_input`] would be.
    pub fn handle_decode_error(&mut self, error: PacketError) {
        if self.state != ServerState::Closed {
            self.on_decode_error(error);
        }
    }

    /// The protocol version and maximum packet size with which the transport may decode the
    /// packets that follow itself (see [`ServerConnection::handle_decoded`]): only once
    /// CONNACK accepted the client, when the version is fixed and nothing is held back.
    pub fn transport_decoding(&self) -> Option<(ProtocolVersion, usize)> {
        (self.state == ServerState::Connected && self.held.is_none())
            .then_some((self.version, self.max_packet_size))
    }

    /// Keeps `held` for later if it is not empty.
    fn hold(&mut self, held: BytesMut) {
        self.held = (!held.is_empty()).then(|| Box::new(held));
    }

    /// Decodes packets until input runs out, the connection closes, or CONNECT awaits its
    /// decision (then only AUTH and DISCONNECT are taken, MQTT 5.0 §4.12).
    fn decode_from(&mut self, now: Instant, rx: &mut BytesMut) {
        while self.state != ServerState::Closed {
            if self.state == ServerState::Connecting {
                let next = crate::codec::FixedHeader::parse(rx, self.version, self.max_packet_size);
                let auth_or_disconnect = matches!(
                    next,
                    Ok(h) if matches!(h.packet_type, crate::codec::PacketType::Auth | crate::codec::PacketType::Disconnect)
                );
                if !auth_or_disconnect {
                    break;
                }
            }
            match Packet::decode(rx, self.version, self.max_packet_size) {
                Ok(packet) => {
                    self.last_received = now;
                    self.handle_packet(packet);
                }
                Err(DecodeError::Incomplete { .. }) => break,
                Err(DecodeError::Invalid(e)) => {
                    self.on_decode_error(e);
                    break;
                }
            }
        }
    }

    fn on_decode_error(&mut self, e: PacketError) {
        if self.state == ServerState::AwaitConnect {
            // [MQTT-3.1.2-2]: an unsupported protocol level gets CONNACK 0x01 (3.x format, which
            // every version can read) and the connection closes. Other malformed CONNECTs close
            // without CONNACK ([MQTT-3.1.4-1]).
            if matches!(
                e,
                PacketError::UnsupportedProtocolVersion(_) | PacketError::InvalidProtocolName
            ) {
                let ack = ConnAck {
                    reason_code: ReasonCode::UnsupportedProtocolVersion,
                    ..Default::default()
                };
                let _ = Packet::from(ack).encode_to(ProtocolVersion::V3_1_1, &mut self.tx);
            }
            self.close(CloseCause::ProtocolViolation {
                reason: e.reason_code(),
                error: Some(e),
            });
            return;
        }
        self.violation(e.reason_code(), Some(e));
    }

    fn handle_packet(&mut self, packet: Packet) {
        match (self.state, packet) {
            (ServerState::AwaitConnect, Packet::Connect(connect)) => self.on_connect(connect),
            // [MQTT-3.1.0-1]: the first packet MUST be CONNECT.
            (ServerState::AwaitConnect, other) => {
                let e = PacketError::UnexpectedPacket(other.packet_type());
                self.close(CloseCause::ProtocolViolation {
                    reason: e.reason_code(),
                    error: Some(e),
                });
            }
            // MQTT 5.0 §4.12: AUTH may continue authentication before CONNACK.
            (ServerState::Connecting, Packet::Auth(a)) => {
                self.events.push_back(ServerEvent::Packet(Packet::Auth(a)))
            }
            (ServerState::Connecting, Packet::Disconnect(d)) => {
                self.close(CloseCause::ClientDisconnect(d))
            }
            (ServerState::Connecting, other) => {
                // Packets before CONNACK other than AUTH are a protocol violation.
                let e = PacketError::UnexpectedPacket(other.packet_type());
                self.violation(ReasonCode::ProtocolError, Some(e));
            }
            // PINGREQ is reported like the other packets so that its PINGRESP keeps the order
            // of the requests (a SUBSCRIBE then a PINGREQ get SUBACK then PINGRESP); the owner
            // answers it ([MQTT-3.12.4-1]).
            (ServerState::Connected, Packet::Disconnect(d)) => {
                self.close(CloseCause::ClientDisconnect(d))
            }
            (ServerState::Connected, Packet::Publish(mut p)) => {
                let resolved = match &mut self.aliases {
                    Some(aliases) => aliases.inbound.resolve(&mut p),
                    // A maximum of 0: refuses any alias, stores nothing.
                    None => InboundAliases::new(0).resolve(&mut p),
                };
                if let Err(e) = resolved {
                    self.violation(e.reason_code(), None);
                    return;
                }
                self.events
                    .push_back(ServerEvent::Packet(Packet::Publish(p)));
            }
            (
                ServerState::Connected,
                p @ (Packet::Connect(_)
                | Packet::ConnAck(_)
                | Packet::SubAck(_)
                | Packet::UnsubAck(_)
                | Packet::PingResp),
            ) => {
                // [MQTT-3.1.0-2]: a second CONNECT is a protocol violation; the others are
                // server-to-client packets.
                let e = PacketError::UnexpectedPacket(p.packet_type());
                self.violation(ReasonCode::ProtocolError, Some(e));
            }
            (ServerState::Connected, p) => self.events.push_back(ServerEvent::Packet(p)),
            (ServerState::Closed, _) => {}
        }
    }

    fn on_connect(&mut self, connect: Box<Connect>) {
        self.version = connect.protocol_version;
        self.keep_alive = connect.keep_alive;
        self.state = ServerState::Connecting;
        if self.version.is_v5() {
            self.client_max_packet_size = connect.properties.maximum_packet_size.map(|n| n.get());
            let maximum = self.topic_alias_maximum;
            if let Some(aliases) = self.aliases(maximum) {
                aliases.inbound.reset(maximum);
            }
        }
        self.events.push_back(ServerEvent::Connect(connect));
    }

    /// Accepts the client: sends `connack` (its 5.0 Server Keep Alive, if set, becomes the keep
    /// alive in force, [MQTT-3.2.2-21]). `outbound_alias_maximum` is the client's Topic Alias
    /// Maximum to use for aliases towards it (0 disables them).
    pub fn accept(&mut self, now: Instant, connack: ConnAck, outbound_alias_maximum: u16) {
        if self.state != ServerState::Connecting {
            return;
        }
        if let Some(ka) = connack
            .properties
            .server_keep_alive
            .filter(|_| self.version.is_v5())
        {
            self.keep_alive = ka;
        }
        let maximum = if self.version.is_v5() {
            outbound_alias_maximum
        } else {
            0
        };
        if let Some(aliases) = self.aliases(maximum) {
            aliases.outbound.reset(maximum);
        }
        self.state = ServerState::Connected;
        self.last_received = now;
        self.send_packet(now, &Packet::from(connack));
        if let Some(held) = self.held.take() {
            let mut held = *held;
            self.decode_from(now, &mut held);
            self.hold(held);
        }
    }

    /// Refuses the client with `connack` (an error code) and closes ([MQTT-3.2.2-5]).
    pub fn reject(&mut self, now: Instant, connack: ConnAck) {
        if self.state != ServerState::Connecting {
            return;
        }
        let code = connack.reason_code;
        self.held = None;
        self.send_packet(now, &Packet::from(connack));
        self.close(CloseCause::Refused(code));
    }

    /// Sends a packet other than PUBLISH. Ignored once closed.
    pub fn send_packet(&mut self, _now: Instant, packet: &Packet) {
        if self.state == ServerState::Closed {
            return;
        }
        let ok = packet.encode_to(self.version, self.tx_buffer()).is_ok();
        debug_assert!(ok, "the broker only sends valid packets: {packet:?}");
    }

    /// Sends a PUBLISH, applying topic aliases. Returns false without sending if it exceeds the
    /// client's Maximum Packet Size: MQTT 5.0 [MQTT-3.1.2-25] says such a message is discarded
    /// for this client as if it had been delivered.
    pub fn send_publish(&mut self, _now: Instant, publish: &Publish) -> bool {
        if !self.publish_fits(publish) {
            return false;
        }
        let outbound = self
            .aliases
            .as_mut()
            .map(|aliases| &mut aliases.outbound)
            .filter(|outbound| outbound.is_enabled());
        let ok = if let Some(outbound) = outbound {
            let mut aliased = publish.clone();
            outbound.apply(&mut aliased);
            aliased.encode_to(self.version, self.tx_buffer()).is_ok()
        } else {
            publish.encode_to(self.version, self.tx_buffer()).is_ok()
        };
        debug_assert!(ok, "the broker only sends valid publishes");
        ok
    }

    /// Whether [`send_publish`](Self::send_publish) would send `publish` now: the connection
    /// is open and the packet encodes within the client's Maximum Packet Size
    /// ([MQTT-3.1.2-25]).
    pub fn publish_fits(&self, publish: &Publish) -> bool {
        if self.state != ServerState::Connected {
            return false;
        }
        let Ok(len) = publish.encoded_len(self.version) else {
            return false;
        };
        self.client_max_packet_size
            .is_none_or(|max| len <= max as usize)
    }

    /// Closes the connection from the server side: 5.0 clients get DISCONNECT with `reason`
    /// first (MQTT 5.0 §4.13); 3.x connections just close.
    pub fn disconnect(&mut self, now: Instant, reason: ReasonCode) {
        if self.state == ServerState::Closed {
            return;
        }
        if self.version.is_v5() && self.state == ServerState::Connected {
            self.send_packet(now, &Packet::Disconnect(Disconnect::new(reason)));
        }
        self.close(CloseCause::ServerDisconnect(reason));
    }

    /// The client broke the protocol: DISCONNECT with `reason` in 5.0 (CONNACK before the
    /// connection is accepted), then close ([MQTT-4.13.1-1]).
    pub fn violation(&mut self, reason: ReasonCode, error: Option<PacketError>) {
        if self.state == ServerState::Closed {
            return;
        }
        if self.version.is_v5() {
            let packet = if self.state == ServerState::Connected {
                Packet::Disconnect(Disconnect::new(reason))
            } else {
                Packet::from(ConnAck {
                    reason_code: reason,
                    ..Default::default()
                })
            };
            let _ = packet.encode_to(self.version, &mut self.tx);
        }
        self.close(CloseCause::ProtocolViolation { reason, error });
    }

    /// Time passed: enforces the connect timeout and keepalive.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            ServerState::AwaitConnect if now >= self.connect_deadline => {
                self.close(CloseCause::ConnectTimeout)
            }
            ServerState::Connected => {
                if let Some(deadline) = self.keepalive_deadline()
                    && now >= deadline
                {
                    if self.version.is_v5() {
                        self.send_packet(
                            now,
                            &Packet::Disconnect(Disconnect::new(ReasonCode::KeepAliveTimeout)),
                        );
                    }
                    self.close(CloseCause::KeepAliveTimeout);
                }
            }
            _ => {}
        }
    }

    /// The transport closed.
    pub fn handle_closed(&mut self, _now: Instant) {
        self.tx.clear();
        if self.state != ServerState::Closed {
            self.close(CloseCause::TransportClosed);
        }
    }

    fn keepalive_deadline(&self) -> Option<Instant> {
        match self.keep_alive {
            0 => None,
            // [MQTT-3.1.2-24]: one and a half times the keep alive.
            ka => Some(self.last_received + Duration::from_millis(u64::from(ka) * 1500)),
        }
    }

    /// When [`ServerConnection::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ServerState::AwaitConnect => Some(self.connect_deadline),
            ServerState::Connected => self.keepalive_deadline(),
            _ => None,
        }
    }

    /// The transmit buffer, given room for a few packets when it starts empty:
    /// [`ServerConnection::poll_transmit`] hands the whole buffer over (an idle connection
    /// keeps none), and growing a fresh one packet by packet cost a `realloc` every few
    /// packets of a fan-out.
    fn tx_buffer(&mut self) -> &mut Vec<u8> {
        if self.tx.capacity() == 0 {
            self.tx.reserve(INITIAL_TX);
        }
        &mut self.tx
    }

    /// Appends pending bytes to `out`; returns how many. When `out` is empty the transmit
    /// buffer itself is handed over (swapped with `out`, no copy), so pass an empty `Vec`
    /// without capacity to leave none held here between writes.
    #[must_use = "the bytes must be written to the transport"]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.tx.len();
        if out.is_empty() {
            core::mem::swap(out, &mut self.tx);
        } else {
            out.append(&mut self.tx);
        }
        n
    }

    /// The alias tables, to set one to `maximum`: made if it is not 0, `None` if they do not
    /// exist and it is 0 (nothing to reset).
    fn aliases(&mut self, maximum: u16) -> Option<&mut TopicAliases> {
        if maximum > 0 && self.aliases.is_none() {
            self.aliases = Some(Box::default());
        }
        self.aliases.as_deref_mut()
    }

    /// Whether bytes wait in the transmit buffer.
    pub fn has_transmit(&self) -> bool {
        !self.tx.is_empty()
    }

    /// The next event.
    #[must_use = "events carry the client's packets"]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Lets the event queue use `buffer`'s storage while it is empty and smaller: the owner of
    /// many connections keeps one buffer and moves it to the connection it feeds, instead of
    /// every connection keeping its own. Take it back with
    /// [`reclaim_events`](Self::reclaim_events).
    pub(crate) fn lend_events(&mut self, buffer: &mut VecDeque<ServerEvent>) {
        if self.events.is_empty() && self.events.capacity() < buffer.capacity() {
            core::mem::swap(&mut self.events, buffer);
        }
    }

    /// Once every event was polled: leaves the queue without storage, handing it to `buffer`
    /// if it is larger than what `buffer` has (the smaller one is freed).
    pub(crate) fn reclaim_events(&mut self, buffer: &mut VecDeque<ServerEvent>) {
        if self.events.is_empty() && self.events.capacity() > 0 {
            let events = core::mem::take(&mut self.events);
            if events.capacity() > buffer.capacity() {
                *buffer = events;
            }
        }
    }

    fn close(&mut self, cause: CloseCause) {
        self.state = ServerState::Closed;
        self.events.push_back(ServerEvent::Closed(cause));
    }
}
