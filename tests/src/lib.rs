//! End-to-end, interoperability and robustness tests for myqtt.
//!
//! Without features (part of `cargo test --workspace`):
//!
//! - `tests/checklist_*.rs`: MyQtt's 97 regression tests, item by item, against the library
//!   server or the `myqttd` binary (`CHECKLIST.md` maps each item to its test);
//! - `tests/hostile_input.rs`: malformed packets, huge lengths, slowloris, dropped and flooding
//!   connections, path-like client ids, refused logins, against `myqttd` with memory bounds;
//! - `tests/crash_safety.rs`: `kill -9` of `myqttd` at random points under load, no
//!   acknowledged message lost, QoS 2 exactly once;
//! - `tests/myqttd_process.rs`: the `myqttd` process harness itself.
//!
//! The tests that need outside peers (mosquitto, paho-mqtt, MQTT.js, amqtt) are behind the
//! `interop` feature; `.ci/run` installs those peers. Under that feature a missing peer is a
//! failure, never a skip: `cargo test -p myqtt-tests --features interop`. `INTEROP.md` has the
//! matrix:
//!
//! - `tests/interop_mosquitto_clients.rs`: `mosquitto_pub`/`mosquitto_sub` against our server;
//! - `tests/interop_paho.rs`: paho-mqtt 2.x (`peers/paho_peer.py`) against our server;
//! - `tests/interop_mqttjs.rs`: MQTT.js (`peers/mqttjs_peer.js`) over TCP and WebSocket against
//!   our server and `myqttd`;
//! - `tests/interop_tls.rs`: the same peers, and our client against mosquitto, over TLS;
//! - `tests/interop_mosquitto_broker.rs`: our client against Debian's `mosquitto` broker;
//! - `tests/interop_amqtt.rs`: our client against the `amqtt` broker (MQTT 3.1.1).
//!
//! "Our server" is the library `myqtt_tokio::server::Server`; the `myqttd` binary wraps it.
//! Tests that need the broker process itself (memory readings, `kill -9`, logs) start it
//! with [`myqttd::Myqttd`].

pub mod checklist;
pub mod hostile;
pub mod myqttd;
#[cfg(feature = "interop")]
pub mod peers;
