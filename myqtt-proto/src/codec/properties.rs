//! MQTT 5.0 properties (MQTT 5.0 §2.2.2): identifiers, the generic wire machinery, and one
//! typed struct per packet family.
//!
//! Each struct accepts exactly the properties MQTT 5.0 Table 2-4 allows in its packet; any other
//! identifier is a Malformed Packet, and a property that may appear once appearing twice is a
//! Protocol Error (§2.2.2.2). User Property may repeat, and so may Subscription Identifier in a
//! PUBLISH sent to a client (§3.3.2.3.8). Values the specification forbids (a boolean other than
//! 0/1, Receive Maximum 0, Maximum Packet Size 0, Subscription Identifier 0, Maximum QoS 2)
//! are Protocol Errors; Topic Alias 0 is "Topic Alias invalid" ([MQTT-3.3.2-8]).

use alloc::vec::Vec;
use bytes::{BufMut, Bytes};
use core::num::{NonZeroU16, NonZeroU32};

use super::primitives::{
    PResult, binary, binary_len, byte, checked_varint_len, fail, put_binary, put_varint, string,
    u16_be, u32_be, varint,
};
use super::{EncodeError, MqttString, PacketError, PacketType, QoS};
use crate::topic::TopicName;

/// Property identifiers (MQTT 5.0 §2.2.2.2 Table 2-4).
#[allow(missing_docs)]
pub mod id {
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    pub const AUTHENTICATION_DATA: u8 = 0x16;
    pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub const RESPONSE_INFORMATION: u8 = 0x1A;
    pub const SERVER_REFERENCE: u8 = 0x1C;
    pub const REASON_STRING: u8 = 0x1F;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const MAXIMUM_QOS: u8 = 0x24;
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

/// A User Property: a name/value pair of UTF-8 strings (MQTT 5.0 §1.5.7, §3.1.2.11.8).
/// Order and duplicates are preserved ([MQTT-3.3.2-18]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserProperty {
    /// The name.
    pub key: MqttString,
    /// The value.
    pub value: MqttString,
}

impl UserProperty {
    /// A pair from two strings.
    pub fn new(key: MqttString, value: MqttString) -> Self {
        UserProperty { key, value }
    }
}

/// Payload Format Indicator (MQTT 5.0 §3.3.2.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadFormat {
    /// 0: unspecified bytes.
    Unspecified = 0,
    /// 1: UTF-8 encoded character data.
    Utf8 = 1,
}

/// One decoded property value, typed by the wire format of its identifier.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Byte(u8),
    U16(u16),
    U32(u32),
    VarInt(u32),
    Str(MqttString),
    Bin(Bytes),
    Pair(MqttString, MqttString),
}

/// A borrowed property to encode.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PropRef<'a> {
    Byte(u8, u8),
    U16(u8, u16),
    U32(u8, u32),
    VarInt(u8, u32),
    Str(u8, &'a str),
    Bin(u8, &'a [u8]),
    Pair(&'a str, &'a str),
}

impl PropRef<'_> {
    /// Identifier plus value size.
    #[inline]
    fn encoded_len(&self) -> Result<usize, EncodeError> {
        Ok(1 + match self {
            PropRef::Byte(..) => 1,
            PropRef::U16(..) => 2,
            PropRef::U32(..) => 4,
            PropRef::VarInt(_, v) => checked_varint_len(*v)?,
            PropRef::Str(_, s) => 2 + s.len(),
            PropRef::Bin(_, b) => binary_len(b)?,
            PropRef::Pair(k, v) => 4 + k.len() + v.len(),
        })
    }

    #[inline]
    fn write<B: BufMut + ?Sized>(&self, buf: &mut B) {
        match *self {
            PropRef::Byte(id, v) => {
                buf.put_u8(id);
                buf.put_u8(v);
            }
            PropRef::U16(id, v) => {
                buf.put_u8(id);
                buf.put_u16(v);
            }
            PropRef::U32(id, v) => {
                buf.put_u8(id);
                buf.put_u32(v);
            }
            PropRef::VarInt(id, v) => {
                buf.put_u8(id);
                put_varint(buf, v);
            }
            PropRef::Str(id, s) => {
                buf.put_u8(id);
                put_binary(buf, s.as_bytes());
            }
            PropRef::Bin(id, b) => {
                buf.put_u8(id);
                put_binary(buf, b);
            }
            PropRef::Pair(k, v) => {
                buf.put_u8(id::USER_PROPERTY);
                put_binary(buf, k.as_bytes());
                put_binary(buf, v.as_bytes());
            }
        }
    }
}

/// A typed set of properties for one packet family.
pub(crate) trait PropertySet: Default {
    /// Stores one decoded property, or refuses it.
    fn accept(&mut self, packet: PacketType, id: u8, value: Value) -> Result<(), PacketError>;
    /// Calls `f` for every property to encode, in a fixed order.
    fn visit(&self, f: &mut impl FnMut(PropRef<'_>));
    /// Length of all properties, without the length prefix. The default visits them;
    /// hot-path sets compute it directly.
    #[inline]
    fn content_len(&self) -> Result<usize, EncodeError> {
        let mut total = 0usize;
        let mut err = None;
        self.visit(&mut |p| match p.encoded_len() {
            Ok(n) => total += n,
            Err(e) => err = Some(e),
        });
        match err {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }
    /// Writes all properties, without the length prefix, in [`PropertySet::visit`] order.
    #[inline]
    fn write_content<B: BufMut + ?Sized>(&self, buf: &mut B) {
        self.visit(&mut |p| p.write(buf));
    }
    /// Parses the value of property `pid` from `i` and stores it. Sets on a hot path override
    /// this to store fields directly; the default goes through the generic [`Value`].
    #[inline]
    fn parse_one<'a>(
        &mut self,
        body: &Bytes,
        packet: PacketType,
        pid: u8,
        i: &'a [u8],
    ) -> PResult<'a, ()> {
        parse_one_generic(self, body, packet, pid, i)
    }
}

/// The generic path of [`PropertySet::parse_one`]: a typed [`Value`], then `accept`.
fn parse_one_generic<'a, P: PropertySet>(
    props: &mut P,
    body: &Bytes,
    packet: PacketType,
    pid: u8,
    i: &'a [u8],
) -> PResult<'a, ()> {
    let (i, value) = parse_value(body, packet, pid, i)?;
    props.accept(packet, pid, value).map_err(fail)?;
    Ok((i, ()))
}

/// Size of the property block: the length prefix plus all properties.
#[inline]
pub(crate) fn properties_len<P: PropertySet>(props: &P) -> Result<usize, EncodeError> {
    let content = properties_content_len(props)?;
    Ok(checked_varint_len(content as u32)? + content)
}

#[inline]
fn properties_content_len<P: PropertySet>(props: &P) -> Result<usize, EncodeError> {
    match props.content_len()? {
        total if total > super::varint::MAX_VARINT as usize => Err(EncodeError::PacketTooLarge),
        total => Ok(total),
    }
}

/// Writes the property block. The caller has validated it with [`properties_len`].
#[inline]
pub(crate) fn write_properties<P: PropertySet, B: BufMut + ?Sized>(buf: &mut B, props: &P) {
    put_varint(buf, props.content_len().unwrap_or(0) as u32);
    props.write_content(buf);
}

/// Parses a property block (length prefix, then properties) for `packet`.
pub(crate) fn parse_properties<'a, P: PropertySet>(
    body: &Bytes,
    packet: PacketType,
    i: &'a [u8],
) -> PResult<'a, P> {
    let (i, len) = varint(i)?;
    let len = len as usize;
    if len > i.len() {
        return Err(fail(PacketError::UnexpectedEnd));
    }
    let (block, rest) = i.split_at(len);
    let mut props = P::default();
    parse_property_list(body, packet, block, &mut props)?;
    Ok((rest, props))
}

/// The properties of one block, without its length prefix.
#[inline]
fn parse_property_list<'a, P: PropertySet>(
    body: &Bytes,
    packet: PacketType,
    mut block: &'a [u8],
    props: &mut P,
) -> PResult<'a, ()> {
    while !block.is_empty() {
        let (after_id, raw_id) = varint(block)?;
        let Ok(pid) = u8::try_from(raw_id) else {
            return Err(fail(PacketError::PropertyNotAllowed {
                packet_type: packet,
                id: raw_id,
            }));
        };
        let (after_value, ()) = props.parse_one(body, packet, pid, after_id)?;
        block = after_value;
    }
    Ok((block, ()))
}

fn parse_value<'a>(body: &Bytes, packet: PacketType, pid: u8, i: &'a [u8]) -> PResult<'a, Value> {
    use id::*;
    match pid {
        PAYLOAD_FORMAT_INDICATOR
        | REQUEST_PROBLEM_INFORMATION
        | REQUEST_RESPONSE_INFORMATION
        | MAXIMUM_QOS
        | RETAIN_AVAILABLE
        | WILDCARD_SUBSCRIPTION_AVAILABLE
        | SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | SHARED_SUBSCRIPTION_AVAILABLE => byte(i).map(|(i, v)| (i, Value::Byte(v))),
        SERVER_KEEP_ALIVE | RECEIVE_MAXIMUM | TOPIC_ALIAS_MAXIMUM | TOPIC_ALIAS => {
            u16_be(i).map(|(i, v)| (i, Value::U16(v)))
        }
        MESSAGE_EXPIRY_INTERVAL
        | SESSION_EXPIRY_INTERVAL
        | WILL_DELAY_INTERVAL
        | MAXIMUM_PACKET_SIZE => u32_be(i).map(|(i, v)| (i, Value::U32(v))),
        SUBSCRIPTION_IDENTIFIER => varint(i).map(|(i, v)| (i, Value::VarInt(v))),
        CONTENT_TYPE
        | RESPONSE_TOPIC
        | ASSIGNED_CLIENT_IDENTIFIER
        | AUTHENTICATION_METHOD
        | RESPONSE_INFORMATION
        | SERVER_REFERENCE
        | REASON_STRING => string(body, i).map(|(i, v)| (i, Value::Str(v))),
        CORRELATION_DATA | AUTHENTICATION_DATA => binary(body, i).map(|(i, v)| (i, Value::Bin(v))),
        USER_PROPERTY => {
            let (i, k) = string(body, i)?;
            let (i, v) = string(body, i)?;
            Ok((i, Value::Pair(k, v)))
        }
        _ => Err(fail(PacketError::PropertyNotAllowed {
            packet_type: packet,
            id: u32::from(pid),
        })),
    }
}

// ---- helpers used by the `accept` implementations ----

fn once<T>(slot: &mut Option<T>, id: u8, v: T) -> Result<(), PacketError> {
    if slot.is_some() {
        return Err(PacketError::DuplicateProperty(id));
    }
    *slot = Some(v);
    Ok(())
}

fn not_allowed(packet: PacketType, id: u8) -> PacketError {
    PacketError::PropertyNotAllowed {
        packet_type: packet,
        id: u32::from(id),
    }
}

fn flag(id: u8, v: u8) -> Result<bool, PacketError> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(PacketError::InvalidPropertyValue(id)),
    }
}

fn as_byte(packet: PacketType, id: u8, v: Value) -> Result<u8, PacketError> {
    match v {
        Value::Byte(b) => Ok(b),
        _ => Err(not_allowed(packet, id)),
    }
}
fn as_u16(packet: PacketType, id: u8, v: Value) -> Result<u16, PacketError> {
    match v {
        Value::U16(b) => Ok(b),
        _ => Err(not_allowed(packet, id)),
    }
}
fn as_u32(packet: PacketType, id: u8, v: Value) -> Result<u32, PacketError> {
    match v {
        Value::U32(b) | Value::VarInt(b) => Ok(b),
        _ => Err(not_allowed(packet, id)),
    }
}
fn as_str(packet: PacketType, id: u8, v: Value) -> Result<MqttString, PacketError> {
    match v {
        Value::Str(s) => Ok(s),
        _ => Err(not_allowed(packet, id)),
    }
}
fn as_bin(packet: PacketType, id: u8, v: Value) -> Result<Bytes, PacketError> {
    match v {
        Value::Bin(b) => Ok(b),
        _ => Err(not_allowed(packet, id)),
    }
}

fn user_property(
    list: &mut Vec<UserProperty>,
    packet: PacketType,
    v: Value,
) -> Result<(), PacketError> {
    match v {
        Value::Pair(key, value) => {
            list.push(UserProperty { key, value });
            Ok(())
        }
        _ => Err(not_allowed(packet, id::USER_PROPERTY)),
    }
}

fn payload_format(id: u8, v: u8) -> Result<PayloadFormat, PacketError> {
    Ok(if flag(id, v)? {
        PayloadFormat::Utf8
    } else {
        PayloadFormat::Unspecified
    })
}

fn response_topic(v: MqttString) -> Result<TopicName, PacketError> {
    // [MQTT-3.3.2-14]: a Response Topic is a topic name, so it holds no wildcard.
    TopicName::try_from(v).map_err(|_| PacketError::InvalidTopicName)
}

fn visit_users(list: &[UserProperty], f: &mut impl FnMut(PropRef<'_>)) {
    for u in list {
        f(PropRef::Pair(&u.key, &u.value));
    }
}

fn visit_str(f: &mut impl FnMut(PropRef<'_>), id: u8, v: &Option<MqttString>) {
    if let Some(s) = v {
        f(PropRef::Str(id, s));
    }
}

fn visit_bin(f: &mut impl FnMut(PropRef<'_>), id: u8, v: &Option<Bytes>) {
    if let Some(b) = v {
        f(PropRef::Bin(id, b));
    }
}

fn visit_u32(f: &mut impl FnMut(PropRef<'_>), id: u8, v: Option<u32>) {
    if let Some(x) = v {
        f(PropRef::U32(id, x));
    }
}

fn visit_u16(f: &mut impl FnMut(PropRef<'_>), id: u8, v: Option<u16>) {
    if let Some(x) = v {
        f(PropRef::U16(id, x));
    }
}

fn visit_flag(f: &mut impl FnMut(PropRef<'_>), id: u8, v: Option<bool>) {
    if let Some(x) = v {
        f(PropRef::Byte(id, u8::from(x)));
    }
}

// ---- the per-packet property sets ----

/// CONNECT properties (MQTT 5.0 §3.1.2.11).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectProperties {
    /// Session Expiry Interval in seconds (§3.1.2.11.2); absent means 0.
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum (§3.1.2.11.3); absent means 65,535.
    pub receive_maximum: Option<NonZeroU16>,
    /// Maximum Packet Size the client accepts (§3.1.2.11.4).
    pub maximum_packet_size: Option<NonZeroU32>,
    /// Topic Alias Maximum the client accepts (§3.1.2.11.5); absent means 0.
    pub topic_alias_maximum: Option<u16>,
    /// Request Response Information (§3.1.2.11.6).
    pub request_response_information: Option<bool>,
    /// Request Problem Information (§3.1.2.11.7).
    pub request_problem_information: Option<bool>,
    /// User Properties (§3.1.2.11.8).
    pub user_properties: Vec<UserProperty>,
    /// Authentication Method (§3.1.2.11.9).
    pub authentication_method: Option<MqttString>,
    /// Authentication Data (§3.1.2.11.10); only with a method.
    pub authentication_data: Option<Bytes>,
}

impl PropertySet for ConnectProperties {
    fn accept(&mut self, p: PacketType, pid: u8, v: Value) -> Result<(), PacketError> {
        use id::*;
        match pid {
            SESSION_EXPIRY_INTERVAL => {
                once(&mut self.session_expiry_interval, pid, as_u32(p, pid, v)?)
            }
            RECEIVE_MAXIMUM => {
                let n = NonZeroU16::new(as_u16(p, pid, v)?)
                    .ok_or(PacketError::InvalidPropertyValue(pid))?;
                once(&mut self.receive_maximum, pid, n)
            }
            MAXIMUM_PACKET_SIZE => {
                let n = NonZeroU32::new(as_u32(p, pid, v)?)
                    .ok_or(PacketError::InvalidPropertyValue(pid))?;
                once(&mut self.maximum_packet_size, pid, n)
            }
            TOPIC_ALIAS_MAXIMUM => once(&mut self.topic_alias_maximum, pid, as_u16(p, pid, v)?),
            REQUEST_RESPONSE_INFORMATION => once(
                &mut self.request_response_information,
                pid,
                flag(pid, as_byte(p, pid, v)?)?,
            ),
            REQUEST_PROBLEM_INFORMATION => once(
                &mut self.request_problem_information,
                pid,
                flag(pid, as_byte(p, pid, v)?)?,
            ),
            USER_PROPERTY => user_property(&mut self.user_properties, p, v),
            AUTHENTICATION_METHOD => once(&mut self.authentication_method, pid, as_str(p, pid, v)?),
            AUTHENTICATION_DATA => once(&mut self.authentication_data, pid, as_bin(p, pid, v)?),
            _ => Err(not_allowed(p, pid)),
        }
    }

    fn visit(&self, f: &mut impl FnMut(PropRef<'_>)) {
        use id::*;
        visit_u32(f, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        visit_u16(
            f,
            RECEIVE_MAXIMUM,
            self.receive_maximum.map(NonZeroU16::get),
        );
        visit_u32(
            f,
            MAXIMUM_PACKET_SIZE,
            self.maximum_packet_size.map(NonZeroU32::get),
        );
        visit_u16(f, TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        visit_flag(
            f,
            REQUEST_RESPONSE_INFORMATION,
            self.request_response_information,
        );
        visit_flag(
            f,
            REQUEST_PROBLEM_INFORMATION,
            self.request_problem_information,
        );
        visit_users(&self.user_properties, f);
        visit_str(f, AUTHENTICATION_METHOD, &self.authentication_method);
        visit_bin(f, AUTHENTICATION_DATA, &self.authentication_data);
    }
}

/// Will properties, in the CONNECT payload (MQTT 5.0 §3.1.3.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WillProperties {
    /// Will Delay Interval in seconds (§3.1.3.2.2).
    pub will_delay_interval: Option<u32>,
    /// Payload Format Indicator (§3.1.3.2.3).
    pub payload_format_indicator: Option<PayloadFormat>,
    /// Message Expiry Interval in seconds (§3.1.3.2.4).
    pub message_expiry_interval: Option<u32>,
    /// Content Type (§3.1.3.2.5).
    pub content_type: Option<MqttString>,
    /// Response Topic (§3.1.3.2.6).
    pub response_topic: Option<TopicName>,
    /// Correlation Data (§3.1.3.2.7).
    pub correlation_data: Option<Bytes>,
    /// User Properties (§3.1.3.2.8).
    pub user_properties: Vec<UserProperty>,
}

impl PropertySet for WillProperties {
    fn accept(&mut self, p: PacketType, pid: u8, v: Value) -> Result<(), PacketError> {
        use id::*;
        match pid {
            WILL_DELAY_INTERVAL => once(&mut self.will_delay_interval, pid, as_u32(p, pid, v)?),
            PAYLOAD_FORMAT_INDICATOR => once(
                &mut self.payload_format_indicator,
                pid,
                payload_format(pid, as_byte(p, pid, v)?)?,
            ),
            MESSAGE_EXPIRY_INTERVAL => {
                once(&mut self.message_expiry_interval, pid, as_u32(p, pid, v)?)
            }
            CONTENT_TYPE => once(&mut self.content_type, pid, as_str(p, pid, v)?),
            RESPONSE_TOPIC => once(
                &mut self.response_topic,
                pid,
                response_topic(as_str(p, pid, v)?)?,
            ),
            CORRELATION_DATA => once(&mut self.correlation_data, pid, as_bin(p, pid, v)?),
            USER_PROPERTY => user_property(&mut self.user_properties, p, v),
            _ => Err(not_allowed(p, pid)),
        }
    }

    fn visit(&self, f: &mut impl FnMut(PropRef<'_>)) {
        use id::*;
        visit_u32(f, WILL_DELAY_INTERVAL, self.will_delay_interval);
        if let Some(pf) = self.payload_format_indicator {
            f(PropRef::Byte(PAYLOAD_FORMAT_INDICATOR, pf as u8));
        }
        visit_u32(f, MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        visit_str(f, CONTENT_TYPE, &self.content_type);
        if let Some(t) = &self.response_topic {
            f(PropRef::Str(RESPONSE_TOPIC, t.as_str()));
        }
        visit_bin(f, CORRELATION_DATA, &self.correlation_data);
        visit_users(&self.user_properties, f);
    }
}

/// CONNACK properties (MQTT 5.0 §3.2.2.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnAckProperties {
    /// Session Expiry Interval the server uses (§3.2.2.3.2).
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum of the server (§3.2.2.3.3).
    pub receive_maximum: Option<NonZeroU16>,
    /// Maximum QoS the server supports: 0 or 1; absent means 2 (§3.2.2.3.4).
    pub maximum_qos: Option<QoS>,
    /// Retain Available (§3.2.2.3.5).
    pub retain_available: Option<bool>,
    /// Maximum Packet Size the server accepts (§3.2.2.3.6).
    pub maximum_packet_size: Option<NonZeroU32>,
    /// Assigned Client Identifier (§3.2.2.3.7).
    pub assigned_client_identifier: Option<MqttString>,
    /// Topic Alias Maximum the server accepts (§3.2.2.3.8).
    pub topic_alias_maximum: Option<u16>,
    /// Reason String (§3.2.2.3.9).
    pub reason_string: Option<MqttString>,
    /// User Properties (§3.2.2.3.10).
    pub user_properties: Vec<UserProperty>,
    /// Wildcard Subscription Available (§3.2.2.3.11).
    pub wildcard_subscription_available: Option<bool>,
    /// Subscription Identifiers Available (§3.2.2.3.12).
    pub subscription_identifiers_available: Option<bool>,
    /// Shared Subscription Available (§3.2.2.3.13).
    pub shared_subscription_available: Option<bool>,
    /// Server Keep Alive, overriding the client's (§3.2.2.3.14).
    pub server_keep_alive: Option<u16>,
    /// Response Information (§3.2.2.3.15).
    pub response_information: Option<MqttString>,
    /// Server Reference (§3.2.2.3.16).
    pub server_reference: Option<MqttString>,
    /// Authentication Method (§3.2.2.3.17).
    pub authentication_method: Option<MqttString>,
    /// Authentication Data (§3.2.2.3.18).
    pub authentication_data: Option<Bytes>,
}

impl PropertySet for ConnAckProperties {
    fn accept(&mut self, p: PacketType, pid: u8, v: Value) -> Result<(), PacketError> {
        use id::*;
        match pid {
            SESSION_EXPIRY_INTERVAL => {
                once(&mut self.session_expiry_interval, pid, as_u32(p, pid, v)?)
            }
            RECEIVE_MAXIMUM => {
                let n = NonZeroU16::new(as_u16(p, pid, v)?)
                    .ok_or(PacketError::InvalidPropertyValue(pid))?;
                once(&mut self.receive_maximum, pid, n)
            }
            MAXIMUM_QOS => {
                let q = match as_byte(p, pid, v)? {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => return Err(PacketError::InvalidPropertyValue(pid)),
                };
                once(&mut self.maximum_qos, pid, q)
            }
            RETAIN_AVAILABLE => once(
                &mut self.retain_available,
                pid,
                flag(pid, as_byte(p, pid, v)?)?,
            ),
            MAXIMUM_PACKET_SIZE => {
                let n = NonZeroU32::new(as_u32(p, pid, v)?)
                    .ok_or(PacketError::InvalidPropertyValue(pid))?;
                once(&mut self.maximum_packet_size, pid, n)
            }
            ASSIGNED_CLIENT_IDENTIFIER => once(
                &mut self.assigned_client_identifier,
                pid,
                as_str(p, pid, v)?,
            ),
            TOPIC_ALIAS_MAXIMUM => once(&mut self.topic_alias_maximum, pid, as_u16(p, pid, v)?),
            REASON_STRING => once(&mut self.reason_string, pid, as_str(p, pid, v)?),
            USER_PROPERTY => user_property(&mut self.user_properties, p, v),
            WILDCARD_SUBSCRIPTION_AVAILABLE => once(
                &mut self.wildcard_subscription_available,
                pid,
                flag(pid, as_byte(p, pid, v)?)?,
            ),
            SUBSCRIPTION_IDENTIFIER_AVAILABLE => once(
                &mut self.subscription_identifiers_available,
                pid,
                flag(pid, as_byte(p, pid, v)?)?,
            ),
            SHARED_SUBSCRIPTION_AVAILABLE => once(
                &mut self.shared_subscription_available,
                pid,
                flag(pid, as_byte(p, pid, v)?)?,
            ),
            SERVER_KEEP_ALIVE => once(&mut self.server_keep_alive, pid, as_u16(p, pid, v)?),
            RESPONSE_INFORMATION => once(&mut self.response_information, pid, as_str(p, pid, v)?),
            SERVER_REFERENCE => once(&mut self.server_reference, pid, as_str(p, pid, v)?),
            AUTHENTICATION_METHOD => once(&mut self.authentication_method, pid, as_str(p, pid, v)?),
            AUTHENTICATION_DATA => once(&mut self.authentication_data, pid, as_bin(p, pid, v)?),
            _ => Err(not_allowed(p, pid)),
        }
    }

    fn visit(&self, f: &mut impl FnMut(PropRef<'_>)) {
        use id::*;
        visit_u32(f, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        visit_u16(
            f,
            RECEIVE_MAXIMUM,
            self.receive_maximum.map(NonZeroU16::get),
        );
        if let Some(q) = self.maximum_qos {
            f(PropRef::Byte(MAXIMUM_QOS, q.as_u8()));
        }
        visit_flag(f, RETAIN_AVAILABLE, self.retain_available);
        visit_u32(
            f,
            MAXIMUM_PACKET_SIZE,
            self.maximum_packet_size.map(NonZeroU32::get),
        );
        visit_str(
            f,
            ASSIGNED_CLIENT_IDENTIFIER,
            &self.assigned_client_identifier,
        );
        visit_u16(f, TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        visit_str(f, REASON_STRING, &self.reason_string);
        visit_users(&self.user_properties, f);
        visit_flag(
            f,
            WILDCARD_SUBSCRIPTION_AVAILABLE,
            self.wildcard_subscription_available,
        );
        visit_flag(
            f,
            SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            self.subscription_identifiers_available,
        );
        visit_flag(
            f,
            SHARED_SUBSCRIPTION_AVAILABLE,
            self.shared_subscription_available,
        );
        visit_u16(f, SERVER_KEEP_ALIVE, self.server_keep_alive);
        visit_str(f, RESPONSE_INFORMATION, &self.response_information);
        visit_str(f, SERVER_REFERENCE, &self.server_reference);
        visit_str(f, AUTHENTICATION_METHOD, &self.authentication_method);
        visit_bin(f, AUTHENTICATION_DATA, &self.authentication_data);
    }
}

/// PUBLISH properties (MQTT 5.0 §3.3.2.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishProperties {
    /// Payload Format Indicator (§3.3.2.3.2).
    pub payload_format_indicator: Option<PayloadFormat>,
    /// Message Expiry Interval in seconds (§3.3.2.3.3).
    pub message_expiry_interval: Option<u32>,
    /// Topic Alias (§3.3.2.3.4); never 0 ([MQTT-3.3.2-8]).
    pub topic_alias: Option<NonZeroU16>,
    /// Response Topic (§3.3.2.3.5).
    pub response_topic: Option<TopicName>,
    /// Correlation Data (§3.3.2.3.6).
    pub correlation_data: Option<Bytes>,
    /// User Properties, in order (§3.3.2.3.7).
    pub user_properties: Vec<UserProperty>,
    /// Subscription Identifiers of the matching subscriptions; server to client only
    /// (§3.3.2.3.8, [MQTT-3.3.4-3]).
    pub subscription_identifiers: Vec<NonZeroU32>,
    /// Content Type (§3.3.2.3.9).
    pub content_type: Option<MqttString>,
}

impl PublishProperties {
    /// Whether no property is set (the property block is then a single zero byte).
    pub fn is_empty(&self) -> bool {
        *self == PublishProperties::default()
    }
}

impl PropertySet for PublishProperties {
    /// Direct computation, same sizes as the generic `visit` path.
    #[inline]
    fn content_len(&self) -> Result<usize, EncodeError> {
        let mut n = 0;
        if self.payload_format_indicator.is_some() {
            n += 2;
        }
        if self.message_expiry_interval.is_some() {
            n += 5;
        }
        if self.topic_alias.is_some() {
            n += 3;
        }
        if let Some(t) = &self.response_topic {
            n += 3 + t.len();
        }
        if let Some(b) = &self.correlation_data {
            n += 1 + binary_len(b)?;
        }
        for u in &self.user_properties {
            n += 5 + u.key.len() + u.value.len();
        }
        for sid in &self.subscription_identifiers {
            n += 1 + checked_varint_len(sid.get())?;
        }
        if let Some(s) = &self.content_type {
            n += 3 + s.len();
        }
        Ok(n)
    }

    /// Direct writing, in `visit` order.
    #[inline]
    fn write_content<B: BufMut + ?Sized>(&self, buf: &mut B) {
        use id::*;
        if let Some(pf) = self.payload_format_indicator {
            buf.put_u8(PAYLOAD_FORMAT_INDICATOR);
            buf.put_u8(pf as u8);
        }
        if let Some(v) = self.message_expiry_interval {
            buf.put_u8(MESSAGE_EXPIRY_INTERVAL);
            buf.put_u32(v);
        }
        if let Some(v) = self.topic_alias {
            buf.put_u8(TOPIC_ALIAS);
            buf.put_u16(v.get());
        }
        if let Some(t) = &self.response_topic {
            buf.put_u8(RESPONSE_TOPIC);
            put_binary(buf, t.as_bytes());
        }
        if let Some(b) = &self.correlation_data {
            buf.put_u8(CORRELATION_DATA);
            put_binary(buf, b);
        }
        for u in &self.user_properties {
            PropRef::Pair(&u.key, &u.value).write(buf);
        }
        for sid in &self.subscription_identifiers {
            buf.put_u8(SUBSCRIPTION_IDENTIFIER);
            put_varint(buf, sid.get());
        }
        if let Some(s) = &self.content_type {
            buf.put_u8(CONTENT_TYPE);
            put_binary(buf, s.as_bytes());
        }
    }

    /// Direct parsing of the single-valued PUBLISH properties, without the intermediate
    /// [`Value`]; same checks, in the same order, as `accept` below.
    #[inline]
    fn parse_one<'a>(
        &mut self,
        body: &Bytes,
        packet: PacketType,
        pid: u8,
        i: &'a [u8],
    ) -> PResult<'a, ()> {
        use id::*;
        let i = match pid {
            PAYLOAD_FORMAT_INDICATOR => {
                let (i, b) = byte(i)?;
                let pf = payload_format(pid, b).map_err(fail)?;
                once(&mut self.payload_format_indicator, pid, pf).map_err(fail)?;
                i
            }
            MESSAGE_EXPIRY_INTERVAL => {
                let (i, v) = u32_be(i)?;
                once(&mut self.message_expiry_interval, pid, v).map_err(fail)?;
                i
            }
            TOPIC_ALIAS => {
                let (i, v) = u16_be(i)?;
                let n = NonZeroU16::new(v).ok_or_else(|| fail(PacketError::InvalidTopicAlias))?;
                once(&mut self.topic_alias, pid, n).map_err(fail)?;
                i
            }
            RESPONSE_TOPIC => {
                let (i, s) = string(body, i)?;
                let t = response_topic(s).map_err(fail)?;
                once(&mut self.response_topic, pid, t).map_err(fail)?;
                i
            }
            CORRELATION_DATA => {
                let (i, b) = binary(body, i)?;
                once(&mut self.correlation_data, pid, b).map_err(fail)?;
                i
            }
            CONTENT_TYPE => {
                let (i, s) = string(body, i)?;
                once(&mut self.content_type, pid, s).map_err(fail)?;
                i
            }
            USER_PROPERTY => {
                let (i, key) = string(body, i)?;
                let (i, value) = string(body, i)?;
                self.user_properties.push(UserProperty { key, value });
                i
            }
            SUBSCRIPTION_IDENTIFIER => {
                let (i, v) = varint(i)?;
                let n = NonZeroU32::new(v)
                    .ok_or_else(|| fail(PacketError::InvalidPropertyValue(pid)))?;
                self.subscription_identifiers.push(n);
                i
            }
            _ => return parse_one_generic(self, body, packet, pid, i),
        };
        Ok((i, ()))
    }

    fn accept(&mut self, p: PacketType, pid: u8, v: Value) -> Result<(), PacketError> {
        use id::*;
        match pid {
            PAYLOAD_FORMAT_INDICATOR => once(
                &mut self.payload_format_indicator,
                pid,
                payload_format(pid, as_byte(p, pid, v)?)?,
            ),
            MESSAGE_EXPIRY_INTERVAL => {
                once(&mut self.message_expiry_interval, pid, as_u32(p, pid, v)?)
            }
            TOPIC_ALIAS => {
                let n =
                    NonZeroU16::new(as_u16(p, pid, v)?).ok_or(PacketError::InvalidTopicAlias)?;
                once(&mut self.topic_alias, pid, n)
            }
            RESPONSE_TOPIC => once(
                &mut self.response_topic,
                pid,
                response_topic(as_str(p, pid, v)?)?,
            ),
            CORRELATION_DATA => once(&mut self.correlation_data, pid, as_bin(p, pid, v)?),
            USER_PROPERTY => user_property(&mut self.user_properties, p, v),
            SUBSCRIPTION_IDENTIFIER => {
                let n = NonZeroU32::new(as_u32(p, pid, v)?)
                    .ok_or(PacketError::InvalidPropertyValue(pid))?;
                self.subscription_identifiers.push(n);
                Ok(())
            }
            CONTENT_TYPE => once(&mut self.content_type, pid, as_str(p, pid, v)?),
            _ => Err(not_allowed(p, pid)),
        }
    }

    fn visit(&self, f: &mut impl FnMut(PropRef<'_>)) {
        use id::*;
        if let Some(pf) = self.payload_format_indicator {
            f(PropRef::Byte(PAYLOAD_FORMAT_INDICATOR, pf as u8));
        }
        visit_u32(f, MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        visit_u16(f, TOPIC_ALIAS, self.topic_alias.map(NonZeroU16::get));
        if let Some(t) = &self.response_topic {
            f(PropRef::Str(RESPONSE_TOPIC, t.as_str()));
        }
        visit_bin(f, CORRELATION_DATA, &self.correlation_data);
        visit_users(&self.user_properties, f);
        for sid in &self.subscription_identifiers {
            f(PropRef::VarInt(SUBSCRIPTION_IDENTIFIER, sid.get()));
        }
        visit_str(f, CONTENT_TYPE, &self.content_type);
    }
}

/// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK: a Reason String and User
/// Properties (MQTT 5.0 §3.4.2.2, §3.5.2.2, §3.6.2.2, §3.7.2.2, §3.9.2.1, §3.11.2.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckProperties {
    /// Reason String.
    pub reason_string: Option<MqttString>,
    /// User Properties.
    pub user_properties: Vec<UserProperty>,
}

impl AckProperties {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }
}

impl PropertySet for AckProperties {
    fn accept(&mut self, p: PacketType, pid: u8, v: Value) -> Result<(), PacketError> {
        match pid {
            id::REASON_STRING => once(&mut self.reason_string, pid, as_str(p, pid, v)?),
            id::USER_PROPERTY => user_property(&mut self.user_properties, p, v),
            _ => Err(not_allowed(p, pid)),
        }
    }

    fn visit(&self, f: &mut impl FnMut(PropRef<'_>)) {
        visit_str(f, id::REASON_STRING, &self.reason_string);
        visit_users(&self.user_properties, f);
    }
}

/// SUBSCRIBE properties (MQTT 5.0 §3.8.2.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscribeProperties {
    /// Subscription Identifier, 1 to 268,435,455 (§3.8.2.1.2).
    pub subscription_identifier: Option<NonZeroU32>,
    /// User Properties.
    pub user_properties: Vec<UserProperty>,
}

impl PropertySet for SubscribeProperties {
    fn accept(&mut self, p: PacketType, pid: u8, v: Value) -> Result<(), PacketError> {
        match pid {
            id::SUBSCRIPTION_IDENTIFIER => {
                let n = NonZeroU32::new(as_u32(p, pid, v)?)
                    .ok_or(PacketError::InvalidPropertyValue(pid))?;
                once(&mut self.subscription_identifier, pid, n)
            }
            id::USER_PROPERTY => user_property(&mut self.user_properties, p, v),
            _ => Err(not_allowed(p, pid)),
        }
    }

    fn visit(&self, f: &mut impl FnMut(PropRef<'_>)) {
        if let Some(sid) = self.subscription_identifier {
            f(PropRef::VarInt(id::SUBSCRIPTION_IDENTIFIER, sid.get()));
        }
        visit_users(&self.user_properties, f);
    }
}

/// UNSUBSCRIBE properties: User Properties only (MQTT 5.0 §3.10.2.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnsubscribeProperties {
    /// User Properties.
    pub user_properties: Vec<UserProperty>,
}

impl PropertySet for UnsubscribeProperties {
    fn accept(&mut self, p: PacketType, pid: u8, v: Value) -> Result<(), PacketError> {
        match pid {
            id::USER_PROPERTY => user_property(&mut self.user_properties, p, v),
            _ => Err(not_allowed(p, pid)),
        }
    }

    fn visit(&self, f: &mut impl FnMut(PropRef<'_>)) {
        visit_users(&self.user_properties, f);
    }
}

/// DISCONNECT properties (MQTT 5.0 §3.14.2.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DisconnectProperties {
    /// Session Expiry Interval (client to server only, §3.14.2.2.2).
    pub session_expiry_interval: Option<u32>,
    /// Reason String.
    pub reason_string: Option<MqttString>,
    /// User Properties.
    pub user_properties: Vec<UserProperty>,
    /// Server Reference (§3.14.2.2.5).
    pub server_reference: Option<MqttString>,
}

impl DisconnectProperties {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        *self == DisconnectProperties::default()
    }
}

impl PropertySet for DisconnectProperties {
    fn accept(&mut self, p: PacketType, pid: u8, v: Value) -> Result<(), PacketError> {
        use id::*;
        match pid {
            SESSION_EXPIRY_INTERVAL => {
                once(&mut self.session_expiry_interval, pid, as_u32(p, pid, v)?)
            }
            REASON_STRING => once(&mut self.reason_string, pid, as_str(p, pid, v)?),
            USER_PROPERTY => user_property(&mut self.user_properties, p, v),
            SERVER_REFERENCE => once(&mut self.server_reference, pid, as_str(p, pid, v)?),
            _ => Err(not_allowed(p, pid)),
        }
    }

    fn visit(&self, f: &mut impl FnMut(PropRef<'_>)) {
        use id::*;
        visit_u32(f, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        visit_str(f, REASON_STRING, &self.reason_string);
        visit_users(&self.user_properties, f);
        visit_str(f, SERVER_REFERENCE, &self.server_reference);
    }
}

/// AUTH properties (MQTT 5.0 §3.15.2.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthProperties {
    /// Authentication Method.
    pub authentication_method: Option<MqttString>,
    /// Authentication Data.
    pub authentication_data: Option<Bytes>,
    /// Reason String.
    pub reason_string: Option<MqttString>,
    /// User Properties.
    pub user_properties: Vec<UserProperty>,
}

impl AuthProperties {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        *self == AuthProperties::default()
    }
}

impl PropertySet for AuthProperties {
    fn accept(&mut self, p: PacketType, pid: u8, v: Value) -> Result<(), PacketError> {
        use id::*;
        match pid {
            AUTHENTICATION_METHOD => once(&mut self.authentication_method, pid, as_str(p, pid, v)?),
            AUTHENTICATION_DATA => once(&mut self.authentication_data, pid, as_bin(p, pid, v)?),
            REASON_STRING => once(&mut self.reason_string, pid, as_str(p, pid, v)?),
            USER_PROPERTY => user_property(&mut self.user_properties, p, v),
            _ => Err(not_allowed(p, pid)),
        }
    }

    fn visit(&self, f: &mut impl FnMut(PropRef<'_>)) {
        use id::*;
        visit_str(f, AUTHENTICATION_METHOD, &self.authentication_method);
        visit_bin(f, AUTHENTICATION_DATA, &self.authentication_data);
        visit_str(f, REASON_STRING, &self.reason_string);
        visit_users(&self.user_properties, f);
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;
    use alloc::vec;

    /// The direct PUBLISH property encoder and parser agree byte for byte with the generic
    /// `visit` / `Value` machinery they shortcut.
    #[test]
    fn publish_fast_paths_match_the_generic_path() {
        let s = |v: &str| MqttString::try_from(v).unwrap();
        let props = PublishProperties {
            payload_format_indicator: Some(PayloadFormat::Utf8),
            message_expiry_interval: Some(3600),
            topic_alias: NonZeroU16::new(7),
            response_topic: Some(TopicName::try_from("reply/here").unwrap()),
            correlation_data: Some(Bytes::from_static(b"\x00\x01corr")),
            user_properties: vec![
                UserProperty::new(s("k"), s("v")),
                UserProperty::new(s("k"), s("w")),
            ],
            subscription_identifiers: vec![
                NonZeroU32::new(1).unwrap(),
                NonZeroU32::new(300_000).unwrap(),
            ],
            content_type: Some(s("text/plain")),
        };
        let mut generic_len = 0;
        props.visit(&mut |p| generic_len += p.encoded_len().unwrap());
        assert_eq!(props.content_len().unwrap(), generic_len);
        let mut generic = Vec::new();
        props.visit(&mut |p| p.write(&mut generic));
        let mut direct = Vec::new();
        props.write_content(&mut direct);
        assert_eq!(direct, generic);

        let mut block = Vec::new();
        write_properties(&mut block, &props);
        let body = Bytes::from(block);
        let (rest, direct): (_, PublishProperties) =
            parse_properties(&body, PacketType::Publish, &body).unwrap();
        assert!(rest.is_empty());
        assert_eq!(direct, props);
        // Duplicates are still refused on the direct path.
        let mut twice = vec![10u8];
        twice.extend_from_slice(&[id::MESSAGE_EXPIRY_INTERVAL, 0, 0, 0, 1]);
        twice.extend_from_slice(&[id::MESSAGE_EXPIRY_INTERVAL, 0, 0, 0, 2]);
        let body = Bytes::from(twice);
        let err = parse_properties::<PublishProperties>(&body, PacketType::Publish, &body)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            super::super::primitives::into_packet_error(err),
            PacketError::DuplicateProperty(id::MESSAGE_EXPIRY_INTERVAL)
        );
    }
}
