//! PUBACK, PUBREC, PUBREL and PUBCOMP (MQTT 3.1.1 §3.4-3.7, MQTT 5.0 §3.4-3.7).
//!
//! The four share one layout: packet identifier, then in MQTT 5.0 an optional reason code and
//! optional properties. A 5.0 sender omits what is default: remaining length 2 means Success
//! with no properties, 3 means no properties (MQTT 5.0 §3.4.2.1, §3.4.2.2.1).

use bytes::{BufMut, Bytes};

use super::primitives::{byte, expect_end, into_packet_error, packet_id};
use super::properties::{AckProperties, parse_properties, properties_len, write_properties};
use super::{EncodeError, PacketError, PacketId, PacketType, ProtocolVersion, ReasonCode};

/// The body shared by PUBACK, PUBREC, PUBREL and PUBCOMP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishAck {
    /// The identifier of the PUBLISH (or PUBREL) acknowledged.
    pub packet_id: PacketId,
    /// Reason code (MQTT 5.0); always Success in 3.x.
    pub reason_code: ReasonCode,
    /// Properties (MQTT 5.0).
    pub properties: AckProperties,
}

/// PUBACK: QoS 1 acknowledgment.
pub type PubAck = PublishAck;
/// PUBREC: QoS 2 delivery part 1.
pub type PubRec = PublishAck;
/// PUBREL: QoS 2 delivery part 2.
pub type PubRel = PublishAck;
/// PUBCOMP: QoS 2 delivery part 3.
pub type PubComp = PublishAck;

impl PublishAck {
    /// An acknowledgment of `packet_id` with reason Success and no properties.
    pub fn new(packet_id: PacketId) -> Self {
        PublishAck {
            packet_id,
            reason_code: ReasonCode::Success,
            properties: AckProperties::default(),
        }
    }

    pub(crate) fn decode(
        packet_type: PacketType,
        body: &Bytes,
        version: ProtocolVersion,
    ) -> Result<PublishAck, PacketError> {
        let (i, packet_id) = packet_id(body).map_err(into_packet_error)?;
        let mut ack = PublishAck::new(packet_id);
        if version.is_v5() && !i.is_empty() {
            let (i, code) = byte(i).map_err(into_packet_error)?;
            ack.reason_code = ReasonCode::from_u8(code)
                .filter(|c| c.is_valid_for(packet_type))
                .ok_or(PacketError::InvalidReasonCode { packet_type, code })?;
            let i = if i.is_empty() {
                i
            } else {
                let (i, props) =
                    parse_properties(body, packet_type, i).map_err(into_packet_error)?;
                ack.properties = props;
                i
            };
            expect_end(i)?;
        } else {
            // MQTT 3.x: remaining length is exactly 2 ([MQTT-3.4.1]... §3.4.1 "Remaining Length
            // field: This is the length of the variable header. For the PUBACK Packet this has
            // the value 2").
            expect_end(i)?;
        }
        Ok(ack)
    }

    /// The common short forms without touching a shared buffer: packet id only, or (5.0)
    /// with a reason code and an empty property section. `None` for anything else (and for
    /// anything invalid), which [`PublishAck::decode`] then handles with its exact error.
    /// Used by [`Packet::decode`](super::Packet::decode) so that an acknowledgment costs no
    /// reference count on the receive buffer.
    #[inline]
    pub(crate) fn decode_short(
        packet_type: PacketType,
        body: &[u8],
        version: ProtocolVersion,
    ) -> Option<PublishAck> {
        let (id, rest) = body.split_first_chunk::<2>()?;
        let mut ack = PublishAck::new(PacketId::new(u16::from_be_bytes(*id))?);
        match rest {
            [] => {}
            [code] | [code, 0] if version.is_v5() => {
                ack.reason_code =
                    ReasonCode::from_u8(*code).filter(|c| c.is_valid_for(packet_type))?;
            }
            _ => return None,
        }
        Some(ack)
    }

    fn has_properties(&self) -> bool {
        !self.properties.is_empty()
    }

    pub(crate) fn remaining_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if !version.is_v5() {
            return Ok(2);
        }
        Ok(if self.has_properties() {
            3 + properties_len(&self.properties)?
        } else if self.reason_code != ReasonCode::Success {
            3
        } else {
            2
        })
    }

    pub(crate) fn write_body<B: BufMut + ?Sized>(&self, version: ProtocolVersion, buf: &mut B) {
        buf.put_u16(self.packet_id.get());
        if version.is_v5() && (self.has_properties() || self.reason_code != ReasonCode::Success) {
            buf.put_u8(self.reason_code.as_u8());
            if self.has_properties() {
                write_properties(buf, &self.properties);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TYPES: [PacketType; 4] = [
        PacketType::PubAck,
        PacketType::PubRec,
        PacketType::PubRel,
        PacketType::PubComp,
    ];

    proptest! {
        /// The short path agrees with the full decoder whenever it answers, and answers the
        /// common forms (MQTT 3.1.1 §3.4.1; MQTT 5.0 §3.4.2.1: remaining length 2 or 3, or 4
        /// with an empty property section).
        #[test]
        fn short_decode_agrees_with_the_full_decoder(
            t in 0..4usize,
            v5 in any::<bool>(),
            body in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0x10), Just(0x92), any::<u8>()], 0..=5),
        ) {
            let version = if v5 { ProtocolVersion::V5 } else { ProtocolVersion::V3_1_1 };
            let full = PublishAck::decode(TYPES[t], &Bytes::copy_from_slice(&body), version);
            match PublishAck::decode_short(TYPES[t], &body, version) {
                Some(ack) => prop_assert_eq!(full, Ok(ack)),
                None => {
                    let common = body.len() == 2 && body != [0, 0];
                    prop_assert!(!common, "short form refused: {:?}", body);
                }
            }
        }
    }
}
