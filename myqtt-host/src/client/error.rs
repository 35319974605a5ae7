//! [`ClientError`]: why a client operation failed.

use std::convert::Infallible;
use std::fmt;
use std::io;

use myqtt_proto::client::{CloseReason, CommandError};
use myqtt_proto::codec::ReasonCode;
use myqtt_proto::topic::TopicError;

/// Why a [`Client`](super::Client) operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The transport could not be opened (DNS, TCP connect...).
    Io(io::Error),
    /// The server refused the connection in CONNACK with this reason code (3.x return codes are
    /// mapped to their 5.0 equivalents, e.g. Bad User Name or Password).
    Refused(ReasonCode),
    /// The first connection ended before CONNACK accepted it (protocol violation, connect
    /// timeout, server DISCONNECT, transport closed).
    ConnectFailed(CloseReason),
    /// The operation did not complete within its time limit. A publish stays queued or in
    /// flight in the session: only the wait ended.
    Timeout,
    /// The command needs a connection and the client is between connections.
    NotConnected,
    /// The session core refused the command (queue full, QoS above the server's maximum...).
    Command(CommandError),
    /// The server refused the publish with this 5.0 reason code (>= 0x80) in PUBACK / PUBREC.
    PublishRefused(ReasonCode),
    /// The server refused the subscription with this reason code (0x80 in 3.x).
    SubscribeRefused(ReasonCode),
    /// The server refused the unsubscription with this 5.0 reason code.
    UnsubscribeRefused(ReasonCode),
    /// The message was in flight when the client reconnected to a server that kept no session:
    /// the server may or may not have received it (MQTT 3.1.1 §4.4).
    SessionLost,
    /// The request (subscribe, unsubscribe, ping) was lost with its connection; send it again if
    /// still wanted.
    ConnectionLost,
    /// The client is closed ([`Client::close`](super::Client::close),
    /// [`Client::shutdown`](super::Client::shutdown), or the connection was lost with
    /// reconnection disabled).
    Closed,
    /// An invalid topic name or filter.
    InvalidTopic(TopicError),
    /// Invalid [`ConnectOptions`](super::ConnectOptions) (client id, user name, will topic).
    InvalidOptions(String),
    /// The client storage ([`ConnectOptions::storage`](super::ConnectOptions::storage)) could
    /// not be opened, read or restored when connecting.
    Storage(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "transport error: {e}"),
            ClientError::Refused(rc) => write!(f, "connection refused: {rc}"),
            ClientError::ConnectFailed(reason) => write!(f, "connection failed: {reason:?}"),
            ClientError::Timeout => f.write_str("operation timed out"),
            ClientError::NotConnected => f.write_str("not connected"),
            ClientError::Command(e) => write!(f, "command refused: {e}"),
            ClientError::PublishRefused(rc) => write!(f, "publish refused: {rc}"),
            ClientError::SubscribeRefused(rc) => write!(f, "subscription refused: {rc}"),
            ClientError::UnsubscribeRefused(rc) => write!(f, "unsubscription refused: {rc}"),
            ClientError::SessionLost => f.write_str("message lost with the session"),
            ClientError::ConnectionLost => f.write_str("request lost with the connection"),
            ClientError::Closed => f.write_str("client closed"),
            ClientError::InvalidTopic(e) => write!(f, "invalid topic: {e}"),
            ClientError::InvalidOptions(e) => write!(f, "invalid options: {e}"),
            ClientError::Storage(e) => write!(f, "client storage: {e}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Io(e) => Some(e),
            ClientError::Command(e) => Some(e),
            ClientError::InvalidTopic(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

impl From<CommandError> for ClientError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::NotConnected => ClientError::NotConnected,
            other => ClientError::Command(other),
        }
    }
}

impl From<TopicError> for ClientError {
    fn from(e: TopicError) -> Self {
        ClientError::InvalidTopic(e)
    }
}

impl From<Infallible> for ClientError {
    fn from(e: Infallible) -> Self {
        match e {}
    }
}
