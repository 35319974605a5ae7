//! [`ConnectOptions`]: what the client sends in CONNECT, and how the runtime behaves around it
//! (timeouts, reconnection, message buffering).

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use myqtt_proto::client::ClientConfig;
use myqtt_proto::codec::{
    ConnectProperties, MqttString, ProtocolVersion, QoS, Will, WillProperties,
};
use myqtt_proto::topic::TopicName;

use super::ClientError;

/// How the client reconnects after losing its transport.
///
/// Reconnection is **on by default**: a lost connection (not one ended by
/// [`Client::close`](super::Client::close) or [`Client::shutdown`](super::Client::shutdown)) is
/// retried after `min_delay`, doubling the delay after every failed attempt up to `max_delay`.
/// The delay has no jitter. Only connections after the first one are retried: if
/// [`Client::connect`](super::Client::connect) fails, it returns the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Whether to reconnect at all.
    pub enabled: bool,
    /// Delay before the first attempt after a loss.
    pub min_delay: Duration,
    /// Upper bound of the exponential backoff.
    pub max_delay: Duration,
}

impl ReconnectPolicy {
    /// Exponential backoff from `min_delay` to `max_delay`.
    pub fn backoff(min_delay: Duration, max_delay: Duration) -> Self {
        ReconnectPolicy {
            enabled: true,
            min_delay,
            max_delay: max_delay.max(min_delay),
        }
    }

    /// Never reconnect: a lost connection ends the client.
    pub fn disabled() -> Self {
        ReconnectPolicy {
            enabled: false,
            ..Self::default()
        }
    }

    /// The delay before attempt number `attempt` (1-based).
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.min_delay.saturating_mul(factor).min(self.max_delay)
    }
}

impl Default for ReconnectPolicy {
    /// Enabled, from 500 ms up to 30 s.
    fn default() -> Self {
        ReconnectPolicy::backoff(Duration::from_millis(500), Duration::from_secs(30))
    }
}

#[derive(Clone, Debug)]
struct WillSpec {
    topic: String,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    properties: WillProperties,
}

/// Options for [`Client::connect`](super::Client::connect): MyQtt's connection options.
///
/// Defaults: MQTT **5.0**, keep alive 60 s, clean start, no will, no credentials, connect timeout
/// 30 s, operation timeout 30 s, reconnection on ([`ReconnectPolicy::default`]), no automatic
/// resubscription, 1,024 messages buffered for [`Client::messages`](super::Client::messages),
/// automatic acknowledgments, no storage (session state in memory only).
///
/// The options do not choose the transport: [`Client::connect`](super::Client::connect) uses
/// TCP; for TLS, WebSocket or secure WebSocket pass a
/// [`TlsConnector`](super::TlsConnector), [`WsConnector`](super::WsConnector) or
/// [`WssConnector`](super::WssConnector) (or any [`Connector`](super::Connector)) with these
/// options to [`Client::connect_with`](super::Client::connect_with). The connect timeout
/// bounds opening the transport (TCP, TLS and WebSocket handshakes) and the CONNECT/CONNACK
/// exchange.
///
/// ```
/// use std::time::Duration;
/// use myqtt_host::client::{ConnectOptions, ReconnectPolicy};
/// use myqtt_proto::codec::{ProtocolVersion, QoS};
///
/// let options = ConnectOptions::new("sensor-1")
///     .version(ProtocolVersion::V3_1_1)
///     .keep_alive(30)
///     .clean_start(false)
///     .credentials("bob", "secret")
///     .will("sensors/1/status", &b"offline"[..], QoS::AtLeastOnce, true)
///     .reconnect(ReconnectPolicy::backoff(Duration::from_millis(100), Duration::from_secs(10)))
///     .resubscribe(true);
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub(crate) client_id: String,
    pub(crate) version: ProtocolVersion,
    pub(crate) keep_alive: u16,
    pub(crate) clean_start: bool,
    will: Option<WillSpec>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Bytes>,
    pub(crate) properties: ConnectProperties,
    pub(crate) connect_timeout: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) reconnect: ReconnectPolicy,
    pub(crate) resubscribe: bool,
    pub(crate) message_capacity: usize,
    pub(crate) max_inflight: u16,
    pub(crate) max_queued: usize,
    pub(crate) storage: Option<PathBuf>,
    pub(crate) manual_acks: bool,
}

impl ConnectOptions {
    /// Options for the client identifier `client_id` (empty asks the server to assign one,
    /// which needs clean start in 3.1.1) with the defaults listed on [`ConnectOptions`].
    pub fn new(client_id: impl Into<String>) -> Self {
        ConnectOptions {
            client_id: client_id.into(),
            version: ProtocolVersion::V5,
            keep_alive: 60,
            clean_start: true,
            will: None,
            username: None,
            password: None,
            properties: ConnectProperties::default(),
            connect_timeout: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            reconnect: ReconnectPolicy::default(),
            resubscribe: false,
            message_capacity: 1024,
            max_inflight: 100,
            max_queued: 10_000,
            storage: None,
            manual_acks: false,
        }
    }

    /// Protocol version (default MQTT 5.0).
    pub fn version(mut self, version: ProtocolVersion) -> Self {
        self.version = version;
        self
    }

    /// Keep Alive in seconds; 0 disables pings (MQTT 3.1.1 §3.1.2.10, 5.0 §3.1.2.10).
    pub fn keep_alive(mut self, seconds: u16) -> Self {
        self.keep_alive = seconds;
        self
    }

    /// Clean Session (3.x) / Clean Start (5.0), used on every connection, reconnections
    /// included. Set it to `false` (and, in 5.0, a [`session_expiry_interval`](Self::session_expiry_interval))
    /// to have in-flight messages resumed after a reconnection.
    pub fn clean_start(mut self, clean: bool) -> Self {
        self.clean_start = clean;
        self
    }

    /// Session Expiry Interval in seconds (MQTT 5.0 §3.1.2.11.2): how long the server keeps the
    /// session after the connection closes. Ignored in 3.x.
    pub fn session_expiry_interval(mut self, seconds: u32) -> Self {
        self.properties.session_expiry_interval = Some(seconds);
        self
    }

    /// The will message the server publishes if the connection ends without DISCONNECT
    /// ([`Client::shutdown`](super::Client::shutdown), a network failure). The topic is
    /// checked when connecting.
    pub fn will(
        mut self,
        topic: impl Into<String>,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Self {
        self.will = Some(WillSpec {
            topic: topic.into(),
            payload: payload.into(),
            qos,
            retain,
            properties: WillProperties::default(),
        });
        self
    }

    /// Will properties (MQTT 5.0: will delay, message expiry...). Applies to the will set with
    /// [`will`](Self::will).
    pub fn will_properties(mut self, properties: WillProperties) -> Self {
        if let Some(will) = &mut self.will {
            will.properties = properties;
        }
        self
    }

    /// User Name and Password.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<Bytes>) -> Self {
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }

    /// User Name alone.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// CONNECT properties (MQTT 5.0; ignored in 3.x). Replaces the session expiry set before.
    pub fn properties(mut self, properties: ConnectProperties) -> Self {
        self.properties = properties;
        self
    }

    /// Time allowed for opening the transport, and then again for CONNACK (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for PINGRESP after a keepalive ping before the connection is declared lost
    /// (default 10 s).
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.ping_timeout = timeout;
        self
    }

    /// Default time limit of every awaited operation (`publish`, `subscribe`, `ping`, `close`...);
    /// past it the operation returns [`ClientError::Timeout`] (default 30 s).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Reconnection policy (default: on, see [`ReconnectPolicy::default`]).
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    /// After reconnecting to a server that kept no session, subscribe again to every filter
    /// granted before (default off).
    pub fn resubscribe(mut self, resubscribe: bool) -> Self {
        self.resubscribe = resubscribe;
        self
    }

    /// Messages buffered for [`Client::messages`](super::Client::messages) before the client
    /// stops reading the socket (default 1,024; at least 1).
    pub fn message_capacity(mut self, capacity: usize) -> Self {
        self.message_capacity = capacity.max(1);
        self
    }

    /// Outbound QoS 1/2 messages in flight at once (default 100), further limited by the
    /// server's Receive Maximum.
    pub fn max_inflight(mut self, max: u16) -> Self {
        self.max_inflight = max;
        self
    }

    /// Publishes queued behind the inflight window or while disconnected (default 10,000);
    /// beyond it `publish` fails with `QueueFull`.
    pub fn max_queued(mut self, max: usize) -> Self {
        self.max_queued = max;
        self
    }

    /// Keeps the session state in `dir` so that it survives process restarts (MyQtt's client
    /// storage path): unacknowledged outgoing QoS 1/2 messages (queued, awaiting PUBACK /
    /// PUBREC, or released and awaiting PUBCOMP) and the ids of incoming QoS 2 messages not yet
    /// released by PUBREL. Off by default: state lives in memory, across reconnections only.
    ///
    /// The directory holds one database file,
    /// [`ClientStore::FILE_NAME`](crate::client_store::ClientStore::FILE_NAME); client ids
    /// are keys inside it, so several clients may use one directory, one process at a time (a
    /// second [`Client`](super::Client) on a directory already open fails to connect with
    /// [`ClientError::Storage`]). Every change is on disk before the PUBLISH leaves, and before a
    /// received QoS 2 message is handed to the application (one fsync per batch of changes).
    ///
    /// On [`Client::connect`](super::Client::connect), what an earlier process left for this
    /// client id is restored: with [`clean_start(false)`](Self::clean_start) (and, in 5.0, a
    /// [`session_expiry_interval`](Self::session_expiry_interval)), the server resumes the
    /// session and the messages are resent with DUP (or PUBREL) and completed; a QoS 2 message
    /// the server resends is not delivered twice. Their completions are available from
    /// [`Client::restored_publishes`](super::Client::restored_publishes). A non-empty client id
    /// is required.
    pub fn storage(mut self, dir: impl Into<PathBuf>) -> Self {
        self.storage = Some(dir.into());
        self
    }

    /// Manual acknowledgments (default off): QoS 1/2 messages are acknowledged (PUBACK /
    /// PUBREC) only when the application calls [`Client::ack`](super::Client::ack) with them,
    /// not when they are received. Acknowledgments leave in the order the messages arrived
    /// ([MQTT-4.6.0-2], [MQTT-4.6.0-3]): acking a later message first holds its PUBACK until the
    /// earlier ones are acked. A message not acked before the connection is lost is resent by
    /// the server on a resumed session (QoS 1; a QoS 2 one is not delivered again, its PUBREC
    /// is sent automatically).
    pub fn manual_acks(mut self, manual: bool) -> Self {
        self.manual_acks = manual;
        self
    }

    /// The core configuration these options stand for.
    pub(crate) fn to_config(&self) -> Result<ClientConfig, ClientError> {
        let client_id = MqttString::try_from(self.client_id.as_str())
            .map_err(|e| ClientError::InvalidOptions(format!("client id: {e}")))?;
        let mut config = ClientConfig::new(self.version, client_id);
        config.keep_alive = self.keep_alive;
        config.clean_start = self.clean_start;
        config.properties = self.properties.clone();
        config.connect_timeout = proto_duration(self.connect_timeout);
        config.ping_timeout = proto_duration(self.ping_timeout);
        config.max_inflight = self.max_inflight;
        config.max_queued = self.max_queued;
        config.resubscribe = self.resubscribe;
        config.manual_acks = self.manual_acks;
        config.persist = self.storage.is_some();
        if config.persist && config.client_id.is_empty() {
            return Err(ClientError::InvalidOptions(
                "storage needs a client id: the stored state is kept under it".into(),
            ));
        }
        if let Some(user) = &self.username {
            config.username = Some(
                MqttString::try_from(user.as_str())
                    .map_err(|e| ClientError::InvalidOptions(format!("user name: {e}")))?,
            );
        }
        config.password = self.password.clone();
        if let Some(w) = &self.will {
            let topic = TopicName::try_from(w.topic.as_str())
                .map_err(|e| ClientError::InvalidOptions(format!("will topic: {e}")))?;
            config.will = Some(Will {
                topic,
                payload: w.payload.clone(),
                qos: w.qos,
                retain: w.retain,
                properties: w.properties.clone(),
            });
        }
        Ok(config)
    }
}

/// A std duration as the core's millisecond duration.
pub(crate) fn proto_duration(d: Duration) -> myqtt_proto::time::Duration {
    myqtt_proto::time::Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let p = ReconnectPolicy::backoff(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(p.delay(1), Duration::from_millis(100));
        assert_eq!(p.delay(2), Duration::from_millis(200));
        assert_eq!(p.delay(4), Duration::from_millis(800));
        assert_eq!(p.delay(5), Duration::from_secs(1));
        assert_eq!(p.delay(1000), Duration::from_secs(1));
    }
}
