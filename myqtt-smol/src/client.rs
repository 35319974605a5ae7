//! The smol MQTT client: MyQtt's `Conn` (connect, `sub`, `pub`, message handler, `ping`,
//! `close`/`shutdown`, reconnection, client storage).
//!
//! This is [`myqtt_host::client`] on the [`Smol`] runtime, the same client as
//! `myqtt_tokio::client` with the same names; it runs under `smol::block_on`, async-std's
//! executor or `futures::executor`. A custom [`Connector`] yields a `futures-io` stream, which
//! smol's and async-std's sockets already are.
//!
//! ```no_run
//! use myqtt_proto::QoS;
//! use myqtt_smol::client::{Client, ConnectOptions};
//!
//! smol::block_on(async {
//!     let client = Client::connect("127.0.0.1:1883", ConnectOptions::new("id")).await?;
//!     client.subscribe("topic", QoS::AtMostOnce).await?;
//!     client
//!         .publish("topic", &b"this is a test message"[..], QoS::AtLeastOnce, false)
//!         .await?;
//!     client.close().await?;
//!     Ok::<(), myqtt_smol::client::ClientError>(())
//! })
//! # .unwrap();
//! ```

use crate::Smol;

pub use myqtt_host::client::{
    BoxTransport, ClientError, ConnectFuture, ConnectOptions, Connector, Event, Events, Messages,
    ReconnectPolicy, RestoredPublish, ServerAddr, Transport,
};

/// An MQTT client on smol (see [`myqtt_host::client::Client`]).
pub type Client = myqtt_host::client::Client<Smol>;

/// Plain TCP on smol: [`myqtt_host::client::TcpConnector`].
pub type TcpConnector = myqtt_host::client::TcpConnector<Smol>;

/// MQTT over TLS on smol: [`myqtt_host::client::TlsConnector`].
pub type TlsConnector = myqtt_host::client::TlsConnector<Smol>;

/// MQTT over WebSocket (`ws://`) on smol: [`myqtt_host::client::WsConnector`].
pub type WsConnector = myqtt_host::client::WsConnector<Smol>;

/// MQTT over secure WebSocket (`wss://`) on smol: [`myqtt_host::client::WssConnector`].
pub type WssConnector = myqtt_host::client::WssConnector<Smol>;
