//! The tokio MQTT client (MyQtt's `Conn`), built on the sans-IO
//! [`myqtt_proto::client::Client`].
//!
//! The client is written once, runtime-neutral, in [`myqtt_host::client`]; this module
//! instantiates it with [`Tokio`] (type aliases below) and re-exports the rest, so the names
//! and paths here are the whole public API of the tokio client.
//!
//! [`Client::connect`] opens a transport, sends CONNECT and resolves once CONNACK accepted the
//! connection. A background task then owns the protocol core and the socket; [`Client`] is a
//! cheap, cloneable (`Send + Sync`) handle that talks to it over channels.
//!
//! | MyQtt (`conn.*`)             | here                                              |
//! |------------------------------|---------------------------------------------------|
//! | `myqtt.Conn(ctx, host, port)` | [`Client::connect`] with [`ConnectOptions`]      |
//! | `conn.sub(topic, qos, wait)` -> `(status, qos)` | [`Client::subscribe`] -> granted [`QoS`](myqtt_proto::codec::QoS) |
//! | `conn.unsub(topic, wait)`    | [`Client::unsubscribe`]                           |
//! | `conn.pub(topic, msg, qos, retain, wait)` | [`Client::publish`], resolving on PUBACK / PUBCOMP |
//! | `conn.set_msg_received(h)`   | [`Client::on_message`], or [`Client::messages`] as a stream |
//! | `conn.ping(wait)`            | [`Client::ping`]                                  |
//! | `conn.close()`               | [`Client::close`]: DISCONNECT, the will is discarded |
//! | `conn.shutdown()`            | [`Client::shutdown`]: abrupt, the server publishes the will |
//! | `set_on_reconnect(h)`        | [`Client::events`]: [`Event::Reconnected`]        |
//! | client storage path          | [`ConnectOptions::storage`], [`Client::restored_publishes`] |
//!
//! Every awaited operation is bounded by the operation timeout
//! ([`ConnectOptions::operation_timeout`], 30 s by default; [`Client::with_timeout`] for one
//! call) and fails with [`ClientError::Timeout`] past it. Operations are cancel-safe: dropping a
//! `publish` future (or hitting its timeout) only drops the wait; a message handed to the task
//! stays queued or in flight in the session and is delivered as usual.
//!
//! When the transport is lost, the client reconnects with exponential backoff
//! ([`ReconnectPolicy`]); publishes made meanwhile wait in the session's bounded queue and are
//! sent after the reconnection. With a resumed session (`clean_start(false)`, and a session
//! expiry in 5.0), unacknowledged QoS 1/2 messages are resent with DUP.
//!
//! With [`ConnectOptions::storage`] the session state also survives process restarts: every
//! change is on disk before it is acted on, and the next [`Client::connect`] with the same
//! directory and client id finishes what the previous process left (see
//! [`Client::restored_publishes`]). With [`ConnectOptions::manual_acks`] the application
//! acknowledges QoS 1/2 messages itself with [`Client::ack`].
//!
//! Transports: TCP ([`Client::connect`]); TLS ([`TlsConnector`]), WebSocket ([`WsConnector`])
//! and secure WebSocket ([`WssConnector`]) through [`Client::connect_with`], which takes any
//! [`Connector`] (a proxy, say).
//!
//! A custom [`Connector`] yields a [`Transport`]: a `futures-io` `AsyncRead + AsyncWrite`
//! stream, not a tokio one (the same client code serves every runtime). Wrap a tokio stream
//! with `tokio_util::compat`:
//!
//! ```no_run
//! use myqtt_tokio::client::{BoxTransport, ConnectFuture, Connector};
//! use tokio_util::compat::TokioAsyncReadCompatExt;
//!
//! struct ViaProxy(String);
//!
//! impl Connector for ViaProxy {
//!     fn connect(&self) -> ConnectFuture<'_> {
//!         Box::pin(async move {
//!             let stream = tokio::net::TcpStream::connect(&self.0).await?;
//!             // ... proxy handshake on `stream` ...
//!             Ok(Box::new(stream.compat()) as BoxTransport)
//!         })
//!     }
//!
//!     fn describe(&self) -> String {
//!         format!("proxy://{}", self.0)
//!     }
//! }
//! ```
//!
//! ```no_run
//! use myqtt_proto::codec::QoS;
//! use myqtt_tokio::client::{Client, ConnectOptions};
//!
//! # async fn example() -> Result<(), myqtt_tokio::client::ClientError> {
//! let client = Client::connect("localhost:1883", ConnectOptions::new("id").keep_alive(30)).await?;
//! let granted: QoS = client.subscribe("topic", QoS::AtMostOnce).await?;
//! client.on_message(|msg| println!("{}: {} bytes", msg.topic, msg.payload.len()));
//! client
//!     .publish("topic", &b"this is a test message"[..], QoS::AtLeastOnce, true)
//!     .await?;
//! client.ping().await?;
//! client.close().await?;
//! # let _ = granted;
//! # Ok(())
//! # }
//! ```

pub use myqtt_host::client::{
    BoxTransport, ClientError, ConnectFuture, ConnectOptions, Connector, Event, Events, Messages,
    ReconnectPolicy, RestoredPublish, ServerAddr, Transport,
};

use crate::Tokio;

/// A handle to an MQTT connection on tokio (MyQtt's `Conn`):
/// [`myqtt_host::client::Client`] on [`Tokio`]. Clone it freely; the connection is closed
/// gracefully when the last handle is dropped (as by [`Client::close`]).
pub type Client = myqtt_host::client::Client<Tokio>;

/// Plain TCP (MQTT's port 1883) on tokio: [`myqtt_host::client::TcpConnector`].
pub type TcpConnector = myqtt_host::client::TcpConnector<Tokio>;

/// MQTT over TLS (port 8883) on tokio: [`myqtt_host::client::TlsConnector`].
///
/// ```no_run
/// use myqtt_host::tls::{ClientTls, PemSource};
/// use myqtt_tokio::client::{Client, ConnectOptions, TlsConnector};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = ClientTls::new().ca(PemSource::path("ca.crt")).build()?;
/// let connector = TlsConnector::new("broker.example:8883", tls)?;
/// let client = Client::connect_with(connector, ConnectOptions::new("id")).await?;
/// # Ok(()) }
/// ```
pub type TlsConnector = myqtt_host::client::TlsConnector<Tokio>;

/// MQTT over WebSocket (`ws://`) on tokio: [`myqtt_host::client::WsConnector`].
///
/// ```no_run
/// use myqtt_tokio::client::{Client, ConnectOptions, WsConnector};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let connector = WsConnector::new("ws://broker.example:8080/mqtt")?;
/// let client = Client::connect_with(connector, ConnectOptions::new("id")).await?;
/// # Ok(()) }
/// ```
pub type WsConnector = myqtt_host::client::WsConnector<Tokio>;

/// MQTT over secure WebSocket (`wss://`) on tokio: [`myqtt_host::client::WssConnector`].
pub type WssConnector = myqtt_host::client::WssConnector<Tokio>;
