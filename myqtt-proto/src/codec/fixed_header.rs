//! The fixed header: packet type, flags and remaining length (MQTT 3.1.1 §2.2, MQTT 5.0 §2.1).
//!
//! This is the first, streaming stage of decoding: it needs at most 5 bytes, checks the type, the
//! reserved flags and the announced size against the receiver's maximum packet size, all *before*
//! any of the body is buffered (DESIGN §1.6).

use super::varint::{VarIntRead, read_varint, varint_len};
use super::{DecodeError, PacketError, ProtocolVersion};

/// The type of an MQTT control packet (MQTT 3.1.1 §2.2.1, MQTT 5.0 §2.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PacketType {
    /// Client request to connect.
    Connect = 1,
    /// Connect acknowledgment.
    ConnAck = 2,
    /// Publish message.
    Publish = 3,
    /// Publish acknowledgment (QoS 1).
    PubAck = 4,
    /// Publish received (QoS 2, part 1).
    PubRec = 5,
    /// Publish release (QoS 2, part 2).
    PubRel = 6,
    /// Publish complete (QoS 2, part 3).
    PubComp = 7,
    /// Subscribe request.
    Subscribe = 8,
    /// Subscribe acknowledgment.
    SubAck = 9,
    /// Unsubscribe request.
    Unsubscribe = 10,
    /// Unsubscribe acknowledgment.
    UnsubAck = 11,
    /// Ping request.
    PingReq = 12,
    /// Ping response.
    PingResp = 13,
    /// Disconnect notification.
    Disconnect = 14,
    /// Authentication exchange (MQTT 5.0 only).
    Auth = 15,
}

impl PacketType {
    /// The type with wire value `v` (1..=15).
    pub const fn from_u8(v: u8) -> Option<PacketType> {
        Some(match v {
            1 => PacketType::Connect,
            2 => PacketType::ConnAck,
            3 => PacketType::Publish,
            4 => PacketType::PubAck,
            5 => PacketType::PubRec,
            6 => PacketType::PubRel,
            7 => PacketType::PubComp,
            8 => PacketType::Subscribe,
            9 => PacketType::SubAck,
            10 => PacketType::Unsubscribe,
            11 => PacketType::UnsubAck,
            12 => PacketType::PingReq,
            13 => PacketType::PingResp,
            14 => PacketType::Disconnect,
            15 => PacketType::Auth,
            _ => return None,
        })
    }

    /// The fixed header flags this type requires, or `None` for PUBLISH whose flags carry
    /// DUP, QoS and RETAIN (MQTT 3.1.1 §2.2.2 Table 2.2, MQTT 5.0 §2.1.3 Table 2-2).
    pub const fn required_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

/// A decoded fixed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedHeader {
    /// The packet type.
    pub packet_type: PacketType,
    /// The low four bits of the first byte.
    pub flags: u8,
    /// Length of the variable header and payload.
    pub remaining_length: u32,
    /// Length of the fixed header itself (2 to 5 bytes).
    pub header_len: usize,
}

impl FixedHeader {
    /// Total packet size: fixed header plus remaining length.
    pub const fn packet_len(&self) -> usize {
        self.header_len + self.remaining_length as usize
    }

    /// Parses the fixed header at the front of `input`, which may hold a partial packet.
    ///
    /// Checks, in this order: packet type (0 is reserved; 15 only in MQTT 5.0), the reserved
    /// flags ([MQTT-2.2.2-2] / MQTT 5.0 [MQTT-2.1.3-1]; PUBLISH QoS 3 is [MQTT-3.3.1-4]), the
    /// remaining length encoding, and finally that the whole packet fits `max_packet_size`.
    /// [`DecodeError::Incomplete`] means more bytes are needed to finish the header.
    #[inline]
    pub fn parse(
        input: &[u8],
        version: ProtocolVersion,
        max_packet_size: usize,
    ) -> Result<FixedHeader, DecodeError> {
        let (rest, first) = match nom::number::streaming::u8::<_, ()>(input) {
            Ok(v) => v,
            Err(_) => return Err(DecodeError::Incomplete { needed: 2 }),
        };
        let packet_type = match PacketType::from_u8(first >> 4) {
            Some(PacketType::Auth) if !version.is_v5() => {
                return Err(PacketError::ReservedPacketType(15).into());
            }
            Some(t) => t,
            None => return Err(PacketError::ReservedPacketType(first >> 4).into()),
        };
        let flags = first & 0x0F;
        match packet_type.required_flags() {
            Some(required) if flags != required => {
                return Err(PacketError::InvalidHeaderFlags { packet_type, flags }.into());
            }
            None if (flags >> 1) & 0b11 == 3 => return Err(PacketError::InvalidQoS.into()),
            _ => {}
        }
        let (remaining_length, len_bytes) = match read_varint(rest)? {
            VarIntRead::Value(v, n) => (v, n),
            VarIntRead::Incomplete => return Err(DecodeError::Incomplete { needed: 1 }),
        };
        let header = FixedHeader {
            packet_type,
            flags,
            remaining_length,
            header_len: 1 + len_bytes,
        };
        if header.packet_len() > max_packet_size {
            return Err(PacketError::PacketTooLarge {
                size: header.packet_len(),
                max: max_packet_size,
            }
            .into());
        }
        Ok(header)
    }

    /// Bytes a fixed header announcing `remaining_length` takes.
    pub const fn encoded_len(remaining_length: u32) -> usize {
        1 + varint_len(remaining_length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProtocolVersion::*;

    const MAX: usize = 268_435_460;

    #[test]
    fn parses_type_flags_and_length() {
        let h = FixedHeader::parse(&[0x3B, 0x80, 0x01, 0xAA], V3_1_1, MAX).unwrap();
        assert_eq!(h.packet_type, PacketType::Publish);
        assert_eq!(h.flags, 0x0B);
        assert_eq!(h.remaining_length, 128);
        assert_eq!(h.header_len, 3);
        assert_eq!(h.packet_len(), 131);
    }

    #[test]
    fn incomplete_header_needs_more() {
        assert_eq!(
            FixedHeader::parse(&[], V5, MAX),
            Err(DecodeError::Incomplete { needed: 2 })
        );
        assert_eq!(
            FixedHeader::parse(&[0x30], V5, MAX),
            Err(DecodeError::Incomplete { needed: 1 })
        );
        assert_eq!(
            FixedHeader::parse(&[0x30, 0xFF, 0xFF], V5, MAX),
            Err(DecodeError::Incomplete { needed: 1 })
        );
    }

    /// [MQTT-2.2.2-1] [MQTT-2.2.2-2] [MQTT-2.1.3-1] [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1]
    #[test]
    fn reserved_flags_are_enforced() {
        let bad = [0x11, 0x28, 0x40 | 0x02, 0x60, 0x80, 0xA0, 0xC1, 0xD8, 0xE1];
        for first in bad {
            let err = FixedHeader::parse(&[first, 0], V5, MAX).unwrap_err();
            assert!(
                matches!(
                    err,
                    DecodeError::Invalid(PacketError::InvalidHeaderFlags { .. })
                ),
                "{first:#04x}: {err:?}"
            );
        }
        for good in [0x10, 0x20, 0x40, 0x62, 0x82, 0xA2, 0xC0, 0xE0, 0xF0] {
            assert!(
                FixedHeader::parse(&[good, 0], V5, MAX).is_ok(),
                "{good:#04x}"
            );
        }
    }

    /// [MQTT-3.3.1-4]
    #[test]
    fn publish_qos_3_is_refused_in_the_header() {
        assert_eq!(
            FixedHeader::parse(&[0x36, 0], V3_1_1, MAX),
            Err(DecodeError::Invalid(PacketError::InvalidQoS))
        );
    }

    #[test]
    fn reserved_types_and_auth_before_v5() {
        assert_eq!(
            FixedHeader::parse(&[0x00, 0], V5, MAX),
            Err(DecodeError::Invalid(PacketError::ReservedPacketType(0)))
        );
        assert_eq!(
            FixedHeader::parse(&[0xF0, 0], V3_1_1, MAX),
            Err(DecodeError::Invalid(PacketError::ReservedPacketType(15)))
        );
    }

    /// The size limit is applied from the header alone, before the body arrives (MQTT 5.0 §3.1.2.11.4).
    #[test]
    fn oversized_packet_is_refused_before_its_body() {
        // 256 MB announced, nothing else sent.
        let err = FixedHeader::parse(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F], V5, 1024 * 1024).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Invalid(PacketError::PacketTooLarge {
                size: 268_435_460,
                max: 1024 * 1024
            })
        );
        assert_eq!(
            err.packet_error().unwrap().reason_code(),
            crate::codec::ReasonCode::PacketTooLarge
        );
    }
}
