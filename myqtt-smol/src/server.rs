//! The smol MQTT server: MyQtt's `Ctx` + `create_listener` + `wait_listeners`.
//!
//! This is [`myqtt_host::server`] on the [`Smol`] runtime, the same server as
//! `myqtt_tokio::server` with the same names; it runs under `smol::block_on`, async-std's
//! executor or `futures::executor`.
//!
//! ```no_run
//! use myqtt_smol::server::{PublishDecision, Server};
//!
//! smol::block_on(async {
//!     let server = Server::builder()
//!         .on_publish(|_client, msg| {
//!             if msg.topic.as_str() == "discard/this/topic" {
//!                 PublishDecision::Discard
//!             } else {
//!                 PublishDecision::Allow
//!             }
//!         })
//!         .listen("127.0.0.1:1883")
//!         .start()
//!         .await?;
//!     server.wait_for_signal().await; // SIGINT/SIGTERM: graceful stop
//!     Ok::<(), std::io::Error>(())
//! })
//! # .unwrap();
//! ```

use crate::Smol;

pub use myqtt_host::server::{
    BoxFuture, BrokerConfig, ClientView, CloseCause, ClosedInfo, ConnectDecision, ConnectInfo,
    ConnectionHandle, ConnectionId, Domain, PublishDecision, SubscribeDecision,
};

/// A running MQTT server on smol (see [`myqtt_host::server::Server`]).
pub type Server = myqtt_host::server::Server<Smol>;

/// Configures and starts a [`Server`]; made by `Server::builder()` (see
/// [`myqtt_host::server::ServerBuilder`]).
pub type ServerBuilder = myqtt_host::server::ServerBuilder<Smol>;
