//! MQTT client and broker on smol (and under async-std's executor or `futures::executor`).
//!
//! The same client and server as `myqtt-tokio`, instantiated with the [`Smol`] runtime: the
//! code that drives the sans-IO state machines of [`myqtt_proto`] is written once in
//! `myqtt-host` against `futures-io`; this crate only supplies tasks, timers, sockets and
//! signals. It holds no protocol logic of its own.

pub mod client;
pub mod runtime;
pub mod server;

pub use runtime::Smol;
