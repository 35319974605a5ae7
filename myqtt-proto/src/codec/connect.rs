//! CONNECT (MQTT 3.1 §3.1, MQTT 3.1.1 §3.1, MQTT 5.0 §3.1).

use bytes::{BufMut, Bytes};

use super::primitives::{
    PResult, binary, binary_len, byte, expect_end, fail, put_binary, string, u16_be,
};
use super::properties::{
    ConnectProperties, WillProperties, parse_properties, properties_len, write_properties,
};
use super::{EncodeError, MqttString, PacketError, PacketType, ProtocolVersion, QoS};
use crate::topic::TopicName;

/// A will message, published by the server when the connection ends without DISCONNECT
/// (MQTT 3.1.1 §3.1.2.5, MQTT 5.0 §3.1.2.5).
#[derive(Clone, PartialEq, Eq)]
pub struct Will {
    /// Will Topic ([MQTT-3.1.3-10]: a valid topic name).
    pub topic: TopicName,
    /// Will Payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// Will Properties (MQTT 5.0 only).
    pub properties: WillProperties,
}

impl core::fmt::Debug for Will {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Will")
            .field("topic", &self.topic)
            .field("payload_len", &self.payload.len())
            .field("qos", &self.qos)
            .field("retain", &self.retain)
            .field("properties", &self.properties)
            .finish()
    }
}

/// A CONNECT packet: the first packet a client sends ([MQTT-3.1.0-1]).
///
/// Its protocol version is carried in the packet; encoding ignores the connection version.
#[derive(Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol name and level (MQTT 3.1.1 §3.1.2.1-2).
    pub protocol_version: ProtocolVersion,
    /// Clean Session (3.x) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep Alive in seconds; 0 turns it off (§3.1.2.10).
    pub keep_alive: u16,
    /// Client Identifier; may be empty (server assigns one) (§3.1.3.1).
    pub client_id: MqttString,
    /// The will message, if any.
    pub will: Option<Will>,
    /// User Name.
    pub username: Option<MqttString>,
    /// Password (binary data).
    pub password: Option<Bytes>,
    /// CONNECT properties (MQTT 5.0 only).
    pub properties: ConnectProperties,
}

impl core::fmt::Debug for Connect {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connect")
            .field("protocol_version", &self.protocol_version)
            .field("clean_start", &self.clean_start)
            .field("keep_alive", &self.keep_alive)
            .field("client_id", &self.client_id)
            .field("will", &self.will)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("properties", &self.properties)
            .finish()
    }
}

impl Connect {
    /// A CONNECT with the given version and client id, clean start, keep alive 60 s and nothing
    /// else set.
    pub fn new(protocol_version: ProtocolVersion, client_id: MqttString) -> Self {
        Connect {
            protocol_version,
            clean_start: true,
            keep_alive: 60,
            client_id,
            will: None,
            username: None,
            password: None,
            properties: ConnectProperties::default(),
        }
    }

    pub(crate) fn decode(body: &Bytes) -> Result<Connect, PacketError> {
        let (i, name) = string(body, body).map_err(super::primitives::into_packet_error)?;
        let (i, level) = byte(i).map_err(super::primitives::into_packet_error)?;
        let version = match ProtocolVersion::from_name_and_level(&name, level) {
            Some(v) => v,
            None if name == "MQTT" || name == "MQIsdp" => {
                return Err(PacketError::UnsupportedProtocolVersion(level));
            }
            None => return Err(PacketError::InvalidProtocolName),
        };
        let (rest, connect) =
            parse_after_level(body, version, i).map_err(super::primitives::into_packet_error)?;
        expect_end(rest)?;
        Ok(connect)
    }

    pub(crate) fn remaining_len(&self) -> Result<usize, EncodeError> {
        let v = self.protocol_version;
        if !v.is_v5() && self.password.is_some() && self.username.is_none() {
            return Err(EncodeError::PasswordWithoutUsername);
        }
        let mut len = 2 + v.protocol_name().len() + 1 + 1 + 2 + self.client_id.encoded_len();
        if v.is_v5() {
            len += properties_len(&self.properties)?;
        }
        if let Some(w) = &self.will {
            if w.topic.is_empty() {
                return Err(EncodeError::EmptyTopic);
            }
            if v.is_v5() {
                len += properties_len(&w.properties)?;
            }
            len += w.topic.as_mqtt_str().encoded_len() + binary_len(&w.payload)?;
        }
        if let Some(u) = &self.username {
            len += u.encoded_len();
        }
        if let Some(p) = &self.password {
            len += binary_len(p)?;
        }
        Ok(len)
    }

    pub(crate) fn write_body<B: BufMut + ?Sized>(&self, buf: &mut B) {
        let v = self.protocol_version;
        put_binary(buf, v.protocol_name().as_bytes());
        buf.put_u8(v.level());
        let mut flags = 0u8;
        if self.clean_start {
            flags |= 0b0000_0010;
        }
        if let Some(w) = &self.will {
            flags |= 0b0000_0100 | (w.qos.as_u8() << 3);
            if w.retain {
                flags |= 0b0010_0000;
            }
        }
        if self.password.is_some() {
            flags |= 0b0100_0000;
        }
        if self.username.is_some() {
            flags |= 0b1000_0000;
        }
        buf.put_u8(flags);
        buf.put_u16(self.keep_alive);
        if v.is_v5() {
            write_properties(buf, &self.properties);
        }
        put_binary(buf, self.client_id.as_bytes());
        if let Some(w) = &self.will {
            if v.is_v5() {
                write_properties(buf, &w.properties);
            }
            put_binary(buf, w.topic.as_bytes());
            put_binary(buf, &w.payload);
        }
        if let Some(u) = &self.username {
            put_binary(buf, u.as_bytes());
        }
        if let Some(p) = &self.password {
            put_binary(buf, p);
        }
    }
}

/// Parses the CONNECT fields after the protocol level (MQTT 3.1.1 §3.1.2.3 onwards).
fn parse_after_level<'a>(
    body: &Bytes,
    version: ProtocolVersion,
    i: &'a [u8],
) -> PResult<'a, Connect> {
    let (i, flags) = byte(i)?;
    // [MQTT-3.1.2-3]: the reserved flag MUST be 0.
    if flags & 0b0000_0001 != 0 {
        return Err(fail(PacketError::ConnectReservedFlag));
    }
    let clean_start = flags & 0b0000_0010 != 0;
    let will_flag = flags & 0b0000_0100 != 0;
    let will_qos_bits = (flags >> 3) & 0b11;
    let will_retain = flags & 0b0010_0000 != 0;
    let password_flag = flags & 0b0100_0000 != 0;
    let username_flag = flags & 0b1000_0000 != 0;
    // [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]: no will QoS/retain without a will.
    if !will_flag && (will_qos_bits != 0 || will_retain) {
        return Err(fail(PacketError::InconsistentWillFlags));
    }
    // [MQTT-3.1.2-12]: Will QoS 3 is malformed.
    let will_qos = QoS::from_u8(will_qos_bits).ok_or_else(|| fail(PacketError::InvalidQoS))?;
    // [MQTT-3.1.2-22]: 3.x forbids a password without a user name (5.0 allows it, §3.1.2.9).
    if !version.is_v5() && password_flag && !username_flag {
        return Err(fail(PacketError::PasswordWithoutUsername));
    }
    let (i, keep_alive) = u16_be(i)?;
    let (i, properties) = if version.is_v5() {
        let (i, p): (_, ConnectProperties) = parse_properties(body, PacketType::Connect, i)?;
        if p.authentication_data.is_some() && p.authentication_method.is_none() {
            return Err(fail(PacketError::AuthenticationDataWithoutMethod));
        }
        (i, p)
    } else {
        (i, ConnectProperties::default())
    };
    let (mut i, client_id) = string(body, i)?;
    let mut will = None;
    if will_flag {
        let (j, will_props) = if version.is_v5() {
            parse_properties(body, PacketType::Connect, i)?
        } else {
            (i, WillProperties::default())
        };
        let (j, topic) = string(body, j)?;
        let topic = TopicName::try_from(topic).map_err(|_| fail(PacketError::InvalidTopicName))?;
        let (j, payload) = binary(body, j)?;
        will = Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties: will_props,
        });
        i = j;
    }
    let (i, username) = if username_flag {
        let (i, u) = string(body, i)?;
        (i, Some(u))
    } else {
        (i, None)
    };
    let (i, password) = if password_flag {
        let (i, p) = binary(body, i)?;
        (i, Some(p))
    } else {
        (i, None)
    };
    Ok((
        i,
        Connect {
            protocol_version: version,
            clean_start,
            keep_alive,
            client_id,
            will,
            username,
            password,
            properties,
        },
    ))
}
