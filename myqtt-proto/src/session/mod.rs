//! The QoS engine shared by the client and the broker (MQTT 3.1.1 §4.3-4.6, MQTT 5.0 §4.3-4.9).
//!
//! These are plain data structures with `&mut self` methods and no IO: packet identifier
//! allocation, the outbound QoS 1/2 handshakes with resend in original order, inbound QoS 2
//! exactly-once tracking, acknowledgment ordering for manual acks, and topic alias tables.

mod ack_order;
mod id_map;
mod inbound;
mod outbound;
mod packet_ids;
mod topic_alias;

pub use ack_order::{AckKind, AckOrder};
pub use inbound::InboundQos2;
pub use outbound::{
    InFlight, OutboundEntry, OutboundQos, OutboundStage, PubRecOutcome, Resend, SentId,
};
pub use packet_ids::PacketIdPool;
pub use topic_alias::{AliasError, InboundAliases, OutboundAliases};
