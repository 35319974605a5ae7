//! UNSUBSCRIBE and UNSUBACK (MQTT 3.1.1 §3.10-3.11, MQTT 5.0 §3.10-3.11).

use alloc::vec::Vec;
use bytes::{BufMut, Bytes};

use super::primitives::{expect_end, into_packet_error, packet_id, put_binary, string};
use super::properties::{
    AckProperties, UnsubscribeProperties, parse_properties, properties_len, write_properties,
};
use super::subscribe::decode_codes;
use super::{EncodeError, PacketError, PacketId, PacketType, ProtocolVersion, ReasonCode};
use crate::topic::TopicFilter;

/// An UNSUBSCRIBE packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet Identifier.
    pub packet_id: PacketId,
    /// At least one topic filter ([MQTT-3.10.3-2]).
    pub filters: Vec<TopicFilter>,
    /// Properties (MQTT 5.0).
    pub properties: UnsubscribeProperties,
}

impl Unsubscribe {
    pub(crate) fn decode(
        body: &Bytes,
        version: ProtocolVersion,
    ) -> Result<Unsubscribe, PacketError> {
        let (i, packet_id) = packet_id(body).map_err(into_packet_error)?;
        let (mut i, properties) = if version.is_v5() {
            parse_properties(body, PacketType::Unsubscribe, i).map_err(into_packet_error)?
        } else {
            (i, UnsubscribeProperties::default())
        };
        let mut filters = Vec::new();
        while !i.is_empty() {
            let (rest, raw) = string(body, i).map_err(into_packet_error)?;
            filters.push(TopicFilter::try_from(raw).map_err(|_| PacketError::InvalidTopicFilter)?);
            i = rest;
        }
        if filters.is_empty() {
            return Err(PacketError::NoTopicFilters);
        }
        Ok(Unsubscribe {
            packet_id,
            filters,
            properties,
        })
    }

    pub(crate) fn remaining_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::NoTopicFilters);
        }
        let props = if version.is_v5() {
            properties_len(&self.properties)?
        } else {
            0
        };
        Ok(2 + props
            + self
                .filters
                .iter()
                .map(|f| f.as_mqtt_str().encoded_len())
                .sum::<usize>())
    }

    pub(crate) fn write_body<B: BufMut + ?Sized>(&self, version: ProtocolVersion, buf: &mut B) {
        buf.put_u16(self.packet_id.get());
        if version.is_v5() {
            write_properties(buf, &self.properties);
        }
        for f in &self.filters {
            put_binary(buf, f.as_bytes());
        }
    }
}

/// An UNSUBACK packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet Identifier of the UNSUBSCRIBE.
    pub packet_id: PacketId,
    /// One reason code per filter (MQTT 5.0 §3.11.3); always empty in 3.x, whose UNSUBACK has
    /// no payload.
    pub reason_codes: Vec<ReasonCode>,
    /// Properties (MQTT 5.0).
    pub properties: AckProperties,
}

impl UnsubAck {
    pub(crate) fn decode(body: &Bytes, version: ProtocolVersion) -> Result<UnsubAck, PacketError> {
        let (i, packet_id) = packet_id(body).map_err(into_packet_error)?;
        if !version.is_v5() {
            expect_end(i)?;
            return Ok(UnsubAck {
                packet_id,
                reason_codes: Vec::new(),
                properties: AckProperties::default(),
            });
        }
        let (i, properties) =
            parse_properties(body, PacketType::UnsubAck, i).map_err(into_packet_error)?;
        let reason_codes = decode_codes(PacketType::UnsubAck, version, i)?;
        Ok(UnsubAck {
            packet_id,
            reason_codes,
            properties,
        })
    }

    pub(crate) fn remaining_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if !version.is_v5() {
            return Ok(2);
        }
        Ok(2 + properties_len(&self.properties)? + self.reason_codes.len())
    }

    pub(crate) fn write_body<B: BufMut + ?Sized>(&self, version: ProtocolVersion, buf: &mut B) {
        buf.put_u16(self.packet_id.get());
        if version.is_v5() {
            write_properties(buf, &self.properties);
            for c in &self.reason_codes {
                buf.put_u8(c.as_u8());
            }
        }
    }
}
