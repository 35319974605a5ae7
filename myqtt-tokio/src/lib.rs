//! MQTT client and broker on the tokio runtime.
//!
//! This crate drives the sans-IO state machines of [`myqtt_proto`] with tokio sockets and
//! timers: a [`server::Server`] (MyQtt's listener side and the `myqttd` broker) and a
//! [`client::Client`] (MyQtt's `Conn`). It holds no protocol logic of its own.

pub mod client;
pub mod runtime;
pub mod server;
// Only the client uses it until the client is ported to myqtt_host::ws (then it goes).
#[allow(dead_code)]
mod ws;

pub use myqtt_host::clock::Clock;
pub use runtime::Tokio;
