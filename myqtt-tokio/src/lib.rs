//! MQTT client and broker on the tokio runtime.
//!
//! A [`server::Server`] (MyQtt's listener side and the `myqttd` broker) and a
//! [`client::Client`] (MyQtt's `Conn`) on tokio. Both are written once, runtime-neutral, in
//! `myqtt-host` (which drives the sans-IO state machines of [`myqtt_proto`]); this crate
//! supplies the [`Tokio`] runtime (tasks, timers, sockets, signals) and the `myqttd` binary.
//! `myqtt-smol` offers the same types under the same names on smol. It holds no protocol
//! logic of its own.

pub mod client;
pub mod myqttd;
pub mod runtime;
pub mod server;

pub use myqtt_host::clock::Clock;
pub use runtime::Tokio;
