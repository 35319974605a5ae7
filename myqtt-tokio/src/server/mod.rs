//! The tokio MQTT server: MyQtt's `Ctx` + `create_listener` + `wait_listeners`.
//!
//! This is [`myqtt_host::server`] on the [`Tokio`] runtime; everything but the runtime is
//! written there, once, for every runtime crate.
//!
//! ```no_run
//! use myqtt_tokio::server::{Server, PublishDecision};
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::builder()
//!     .on_publish(|_client, msg| {
//!         if msg.topic.as_str() == "discard/this/topic" { PublishDecision::Discard } else { PublishDecision::Allow }
//!     })
//!     .listen("127.0.0.1:1883")
//!     .start()
//!     .await?;
//! server.wait_for_signal().await; // SIGINT/SIGTERM: graceful stop
//! # Ok(()) }
//! ```

use crate::Tokio;

pub use myqtt_host::server::{
    BoxFuture, BrokerConfig, ClientView, CloseCause, ClosedInfo, ConnectDecision, ConnectInfo,
    ConnectionHandle, ConnectionId, Domain, PublishDecision, SubscribeDecision,
};

/// A running MQTT server on tokio (see [`myqtt_host::server::Server`]).
pub type Server = myqtt_host::server::Server<Tokio>;

/// Configures and starts a [`Server`]; made by `Server::builder()` (see
/// [`myqtt_host::server::ServerBuilder`]).
pub type ServerBuilder = myqtt_host::server::ServerBuilder<Tokio>;
