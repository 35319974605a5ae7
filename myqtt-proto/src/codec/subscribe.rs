//! SUBSCRIBE and SUBACK (MQTT 3.1.1 §3.8-3.9, MQTT 5.0 §3.8-3.9).

use alloc::vec::Vec;
use bytes::{BufMut, Bytes};

use super::primitives::{PResult, byte, fail, into_packet_error, packet_id, put_binary, string};
use super::properties::{
    AckProperties, SubscribeProperties, parse_properties, properties_len, write_properties,
};
use super::{EncodeError, PacketError, PacketId, PacketType, ProtocolVersion, QoS, ReasonCode};
use crate::topic::TopicFilter;

/// Retain Handling subscription option (MQTT 5.0 §3.8.3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send retained messages only if the subscription does not already exist.
    SendAtSubscribeIfNew = 1,
    /// 2: do not send retained messages at subscribe.
    DoNotSend = 2,
}

/// Subscription options (MQTT 5.0 §3.8.3.1); MQTT 3.x only has the QoS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SubscriptionOptions {
    /// Maximum QoS.
    pub qos: QoS,
    /// No Local: do not forward this client's own publishes back to it (5.0).
    pub no_local: bool,
    /// Retain As Published: keep the RETAIN flag on forwarded messages (5.0).
    pub retain_as_published: bool,
    /// Retain Handling (5.0).
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Options with the given maximum QoS and the 5.0 defaults.
    pub fn new(qos: QoS) -> Self {
        SubscriptionOptions {
            qos,
            ..Default::default()
        }
    }

    fn to_byte(self, version: ProtocolVersion) -> u8 {
        let mut b = self.qos.as_u8();
        if version.is_v5() {
            b |= u8::from(self.no_local) << 2;
            b |= u8::from(self.retain_as_published) << 3;
            b |= (self.retain_handling as u8) << 4;
        }
        b
    }

    fn from_byte(b: u8, version: ProtocolVersion) -> Result<Self, PacketError> {
        // 3.x [MQTT-3.8.3-4]: bits 7-2 reserved. 5.0 [MQTT-3.8.3-5]: bits 7-6 reserved.
        let reserved = if version.is_v5() {
            0b1100_0000
        } else {
            0b1111_1100
        };
        if b & reserved != 0 {
            return Err(PacketError::InvalidSubscriptionOptions);
        }
        let qos = QoS::from_u8(b & 0b11).ok_or(PacketError::InvalidQoS)?;
        let retain_handling = match (b >> 4) & 0b11 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendAtSubscribeIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(PacketError::RetainHandlingThree),
        };
        Ok(SubscriptionOptions {
            qos,
            no_local: b & 0b0100 != 0,
            retain_as_published: b & 0b1000 != 0,
            retain_handling,
        })
    }
}

/// One topic filter of a SUBSCRIBE with its options.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// The topic filter.
    pub filter: TopicFilter,
    /// The options.
    pub options: SubscriptionOptions,
}

impl Subscription {
    /// A subscription to `filter` at maximum QoS `qos` with default options.
    pub fn new(filter: TopicFilter, qos: QoS) -> Self {
        Subscription {
            filter,
            options: SubscriptionOptions::new(qos),
        }
    }
}

/// A SUBSCRIBE packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet Identifier.
    pub packet_id: PacketId,
    /// At least one subscription ([MQTT-3.8.3-3]).
    pub subscriptions: Vec<Subscription>,
    /// SUBSCRIBE properties (MQTT 5.0).
    pub properties: SubscribeProperties,
}

impl Subscribe {
    pub(crate) fn decode(body: &Bytes, version: ProtocolVersion) -> Result<Subscribe, PacketError> {
        let (i, packet_id) = packet_id(body).map_err(into_packet_error)?;
        let (mut i, properties) = if version.is_v5() {
            parse_properties(body, PacketType::Subscribe, i).map_err(into_packet_error)?
        } else {
            (i, SubscribeProperties::default())
        };
        let mut subscriptions = Vec::new();
        while !i.is_empty() {
            let (rest, sub) = subscription(body, version, i).map_err(into_packet_error)?;
            subscriptions.push(sub);
            i = rest;
        }
        if subscriptions.is_empty() {
            return Err(PacketError::NoTopicFilters);
        }
        Ok(Subscribe {
            packet_id,
            subscriptions,
            properties,
        })
    }

    pub(crate) fn remaining_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.subscriptions.is_empty() {
            return Err(EncodeError::NoTopicFilters);
        }
        let mut len = 2;
        if version.is_v5() {
            len += properties_len(&self.properties)?;
        }
        for s in &self.subscriptions {
            len += s.filter.as_mqtt_str().encoded_len() + 1;
        }
        Ok(len)
    }

    pub(crate) fn write_body<B: BufMut + ?Sized>(&self, version: ProtocolVersion, buf: &mut B) {
        buf.put_u16(self.packet_id.get());
        if version.is_v5() {
            write_properties(buf, &self.properties);
        }
        for s in &self.subscriptions {
            put_binary(buf, s.filter.as_bytes());
            buf.put_u8(s.options.to_byte(version));
        }
    }
}

fn subscription<'a>(
    body: &Bytes,
    version: ProtocolVersion,
    i: &'a [u8],
) -> PResult<'a, Subscription> {
    let (i, raw) = string(body, i)?;
    let filter = TopicFilter::try_from(raw).map_err(|_| fail(PacketError::InvalidTopicFilter))?;
    let (i, b) = byte(i)?;
    let options = SubscriptionOptions::from_byte(b, version).map_err(fail)?;
    // MQTT 5.0 [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error.
    if options.no_local && filter.is_shared() {
        return Err(fail(PacketError::NoLocalOnSharedSubscription));
    }
    Ok((i, Subscription { filter, options }))
}

/// A SUBACK packet: one reason code per requested filter, in order ([MQTT-3.9.3-1]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubAck {
    /// Packet Identifier of the SUBSCRIBE.
    pub packet_id: PacketId,
    /// Granted QoS ([`ReasonCode::granted`]) or a failure code per filter. MQTT 3.x can only
    /// carry Granted QoS 0/1/2 and 0x80; any other failure is sent as 0x80.
    pub reason_codes: Vec<ReasonCode>,
    /// Properties (MQTT 5.0).
    pub properties: AckProperties,
}

impl SubAck {
    pub(crate) fn decode(body: &Bytes, version: ProtocolVersion) -> Result<SubAck, PacketError> {
        let (i, packet_id) = packet_id(body).map_err(into_packet_error)?;
        let (i, properties) = if version.is_v5() {
            parse_properties(body, PacketType::SubAck, i).map_err(into_packet_error)?
        } else {
            (i, AckProperties::default())
        };
        let reason_codes = decode_codes(PacketType::SubAck, version, i)?;
        Ok(SubAck {
            packet_id,
            reason_codes,
            properties,
        })
    }

    pub(crate) fn remaining_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let props = if version.is_v5() {
            properties_len(&self.properties)?
        } else {
            0
        };
        Ok(2 + props + self.reason_codes.len())
    }

    pub(crate) fn write_body<B: BufMut + ?Sized>(&self, version: ProtocolVersion, buf: &mut B) {
        buf.put_u16(self.packet_id.get());
        if version.is_v5() {
            write_properties(buf, &self.properties);
            for c in &self.reason_codes {
                buf.put_u8(c.as_u8());
            }
        } else {
            for c in &self.reason_codes {
                buf.put_u8(c.granted_qos().map_or(0x80, QoS::as_u8));
            }
        }
    }
}

/// Decodes the list of reason codes ending a SUBACK or a 5.0 UNSUBACK.
pub(crate) fn decode_codes(
    packet_type: PacketType,
    version: ProtocolVersion,
    i: &[u8],
) -> Result<Vec<ReasonCode>, PacketError> {
    let mut codes = Vec::with_capacity(i.len());
    for &code in i {
        let rc = if version.is_v5() {
            ReasonCode::from_u8(code).filter(|c| c.is_valid_for(packet_type))
        } else {
            // MQTT 3.1.1 §3.9.3: 0x00, 0x01, 0x02 or 0x80.
            match code {
                0..=2 => QoS::from_u8(code).map(ReasonCode::granted),
                0x80 => Some(ReasonCode::UnspecifiedError),
                _ => None,
            }
        };
        codes.push(rc.ok_or(PacketError::InvalidReasonCode { packet_type, code })?);
    }
    Ok(codes)
}
