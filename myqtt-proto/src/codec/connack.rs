//! CONNACK (MQTT 3.1.1 §3.2, MQTT 5.0 §3.2).

use bytes::{BufMut, Bytes};

use super::primitives::{byte, expect_end, into_packet_error};
use super::properties::{ConnAckProperties, parse_properties, properties_len, write_properties};
use super::{EncodeError, PacketError, PacketType, ProtocolVersion, ReasonCode};

/// A CONNACK packet: the server's answer to CONNECT.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnAck {
    /// Session Present (MQTT 3.1.1 §3.2.2.2; always false in MQTT 3.1).
    pub session_present: bool,
    /// The result. In 3.x only the six codes of [`ReasonCode::from_v3_connack`] exist; others
    /// are sent as their closest 3.x code ([`ReasonCode::to_v3_connack`]).
    pub reason_code: ReasonCode,
    /// CONNACK properties (MQTT 5.0 only).
    pub properties: ConnAckProperties,
}

impl ConnAck {
    pub(crate) fn decode(body: &Bytes, version: ProtocolVersion) -> Result<ConnAck, PacketError> {
        let (i, flags) = byte(body).map_err(into_packet_error)?;
        // [MQTT-3.2.2-1] (3.1.1) / MQTT 5.0 §3.2.2.1.1: bits 7-1 are reserved. MQTT 3.1 had no
        // flags at all: the byte is unused there.
        let session_present = match version {
            ProtocolVersion::V3_1 => false,
            _ if flags & 0xFE != 0 => return Err(PacketError::InvalidConnAckFlags),
            _ => flags & 1 != 0,
        };
        let (i, code) = byte(i).map_err(into_packet_error)?;
        let reason_code = if version.is_v5() {
            ReasonCode::from_u8(code)
                .filter(|c| c.is_valid_for(PacketType::ConnAck))
                .ok_or(PacketError::InvalidReasonCode {
                    packet_type: PacketType::ConnAck,
                    code,
                })?
        } else {
            ReasonCode::from_v3_connack(code).ok_or(PacketError::InvalidConnAckCode(code))?
        };
        let (i, properties) = if version.is_v5() && !i.is_empty() {
            parse_properties(body, PacketType::ConnAck, i).map_err(into_packet_error)?
        } else {
            (i, ConnAckProperties::default())
        };
        expect_end(i)?;
        Ok(ConnAck {
            session_present,
            reason_code,
            properties,
        })
    }

    pub(crate) fn remaining_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        Ok(2 + if version.is_v5() {
            properties_len(&self.properties)?
        } else {
            0
        })
    }

    pub(crate) fn write_body<B: BufMut + ?Sized>(&self, version: ProtocolVersion, buf: &mut B) {
        let session_present = self.session_present && version != ProtocolVersion::V3_1;
        buf.put_u8(u8::from(session_present));
        if version.is_v5() {
            buf.put_u8(self.reason_code.as_u8());
            write_properties(buf, &self.properties);
        } else {
            buf.put_u8(self.reason_code.to_v3_connack());
        }
    }
}
