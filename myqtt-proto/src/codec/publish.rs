//! PUBLISH (MQTT 3.1.1 §3.3, MQTT 5.0 §3.3).

use bytes::{BufMut, Bytes};
use core::fmt;

use super::primitives::{PResult, binary_slice, fail, into_packet_error, packet_id};
use super::properties::{PublishProperties, parse_properties, properties_len, write_properties};
use super::{EncodeError, MqttString, PacketError, PacketId, PacketType, ProtocolVersion, QoS};
use crate::topic::TopicName;

/// A PUBLISH packet. Decoded topic and payload are zero-copy views of the receive buffer.
#[derive(Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: this may be a re-delivery (§3.3.1.1). Never set with QoS 0 ([MQTT-3.3.1-2]).
    pub dup: bool,
    /// QoS level (§3.3.1.2).
    pub qos: QoS,
    /// RETAIN (§3.3.1.3).
    pub retain: bool,
    /// Topic Name; empty only in MQTT 5.0 with a Topic Alias (§3.3.2.1).
    pub topic: TopicName,
    /// Packet Identifier: present exactly when QoS > 0 ([MQTT-2.3.1-5]).
    pub packet_id: Option<PacketId>,
    /// PUBLISH properties (MQTT 5.0 only).
    pub properties: PublishProperties,
    /// Application Message.
    pub payload: Bytes,
}

impl fmt::Debug for Publish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publish")
            .field("dup", &self.dup)
            .field("qos", &self.qos)
            .field("retain", &self.retain)
            .field("topic", &self.topic)
            .field("packet_id", &self.packet_id)
            .field("properties", &self.properties)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl Publish {
    /// A QoS 0, non-retained message without properties.
    pub fn new(topic: TopicName, payload: impl Into<Bytes>) -> Self {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic,
            packet_id: None,
            properties: PublishProperties::default(),
            payload: payload.into(),
        }
    }

    pub(crate) fn first_byte(&self) -> u8 {
        (PacketType::Publish as u8) << 4
            | u8::from(self.dup) << 3
            | self.qos.as_u8() << 1
            | u8::from(self.retain)
    }

    /// Decodes a PUBLISH body. Takes `body` by value so the payload is `body` itself,
    /// advanced past the variable header, with no extra reference-count traffic.
    #[inline]
    pub(crate) fn decode(
        flags: u8,
        mut body: Bytes,
        version: ProtocolVersion,
    ) -> Result<Publish, PacketError> {
        let dup = flags & 0b1000 != 0;
        let retain = flags & 0b0001 != 0;
        // QoS 3 was refused with the fixed header ([MQTT-3.3.1-4]).
        let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(PacketError::InvalidQoS)?;
        // [MQTT-3.3.1-2]: DUP MUST be 0 for QoS 0 in 3.1.1 and 5.0. MQTT 3.1 only says the flag
        // "applies to messages where the value of QoS is greater than zero", so a 3.1 receiver
        // ignores it on QoS 0 (found by the decode_v31 fuzz target: kept, it could not be
        // re-encoded).
        let dup = match (dup, qos, version) {
            (true, QoS::AtMostOnce, ProtocolVersion::V3_1) => false,
            (true, QoS::AtMostOnce, _) => return Err(PacketError::DupWithQoS0),
            _ => dup,
        };
        let (payload, (topic, packet_id, properties)) =
            variable_header(&body, version, qos, &body).map_err(into_packet_error)?;
        let header_len = body.len() - payload.len();
        bytes::Buf::advance(&mut body, header_len);
        Ok(Publish {
            dup,
            qos,
            retain,
            topic,
            packet_id,
            properties,
            payload: body,
        })
    }

    #[inline]
    fn check(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        match (self.qos, self.packet_id) {
            (QoS::AtMostOnce, Some(_)) => return Err(EncodeError::UnexpectedPacketId),
            (QoS::AtLeastOnce | QoS::ExactlyOnce, None) => {
                return Err(EncodeError::MissingPacketId);
            }
            _ => {}
        }
        if self.dup && self.qos == QoS::AtMostOnce {
            return Err(EncodeError::DupWithQoS0);
        }
        if self.topic.is_empty() && !(version.is_v5() && self.properties.topic_alias.is_some()) {
            return Err(EncodeError::EmptyTopic);
        }
        Ok(())
    }

    /// Length of everything before the payload, without the fixed header.
    #[inline]
    fn header_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        self.check(version)?;
        let mut len = self.topic.as_mqtt_str().encoded_len();
        if self.packet_id.is_some() {
            len += 2;
        }
        if version.is_v5() {
            len += properties_len(&self.properties)?;
        }
        Ok(len)
    }

    pub(crate) fn remaining_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        Ok(self.header_len(version)? + self.payload.len())
    }

    /// Writes the variable header (topic, packet id, properties), not the payload.
    #[inline]
    pub(crate) fn write_variable_header<B: BufMut + ?Sized>(
        &self,
        version: ProtocolVersion,
        buf: &mut B,
    ) {
        super::primitives::put_binary(buf, self.topic.as_bytes());
        if let Some(id) = self.packet_id {
            buf.put_u16(id.get());
        }
        if version.is_v5() {
            write_properties(buf, &self.properties);
        }
    }

    pub(crate) fn write_body<B: BufMut + ?Sized>(&self, version: ProtocolVersion, buf: &mut B) {
        self.write_variable_header(version, buf);
        buf.put_slice(&self.payload);
    }

    /// Encodes the fixed and variable headers only, for vectored or zero-copy sends where the
    /// payload [`Bytes`] is written after them unchanged (DESIGN §1.7: one payload shared by all
    /// subscribers, headers encoded per subscriber). Returns the header length.
    pub fn encode_header(
        &self,
        version: ProtocolVersion,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        self.encode_parts(version, out, false)
    }

    /// The whole packet into `out`: the fast path of [`super::Packet::encode`].
    #[inline]
    pub(crate) fn encode(
        &self,
        version: ProtocolVersion,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        self.encode_parts(version, out, true)
    }

    /// Writes the headers, and the payload if `with_payload`, computing the variable header
    /// length (and its property block) once.
    #[inline]
    fn encode_parts(
        &self,
        version: ProtocolVersion,
        out: &mut [u8],
        with_payload: bool,
    ) -> Result<usize, EncodeError> {
        let header_len = self.header_len(version)?;
        let remaining = u32::try_from(header_len + self.payload.len())
            .ok()
            .filter(|r| *r <= super::varint::MAX_VARINT)
            .ok_or(EncodeError::PacketTooLarge)?;
        let head = super::FixedHeader::encoded_len(remaining) + header_len;
        let required = if with_payload {
            head + self.payload.len()
        } else {
            head
        };
        if out.len() < required {
            return Err(EncodeError::BufferTooSmall { required });
        }
        let (mut w, payload) = out[..required].split_at_mut(head);
        w.put_u8(self.first_byte());
        super::varint::write_varint(&mut w, remaining);
        self.write_variable_header(version, &mut w);
        debug_assert!(w.is_empty(), "header_len is exact");
        if with_payload {
            payload.copy_from_slice(&self.payload);
        }
        Ok(required)
    }
}

type VariableHeader = (TopicName, Option<PacketId>, PublishProperties);

// Returning the parts by value measured faster than filling a `&mut Publish` in place.
#[inline]
fn variable_header<'a>(
    body: &Bytes,
    version: ProtocolVersion,
    qos: QoS,
    i: &'a [u8],
) -> PResult<'a, VariableHeader> {
    let (i, raw_topic) = binary_slice(i)?;
    let (i, packet_id) = if qos == QoS::AtMostOnce {
        (i, None)
    } else {
        let (i, id) = packet_id(i)?;
        (i, Some(id))
    };
    let (i, properties) = if version.is_v5() {
        parse_properties::<PublishProperties>(body, PacketType::Publish, i)?
    } else {
        (i, PublishProperties::default())
    };
    let topic = if raw_topic.is_empty() {
        // MQTT 5.0 §3.3.2.1: a zero-length topic is allowed only with a Topic Alias;
        // 3.x [MQTT-4.7.3-1]: topic names are at least one character long.
        if version.is_v5() && properties.topic_alias.is_some() {
            TopicName::empty()
        } else {
            return Err(fail(PacketError::EmptyTopicWithoutAlias));
        }
    } else {
        let s = MqttString::from_bytes(body.slice_ref(raw_topic)).map_err(|e| fail(e.into()))?;
        // [MQTT-3.3.2-2]: no wildcards in a topic name.
        TopicName::try_from(s).map_err(|_| fail(PacketError::InvalidTopicName))?
    };
    Ok((i, (topic, packet_id, properties)))
}

impl Publish {
    /// Exact encoded size of this PUBLISH, fixed header included.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let remaining = self.checked_remaining_len(version)?;
        Ok(super::FixedHeader::encoded_len(remaining) + remaining as usize)
    }

    /// Appends this PUBLISH to `buf` without going through [`Packet`](super::Packet) (no move,
    /// no clone), returning its length.
    pub fn encode_to<B: BufMut + ?Sized>(
        &self,
        version: ProtocolVersion,
        buf: &mut B,
    ) -> Result<usize, EncodeError> {
        let remaining = self.checked_remaining_len(version)?;
        let required = super::FixedHeader::encoded_len(remaining) + remaining as usize;
        if buf.remaining_mut() < required {
            return Err(EncodeError::BufferTooSmall { required });
        }
        buf.put_u8(self.first_byte());
        super::varint::write_varint(buf, remaining);
        self.write_body(version, buf);
        Ok(required)
    }

    fn checked_remaining_len(&self, version: ProtocolVersion) -> Result<u32, EncodeError> {
        u32::try_from(self.remaining_len(version)?)
            .ok()
            .filter(|r| *r <= super::varint::MAX_VARINT)
            .ok_or(EncodeError::PacketTooLarge)
    }
}
