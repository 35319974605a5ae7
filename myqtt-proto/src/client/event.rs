//! What the client reports: events, tokens, close reasons and command errors.

use alloc::vec::Vec;
use core::fmt;

use crate::codec::{Auth, ConnAck, Disconnect, PacketError, PacketId, Publish, ReasonCode};

/// Identifies one publish; completed by [`ClientEvent::Published`] exactly once.
#[must_use = "wait for ClientEvent::Published with this token to learn the outcome"]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublishToken(pub u64);

/// Identifies one SUBSCRIBE or UNSUBSCRIBE; completed by [`ClientEvent::Subscribed`] or
/// [`ClientEvent::Unsubscribed`] (or [`ClientEvent::RequestAborted`]) exactly once.
#[must_use = "wait for the matching event with this token"]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestToken(pub u64);

/// Handle to acknowledge a QoS 1/2 message in manual-ack mode with
/// [`Client::ack`](super::Client::ack).
#[must_use = "in manual-ack mode every QoS 1/2 message must be acknowledged"]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AckHandle {
    pub(crate) packet_id: PacketId,
    pub(crate) connection: u64,
}

/// How a publish ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Acknowledged (QoS 1/2) or handed to the transport (QoS 0), with the server's reason
    /// code (always Success in 3.x). A 5.0 code >= 0x80 means the server refused the message.
    Acknowledged(ReasonCode),
    /// The server did not resume the session, so the message in flight is lost
    /// (MQTT 3.1.1 §4.4: only a present session carries unacknowledged messages over).
    SessionLost,
    /// Dropped before completion by [`Client::discard_session`](super::Client::discard_session).
    Discarded,
    /// Refused before it was sent: the server's limits of the new connection do not allow it.
    Rejected(CommandError),
}

/// Why the connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The application called [`Client::disconnect`](super::Client::disconnect).
    Local(ReasonCode),
    /// The server refused the connection in CONNACK.
    Refused(alloc::boxed::Box<ConnAck>),
    /// The server sent DISCONNECT (MQTT 5.0), e.g. Session taken over or Use another server;
    /// `server_reference` in the properties tells where to go (§4.11).
    ServerDisconnect(alloc::boxed::Box<Disconnect>),
    /// The server broke the protocol; the client sent DISCONNECT with this code (5.0) or just
    /// closed (3.x).
    ProtocolViolation {
        /// The reason code (sent in 5.0).
        reason: ReasonCode,
        /// The decode error, if the packet was malformed.
        error: Option<PacketError>,
    },
    /// No CONNACK within the connect timeout.
    ConnectTimeout,
    /// No PINGRESP within the ping timeout ([MQTT-3.1.2-24] on the server side; the client
    /// applies the same rule).
    KeepAliveTimeout,
    /// The transport closed ([`Client::handle_closed`](super::Client::handle_closed)).
    TransportClosed,
}

/// An event for the application, drained with [`Client::poll_event`](super::Client::poll_event).
// `Message` carries the PUBLISH by value: boxing it would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// CONNACK accepted the connection.
    Connected {
        /// Whether the server resumed a session ([MQTT-3.2.2-2]).
        session_present: bool,
        /// The CONNACK, with the server's 5.0 properties (assigned client id, limits...).
        connack: alloc::boxed::Box<ConnAck>,
    },
    /// An application message arrived. `ack` is `Some` in manual-ack mode for QoS 1/2.
    Message {
        /// The PUBLISH, topic aliases resolved.
        publish: Publish,
        /// Handle for [`Client::ack`](super::Client::ack) in manual-ack mode.
        ack: Option<AckHandle>,
    },
    /// A publish completed.
    Published {
        /// The token from [`Client::publish`](super::Client::publish).
        token: PublishToken,
        /// How it ended.
        outcome: PublishOutcome,
    },
    /// SUBACK: one result per requested filter, in order ([MQTT-3.9.3-1]).
    Subscribed {
        /// The token from [`Client::subscribe`](super::Client::subscribe).
        token: RequestToken,
        /// Granted QoS ([`ReasonCode::granted_qos`]) or a failure code, per filter.
        results: Vec<ReasonCode>,
    },
    /// UNSUBACK: one result per filter in 5.0; empty in 3.x, which has none.
    Unsubscribed {
        /// The token from [`Client::unsubscribe`](super::Client::unsubscribe).
        token: RequestToken,
        /// Per-filter results (5.0).
        results: Vec<ReasonCode>,
    },
    /// The client restored its subscriptions on a connection without a session
    /// ([`ClientConfig::resubscribe`](super::ClientConfig::resubscribe)): one result per
    /// subscription, in filter order.
    Resubscribed {
        /// Granted QoS or failure code per filter; failed filters are forgotten.
        results: Vec<ReasonCode>,
    },
    /// A SUBSCRIBE or UNSUBSCRIBE was lost with its connection; send it again if still wanted.
    RequestAborted {
        /// The token of the lost request.
        token: RequestToken,
    },
    /// PINGRESP for [`Client::ping`](super::Client::ping).
    PingResponse,
    /// The server continues enhanced authentication (MQTT 5.0 §4.12): answer with
    /// [`Client::auth`](super::Client::auth).
    AuthChallenge(alloc::boxed::Box<Auth>),
    /// The connection ended. State for QoS 1/2 messages is kept for a later resume.
    Closed(CloseReason),
}

/// Why a command was refused. Nothing was sent or queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// The command needs an established connection.
    NotConnected,
    /// The publish queue is full ([`ClientConfig::max_queued`](super::ClientConfig::max_queued)).
    QueueFull,
    /// Every packet identifier is in use.
    NoPacketIdAvailable,
    /// QoS above the server's Maximum QoS ([MQTT-3.2.2-11]).
    QoSNotSupported,
    /// RETAIN while the server has no retain support ([MQTT-3.2.2-14]).
    RetainNotSupported,
    /// The packet is larger than the server's Maximum Packet Size ([MQTT-3.1.2-24]).
    PacketTooLarge,
    /// A wildcard, shared or identified subscription the server said it does not support
    /// (MQTT 5.0 §3.2.2.3.11-13).
    FeatureNotSupported,
    /// The packet cannot be encoded (empty filter list, invalid combination...).
    InvalidPacket,
    /// The ack handle belongs to another connection or was already used.
    UnknownAck,
    /// No enhanced authentication is in progress, or the version has no AUTH.
    NoAuthInProgress,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommandError::NotConnected => "not connected",
            CommandError::QueueFull => "publish queue is full",
            CommandError::NoPacketIdAvailable => "no packet identifier available",
            CommandError::QoSNotSupported => "QoS above the server's maximum",
            CommandError::RetainNotSupported => "the server does not support retain",
            CommandError::PacketTooLarge => "packet larger than the server's maximum packet size",
            CommandError::FeatureNotSupported => "subscription feature not supported by the server",
            CommandError::InvalidPacket => "packet cannot be encoded",
            CommandError::UnknownAck => "unknown or already used ack handle",
            CommandError::NoAuthInProgress => "no enhanced authentication in progress",
        })
    }
}

impl core::error::Error for CommandError {}
