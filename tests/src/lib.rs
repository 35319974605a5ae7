//! End-to-end, interoperability and robustness tests for myqtt.
//!
//! The tests that need outside peers (mosquitto, paho-mqtt, MQTT.js) are behind the `interop`
//! feature; `.ci/run` installs those peers. Under that feature a missing peer is a failure,
//! never a skip: `cargo test -p myqtt-tests --features interop`.
//!
//! - `tests/interop_mosquitto_clients.rs`: `mosquitto_pub`/`mosquitto_sub` against our server;
//! - `tests/interop_paho.rs`: paho-mqtt 2.x (`peers/paho_peer.py`) against our server;
//! - `tests/interop_mosquitto_broker.rs`: our client against Debian's `mosquitto` broker.
//!
//! "Our server" is the library `myqtt_tokio::server::Server`; the `myqttd` binary wraps it.
//! Tests that need the broker process itself (memory readings, `kill -9`, logs) start it
//! with [`myqttd::Myqttd`].

pub mod checklist;
pub mod hostile;
pub mod myqttd;
#[cfg(feature = "interop")]
pub mod peers;
