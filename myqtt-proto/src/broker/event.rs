//! What the broker reports to the runtime and the application.

use crate::codec::MqttString;
use crate::server::CloseCause;

use super::{ConnectionId, DropReason};

/// An event, drained with [`Broker::poll_event`](super::Broker::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerEvent {
    /// CONNACK accepted a client.
    ClientConnected {
        /// The connection.
        connection: ConnectionId,
        /// The client identifier.
        client_id: MqttString,
        /// Whether an existing session was resumed.
        session_present: bool,
    },
    /// A connection ended (after CONNECT or not).
    ConnectionClosed {
        /// The connection.
        connection: ConnectionId,
        /// The client identifier, if CONNECT got that far.
        client_id: Option<MqttString>,
        /// Why.
        cause: CloseCause,
    },
    /// A message was not delivered to a session.
    MessageDropped {
        /// The session.
        client_id: MqttString,
        /// Why.
        reason: DropReason,
    },
    /// A will message was published.
    WillPublished {
        /// The client whose will it was.
        client_id: MqttString,
    },
    /// A session ended: clean session, expiry, or clean start of a new connection.
    SessionEnded {
        /// The client identifier.
        client_id: MqttString,
    },
}
