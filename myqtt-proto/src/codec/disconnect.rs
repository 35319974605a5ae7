//! DISCONNECT (MQTT 3.1.1 §3.14, MQTT 5.0 §3.14) and AUTH (MQTT 5.0 §3.15).
//!
//! Both carry, in MQTT 5.0, an optional reason code and optional properties: remaining length 0
//! means Success (Normal disconnection) without properties, 1 means no properties
//! (§3.14.2.1, §3.15.2.1).

use bytes::{BufMut, Bytes};

use super::primitives::{byte, expect_end, into_packet_error};
use super::properties::{
    AuthProperties, DisconnectProperties, PropertySet, parse_properties, properties_len,
    write_properties,
};
use super::{EncodeError, PacketError, PacketType, ProtocolVersion, ReasonCode};

/// A DISCONNECT packet. In MQTT 3.x it has no content and is sent by the client only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Disconnect {
    /// Reason code (MQTT 5.0).
    pub reason_code: ReasonCode,
    /// Properties (MQTT 5.0).
    pub properties: DisconnectProperties,
}

impl Disconnect {
    /// A normal disconnection with the given reason and no properties.
    pub fn new(reason_code: ReasonCode) -> Self {
        Disconnect {
            reason_code,
            properties: DisconnectProperties::default(),
        }
    }

    pub(crate) fn decode(
        body: &Bytes,
        version: ProtocolVersion,
    ) -> Result<Disconnect, PacketError> {
        if !version.is_v5() {
            expect_end(body)?;
            return Ok(Disconnect::default());
        }
        let (reason_code, properties) = decode_reason_and_properties(PacketType::Disconnect, body)?;
        Ok(Disconnect {
            reason_code,
            properties,
        })
    }

    pub(crate) fn remaining_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if !version.is_v5() {
            return Ok(0);
        }
        reason_and_properties_len(
            self.reason_code,
            &self.properties,
            self.properties.is_empty(),
        )
    }

    pub(crate) fn write_body<B: BufMut + ?Sized>(&self, version: ProtocolVersion, buf: &mut B) {
        if version.is_v5() {
            write_reason_and_properties(
                buf,
                self.reason_code,
                &self.properties,
                self.properties.is_empty(),
            );
        }
    }
}

/// An AUTH packet (MQTT 5.0 only): a step of enhanced authentication (MQTT 5.0 §4.12).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    /// Success, Continue authentication or Re-authenticate.
    pub reason_code: ReasonCode,
    /// Properties: method, data, reason string, user properties.
    pub properties: AuthProperties,
}

impl Auth {
    pub(crate) fn decode(body: &Bytes) -> Result<Auth, PacketError> {
        let (reason_code, properties) = decode_reason_and_properties(PacketType::Auth, body)?;
        Ok(Auth {
            reason_code,
            properties,
        })
    }

    pub(crate) fn remaining_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if !version.is_v5() {
            return Err(EncodeError::NotInVersion);
        }
        reason_and_properties_len(
            self.reason_code,
            &self.properties,
            self.properties.is_empty(),
        )
    }

    pub(crate) fn write_body<B: BufMut + ?Sized>(&self, buf: &mut B) {
        write_reason_and_properties(
            buf,
            self.reason_code,
            &self.properties,
            self.properties.is_empty(),
        );
    }
}

fn decode_reason_and_properties<P: PropertySet>(
    packet_type: PacketType,
    body: &Bytes,
) -> Result<(ReasonCode, P), PacketError> {
    if body.is_empty() {
        return Ok((ReasonCode::Success, P::default()));
    }
    let (i, code) = byte(body).map_err(into_packet_error)?;
    let reason = ReasonCode::from_u8(code)
        .filter(|c| c.is_valid_for(packet_type))
        .ok_or(PacketError::InvalidReasonCode { packet_type, code })?;
    if i.is_empty() {
        return Ok((reason, P::default()));
    }
    let (i, props) = parse_properties(body, packet_type, i).map_err(into_packet_error)?;
    expect_end(i)?;
    Ok((reason, props))
}

fn reason_and_properties_len<P: PropertySet>(
    reason: ReasonCode,
    props: &P,
    props_empty: bool,
) -> Result<usize, EncodeError> {
    Ok(if !props_empty {
        1 + properties_len(props)?
    } else if reason != ReasonCode::Success {
        1
    } else {
        0
    })
}

fn write_reason_and_properties<P: PropertySet, B: BufMut + ?Sized>(
    buf: &mut B,
    reason: ReasonCode,
    props: &P,
    props_empty: bool,
) {
    if !props_empty || reason != ReasonCode::Success {
        buf.put_u8(reason.as_u8());
        if !props_empty {
            write_properties(buf, props);
        }
    }
}
