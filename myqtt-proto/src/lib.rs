//! # myqtt-proto
//!
//! The sans-IO core of myqtt: the MQTT 3.1, 3.1.1 and 5.0 wire codec ([`codec`]), topic rules
//! ([`topic`]), the QoS engine shared by both sides ([`session`]), the client state machine
//! ([`client`]), and the broker core: one [`server::ServerConnection`] per peer (the wire side)
//! under a [`broker::Broker`] (sessions and routing), with storage as data ([`store`]). It never
//! touches a socket, a clock, a thread or a random source: runtimes feed it bytes and time, and
//! drain what it produces.
//!
//! ## The run loop
//! Every state machine has the same method vocabulary (DESIGN §1.3):
//! - getters (`state()`, `client_id()`, ...);
//! - `handle_*` for input: `handle_connected(now)`, `handle_input(now, &mut rx)`,
//!   `handle_timeout(now)`, `handle_closed(now)`;
//! - commands that return a token or a typed error: `publish`, `subscribe`, `ping`, ...;
//! - outputs: `poll_transmit(&mut out)`, `poll_event()`, `poll_timeout()`.
//!
//! After every `handle_*` call or command, drain all three outputs. Time is an [`Instant`]
//! (milliseconds on the runtime's monotonic clock), always passed in.
//!
//! ```
//! use bytes::BytesMut;
//! use myqtt_proto::client::{Client, ClientConfig, ClientEvent};
//! use myqtt_proto::codec::{MqttString, ProtocolVersion, Publish, QoS};
//! use myqtt_proto::time::{Duration, Instant};
//! use myqtt_proto::topic::TopicName;
//!
//! // A stand-in transport: what the client writes, and what a server would answer.
//! fn server_answer(request: &[u8]) -> Vec<u8> {
//!     match request.first() {
//!         Some(0x10) => vec![0x20, 0x02, 0x00, 0x00], // CONNECT -> CONNACK accepted
//!         Some(0x32) => vec![0x40, 0x02, 0x00, 0x01], // PUBLISH QoS 1 id 1 -> PUBACK
//!         _ => vec![],
//!     }
//! }
//!
//! let config = ClientConfig::new(ProtocolVersion::V3_1_1, MqttString::try_from("id").unwrap());
//! let mut client = Client::new(config);
//! let mut now = Instant::ZERO;
//! let mut rx = BytesMut::new();
//! let mut tx = Vec::new();
//!
//! client.handle_connected(now);                       // transport is up
//! let topic = TopicName::try_from("a/b").unwrap();
//! let mut message = Publish::new(topic, &b"hello"[..]);
//! message.qos = QoS::AtLeastOnce;
//! let token = client.publish(now, message).unwrap();  // queued until CONNACK
//!
//! let mut acknowledged = false;
//! for _ in 0..4 {
//!     // 1. drain transmit to the socket
//!     tx.clear();
//!     let _ = client.poll_transmit(&mut tx);
//!     // 2. bytes from the socket go to handle_input
//!     rx.extend_from_slice(&server_answer(&tx));
//!     client.handle_input(now, &mut rx);
//!     // 3. drain events to the application
//!     while let Some(event) = client.poll_event() {
//!         if let ClientEvent::Published { token: t, .. } = event {
//!             acknowledged |= t == token;
//!         }
//!     }
//!     // 4. sleep until poll_timeout (or the next input), then handle_timeout
//!     if let Some(deadline) = client.poll_timeout() {
//!         now = deadline.min(now + Duration::from_millis(100));
//!         client.handle_timeout(now);
//!     }
//! }
//! assert!(acknowledged);
//! ```
//!
//! ## Features
//! - no features: the codec, on `core` + the `alloc` crate (`Bytes` needs a global allocator).
//! - `alloc`: allocating conveniences such as [`Packet::to_bytes`](codec::Packet::to_bytes).
//! - `std` (default): implies `alloc`; `std` integration of the `bytes` crate.
//!
//! ## Decoding and encoding
//! ```
//! use bytes::BytesMut;
//! use myqtt_proto::codec::{Packet, ProtocolVersion, Publish, QoS, PacketId};
//! use myqtt_proto::topic::TopicName;
//!
//! let mut publish = Publish::new(TopicName::try_from("a/b").unwrap(), &b"hello"[..]);
//! publish.qos = QoS::AtLeastOnce;
//! publish.packet_id = PacketId::new(10);
//! let packet = Packet::Publish(publish);
//!
//! let mut wire = [0u8; 64];
//! let n = packet.encode(ProtocolVersion::V3_1_1, &mut wire).unwrap();
//! assert_eq!(n, packet.encoded_len(ProtocolVersion::V3_1_1).unwrap());
//!
//! let mut rx = BytesMut::from(&wire[..n]);
//! let decoded = Packet::decode(&mut rx, ProtocolVersion::V3_1_1, 1 << 20).unwrap();
//! assert_eq!(decoded, packet);
//! assert!(rx.is_empty());
//! ```
//!
//! ## Panic policy
//! Input from the network never panics: every malformed or forbidden packet becomes a
//! [`PacketError`](codec::PacketError) that names the MQTT 5.0 reason code to answer with.
//! This is enforced by the fuzz targets in `fuzz/`.

#![no_std]
#![forbid(unsafe_code)]
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod broker;
pub mod client;
pub mod codec;
pub mod server;
pub mod session;
pub mod store;
pub mod time;
pub mod topic;

#[cfg(test)]
mod tests;

pub use codec::{Packet, ProtocolVersion, QoS, ReasonCode};
pub use time::{Duration, Instant};
