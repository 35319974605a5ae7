//! MQTT client and broker on the tokio runtime.
//!
//! This crate will drive the sans-IO state machines of [`myqtt_proto`] with tokio sockets, timers,
//! TLS and WebSocket, and ships the `myqttd` broker binary. It holds no protocol logic of its own.
//!
//! It is empty until the runtime issue lands.
