//! # myqtt-proto
//!
//! The sans-IO core of myqtt: the MQTT 3.1, 3.1.1 and 5.0 wire codec, topic rules, and (in later
//! releases) the client and broker state machines. It never touches a socket, a clock, a thread
//! or a random source: runtimes feed it bytes and time, and drain what it produces.
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

pub mod client;
pub mod codec;
pub mod session;
pub mod time;
pub mod topic;

#[cfg(test)]
mod tests;

pub use codec::{Packet, ProtocolVersion, QoS, ReasonCode};
