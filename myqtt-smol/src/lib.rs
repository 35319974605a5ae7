//! MQTT client and broker on smol (and async-std executors).
//!
//! This crate will offer the same public API as `myqtt-tokio`, driving the sans-IO state machines
//! of [`myqtt_proto`] with `async-io` sockets and timers. It holds no protocol logic of its own.
//!
//! It is empty until the smol runtime issue lands.
