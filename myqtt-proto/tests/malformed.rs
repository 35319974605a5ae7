//! A table of malformed and forbidden inputs, each asserting the exact decode error and the
//! MQTT 5.0 reason code a receiver answers with (MQTT 5.0 §4.13, Table 2-6).
//!
//! Statement ids checked by the table (each row names its own):
//! [MQTT-1.5.3-1] [MQTT-1.5.3-2] [MQTT-1.5.4-1] [MQTT-1.5.4-2] [MQTT-1.5.5-1] [MQTT-2.1.3-1]
//! [MQTT-2.2.2-1] [MQTT-2.2.2-2] [MQTT-2.3.1-1] [MQTT-3.1.2-1] [MQTT-3.1.2-2] [MQTT-3.1.2-3]
//! [MQTT-3.1.2-11] [MQTT-3.1.2-12] [MQTT-3.1.2-13] [MQTT-3.1.2-15] [MQTT-3.1.2-22]
//! [MQTT-3.2.2-1] [MQTT-3.3.1-2] [MQTT-3.3.1-4] [MQTT-3.3.2-2] [MQTT-3.3.2-8] [MQTT-3.3.2-14]
//! [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.8.3-3] [MQTT-3.8.3-4] [MQTT-3.8.3-5] [MQTT-3.10.1-1]
//! [MQTT-3.10.3-2] [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1]

#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use bytes::BytesMut;
use myqtt_proto::codec::{
    DecodeError, Packet, PacketError, PacketType, ProtocolVersion, ReasonCode,
};

use PacketError as E;
use ProtocolVersion::{V3_1_1 as V4, V5};
use ReasonCode as R;

/// Prepends the fixed header with a one-byte remaining length.
fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128);
    let mut out = vec![first, body.len() as u8];
    out.extend_from_slice(body);
    out
}

fn connect(level: u8, flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', level, flags, 0x00, 0x3C];
    b.extend_from_slice(rest);
    frame(0x10, &b)
}

/// 5.0 CONNECT with the given property block and client id "c".
fn connect_v5_props(props: &[u8]) -> Vec<u8> {
    let mut rest = vec![props.len() as u8];
    rest.extend_from_slice(props);
    rest.extend_from_slice(&[0x00, 0x01, b'c']);
    connect(5, 0x02, &rest)
}

/// 5.0 QoS 0 PUBLISH to "t" with the given property block.
fn publish_v5_props(props: &[u8]) -> Vec<u8> {
    let mut b = vec![0x00, 0x01, b't', props.len() as u8];
    b.extend_from_slice(props);
    frame(0x30, &b)
}

fn publish_topic(topic: &[u8]) -> Vec<u8> {
    let mut b = vec![0x00, topic.len() as u8];
    b.extend_from_slice(topic);
    b.extend_from_slice(b"payload");
    frame(0x30, &b)
}

fn subscribe(version_body: &[u8]) -> Vec<u8> {
    frame(0x82, version_body)
}

struct Case {
    name: &'static str,
    version: ProtocolVersion,
    wire: Vec<u8>,
    error: PacketError,
    reason: ReasonCode,
}

fn case(
    name: &'static str,
    version: ProtocolVersion,
    wire: Vec<u8>,
    error: PacketError,
    reason: ReasonCode,
) -> Case {
    Case {
        name,
        version,
        wire,
        error,
        reason,
    }
}

fn cases() -> Vec<Case> {
    let pt = PacketType::Publish;
    vec![
        // ---- fixed header ----
        case(
            "reserved packet type 0",
            V4,
            vec![0x00, 0x00],
            E::ReservedPacketType(0),
            R::MalformedPacket,
        ),
        case(
            "AUTH before 5.0",
            V4,
            vec![0xF0, 0x00],
            E::ReservedPacketType(15),
            R::MalformedPacket,
        ),
        case(
            "CONNECT flags 0001",
            V4,
            connect(4, 0x02, &[0, 0])
                .into_iter()
                .enumerate()
                .map(|(i, b)| if i == 0 { 0x11 } else { b })
                .collect(),
            E::InvalidHeaderFlags {
                packet_type: PacketType::Connect,
                flags: 1,
            },
            R::MalformedPacket,
        ),
        case(
            "PUBREL flags 0000 [MQTT-3.6.1-1]",
            V4,
            vec![0x60, 0x02, 0x00, 0x01],
            E::InvalidHeaderFlags {
                packet_type: PacketType::PubRel,
                flags: 0,
            },
            R::MalformedPacket,
        ),
        case(
            "SUBSCRIBE flags 0000 [MQTT-3.8.1-1]",
            V4,
            vec![0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00],
            E::InvalidHeaderFlags {
                packet_type: PacketType::Subscribe,
                flags: 0,
            },
            R::MalformedPacket,
        ),
        case(
            "UNSUBSCRIBE flags 0000 [MQTT-3.10.1-1]",
            V4,
            vec![0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'],
            E::InvalidHeaderFlags {
                packet_type: PacketType::Unsubscribe,
                flags: 0,
            },
            R::MalformedPacket,
        ),
        case(
            "PINGREQ flags 0001",
            V4,
            vec![0xC1, 0x00],
            E::InvalidHeaderFlags {
                packet_type: PacketType::PingReq,
                flags: 1,
            },
            R::MalformedPacket,
        ),
        case(
            "DISCONNECT flags 0010",
            V5,
            vec![0xE2, 0x00],
            E::InvalidHeaderFlags {
                packet_type: PacketType::Disconnect,
                flags: 2,
            },
            R::MalformedPacket,
        ),
        case(
            "PUBACK flags 1000",
            V5,
            vec![0x48, 0x02, 0x00, 0x01],
            E::InvalidHeaderFlags {
                packet_type: PacketType::PubAck,
                flags: 8,
            },
            R::MalformedPacket,
        ),
        case(
            "PUBLISH QoS 3 [MQTT-3.3.1-4]",
            V4,
            vec![0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01],
            E::InvalidQoS,
            R::MalformedPacket,
        ),
        case(
            "remaining length of 5 bytes",
            V4,
            vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
            E::RemainingLengthTooLong,
            R::MalformedPacket,
        ),
        case(
            "non-minimal remaining length [MQTT-1.5.5-1]",
            V5,
            vec![0xC0, 0x80, 0x00],
            E::NonMinimalVariableInteger,
            R::MalformedPacket,
        ),
        // ---- PUBLISH ----
        case(
            "DUP on QoS 0 [MQTT-3.3.1-2]",
            V4,
            vec![0x38, 0x03, 0x00, 0x01, b't'],
            E::DupWithQoS0,
            R::MalformedPacket,
        ),
        case(
            "packet id 0 [MQTT-2.3.1-1]",
            V4,
            vec![0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00],
            E::PacketIdZero,
            R::ProtocolError,
        ),
        case(
            "topic name with + [MQTT-3.3.2-2]",
            V4,
            publish_topic(b"a/+"),
            E::InvalidTopicName,
            R::TopicNameInvalid,
        ),
        case(
            "topic name with # [MQTT-3.3.2-2]",
            V4,
            publish_topic(b"a/#"),
            E::InvalidTopicName,
            R::TopicNameInvalid,
        ),
        case(
            "empty topic in 3.1.1 [MQTT-4.7.3-1]",
            V4,
            vec![0x30, 0x02, 0x00, 0x00],
            E::EmptyTopicWithoutAlias,
            R::ProtocolError,
        ),
        case(
            "empty topic in 5.0 without alias",
            V5,
            vec![0x30, 0x03, 0x00, 0x00, 0x00],
            E::EmptyTopicWithoutAlias,
            R::ProtocolError,
        ),
        case(
            "overlong UTF-8 in topic [MQTT-1.5.3-1]",
            V4,
            publish_topic(&[b'a', 0xC0, 0xAF]),
            E::InvalidUtf8,
            R::MalformedPacket,
        ),
        case(
            "surrogate in topic [MQTT-1.5.4-1]",
            V5,
            frame(0x30, &[0x00, 0x03, 0xED, 0xA0, 0x80, 0x00]),
            E::InvalidUtf8,
            R::MalformedPacket,
        ),
        case(
            "U+0000 in topic [MQTT-1.5.3-2]",
            V4,
            publish_topic(&[b'a', 0x00, b'b']),
            E::NullCharacter,
            R::MalformedPacket,
        ),
        case(
            "topic length past the end",
            V4,
            vec![0x30, 0x04, 0x00, 0x09, b'a', b'b'],
            E::UnexpectedEnd,
            R::MalformedPacket,
        ),
        case(
            "QoS 1 without room for packet id",
            V4,
            vec![0x32, 0x04, 0x00, 0x01, b't', 0x00],
            E::UnexpectedEnd,
            R::MalformedPacket,
        ),
        case(
            "topic alias 0 [MQTT-3.3.2-8]",
            V5,
            publish_v5_props(&[0x23, 0x00, 0x00]),
            E::InvalidTopicAlias,
            R::TopicAliasInvalid,
        ),
        case(
            "session expiry in PUBLISH",
            V5,
            publish_v5_props(&[0x11, 0, 0, 0, 1]),
            E::PropertyNotAllowed {
                packet_type: pt,
                id: 0x11,
            },
            R::MalformedPacket,
        ),
        case(
            "duplicate message expiry",
            V5,
            publish_v5_props(&[0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2]),
            E::DuplicateProperty(0x02),
            R::ProtocolError,
        ),
        case(
            "payload format indicator 2",
            V5,
            publish_v5_props(&[0x01, 0x02]),
            E::InvalidPropertyValue(0x01),
            R::ProtocolError,
        ),
        case(
            "subscription identifier 0",
            V5,
            publish_v5_props(&[0x0B, 0x00]),
            E::InvalidPropertyValue(0x0B),
            R::ProtocolError,
        ),
        case(
            "unknown property 0x7F",
            V5,
            publish_v5_props(&[0x7F, 0x00]),
            E::PropertyNotAllowed {
                packet_type: pt,
                id: 0x7F,
            },
            R::MalformedPacket,
        ),
        case(
            "two-byte property id 0x80 0x01",
            V5,
            publish_v5_props(&[0x80, 0x01, 0x00]),
            E::PropertyNotAllowed {
                packet_type: pt,
                id: 0x80,
            },
            R::MalformedPacket,
        ),
        case(
            "property length past the end",
            V5,
            vec![0x30, 0x05, 0x00, 0x01, b't', 0x09, 0x01],
            E::UnexpectedEnd,
            R::MalformedPacket,
        ),
        case(
            "property value past its block",
            V5,
            publish_v5_props(&[0x02, 0x00, 0x00]),
            E::UnexpectedEnd,
            R::MalformedPacket,
        ),
        case(
            "response topic with wildcard [MQTT-3.3.2-14]",
            V5,
            publish_v5_props(&[0x08, 0x00, 0x01, b'#']),
            E::InvalidTopicName,
            R::TopicNameInvalid,
        ),
        // ---- CONNECT ----
        case(
            "CONNECT reserved flag [MQTT-3.1.2-3]",
            V4,
            connect(4, 0x03, &[0x00, 0x01, b'c']),
            E::ConnectReservedFlag,
            R::MalformedPacket,
        ),
        case(
            "will QoS without will flag [MQTT-3.1.2-13]",
            V4,
            connect(4, 0x0A, &[0x00, 0x01, b'c']),
            E::InconsistentWillFlags,
            R::MalformedPacket,
        ),
        case(
            "will retain without will flag [MQTT-3.1.2-15]",
            V4,
            connect(4, 0x22, &[0x00, 0x01, b'c']),
            E::InconsistentWillFlags,
            R::MalformedPacket,
        ),
        case(
            "will QoS 3 [MQTT-3.1.2-12]",
            V4,
            connect(4, 0x1E, &[0x00, 0x01, b'c']),
            E::InvalidQoS,
            R::MalformedPacket,
        ),
        case(
            "password without user name in 3.1.1 [MQTT-3.1.2-22]",
            V4,
            connect(4, 0x42, &[0x00, 0x01, b'c', 0x00, 0x00]),
            E::PasswordWithoutUsername,
            R::MalformedPacket,
        ),
        case(
            "unknown protocol name [MQTT-3.1.2-1]",
            V4,
            frame(
                0x10,
                &[0x00, 0x04, b'M', b'Q', b'T', b'X', 4, 2, 0, 0, 0, 0],
            ),
            E::InvalidProtocolName,
            R::UnsupportedProtocolVersion,
        ),
        case(
            "protocol level 6 [MQTT-3.1.2-2]",
            V4,
            connect(6, 0x02, &[0x00, 0x00]),
            E::UnsupportedProtocolVersion(6),
            R::UnsupportedProtocolVersion,
        ),
        case(
            "MQIsdp with level 4",
            V4,
            frame(
                0x10,
                &[
                    0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 4, 2, 0, 0, 0, 0,
                ],
            ),
            E::UnsupportedProtocolVersion(4),
            R::UnsupportedProtocolVersion,
        ),
        case(
            "authentication data without method",
            V5,
            connect_v5_props(&[0x16, 0x00, 0x01, 0xAA]),
            E::AuthenticationDataWithoutMethod,
            R::ProtocolError,
        ),
        case(
            "receive maximum 0",
            V5,
            connect_v5_props(&[0x21, 0x00, 0x00]),
            E::InvalidPropertyValue(0x21),
            R::ProtocolError,
        ),
        case(
            "maximum packet size 0",
            V5,
            connect_v5_props(&[0x27, 0, 0, 0, 0]),
            E::InvalidPropertyValue(0x27),
            R::ProtocolError,
        ),
        case(
            "request problem information 2",
            V5,
            connect_v5_props(&[0x17, 0x02]),
            E::InvalidPropertyValue(0x17),
            R::ProtocolError,
        ),
        case(
            "duplicate session expiry",
            V5,
            connect_v5_props(&[0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 1]),
            E::DuplicateProperty(0x11),
            R::ProtocolError,
        ),
        case(
            "topic alias in CONNECT",
            V5,
            connect_v5_props(&[0x23, 0x00, 0x01]),
            E::PropertyNotAllowed {
                packet_type: PacketType::Connect,
                id: 0x23,
            },
            R::MalformedPacket,
        ),
        case(
            "will topic with wildcard",
            V4,
            connect(4, 0x06, &[0x00, 0x01, b'c', 0x00, 0x01, b'+', 0x00, 0x00]),
            E::InvalidTopicName,
            R::TopicNameInvalid,
        ),
        case(
            "CONNECT trailing bytes",
            V4,
            connect(4, 0x02, &[0x00, 0x01, b'c', 0xFF]),
            E::TrailingBytes,
            R::MalformedPacket,
        ),
        case(
            "client id not UTF-8",
            V4,
            connect(4, 0x02, &[0x00, 0x02, 0xFF, 0xFE]),
            E::InvalidUtf8,
            R::MalformedPacket,
        ),
        case(
            "CONNECT missing client id",
            V4,
            connect(4, 0x02, &[]),
            E::UnexpectedEnd,
            R::MalformedPacket,
        ),
        // ---- CONNACK ----
        case(
            "CONNACK reserved flags [MQTT-3.2.2-1]",
            V4,
            vec![0x20, 0x02, 0x02, 0x00],
            E::InvalidConnAckFlags,
            R::MalformedPacket,
        ),
        case(
            "CONNACK 3.1.1 return code 6",
            V4,
            vec![0x20, 0x02, 0x00, 0x06],
            E::InvalidConnAckCode(6),
            R::MalformedPacket,
        ),
        case(
            "CONNACK 5.0 session taken over",
            V5,
            vec![0x20, 0x03, 0x00, 0x8E, 0x00],
            E::InvalidReasonCode {
                packet_type: PacketType::ConnAck,
                code: 0x8E,
            },
            R::MalformedPacket,
        ),
        case(
            "CONNACK maximum QoS 2",
            V5,
            vec![0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02],
            E::InvalidPropertyValue(0x24),
            R::ProtocolError,
        ),
        // ---- acknowledgments ----
        case(
            "PUBACK 3.1.1 remaining length 3",
            V4,
            vec![0x40, 0x03, 0x00, 0x01, 0x00],
            E::TrailingBytes,
            R::MalformedPacket,
        ),
        case(
            "PUBACK packet id 0",
            V5,
            vec![0x40, 0x02, 0x00, 0x00],
            E::PacketIdZero,
            R::ProtocolError,
        ),
        case(
            "PUBACK truncated packet id",
            V4,
            vec![0x40, 0x01, 0x00],
            E::UnexpectedEnd,
            R::MalformedPacket,
        ),
        case(
            "PUBACK 5.0 reason 0x92",
            V5,
            vec![0x40, 0x03, 0x00, 0x01, 0x92],
            E::InvalidReasonCode {
                packet_type: PacketType::PubAck,
                code: 0x92,
            },
            R::MalformedPacket,
        ),
        case(
            "PUBREL 5.0 reason 0x10",
            V5,
            vec![0x62, 0x03, 0x00, 0x01, 0x10],
            E::InvalidReasonCode {
                packet_type: PacketType::PubRel,
                code: 0x10,
            },
            R::MalformedPacket,
        ),
        case(
            "PUBCOMP 5.0 undefined reason 0x03",
            V5,
            vec![0x70, 0x03, 0x00, 0x01, 0x03],
            E::InvalidReasonCode {
                packet_type: PacketType::PubComp,
                code: 0x03,
            },
            R::MalformedPacket,
        ),
        // ---- SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK ----
        case(
            "SUBSCRIBE without filters [MQTT-3.8.3-3]",
            V4,
            subscribe(&[0x00, 0x01]),
            E::NoTopicFilters,
            R::ProtocolError,
        ),
        case(
            "filter a/b# [MQTT-4.7.1-2]",
            V4,
            subscribe(&[0x00, 0x01, 0x00, 0x04, b'a', b'/', b'b', b'#', 0x00]),
            E::InvalidTopicFilter,
            R::TopicFilterInvalid,
        ),
        case(
            "filter a/#/b [MQTT-4.7.1-2]",
            V4,
            subscribe(&[0x00, 0x01, 0x00, 0x05, b'a', b'/', b'#', b'/', b'b', 0x00]),
            E::InvalidTopicFilter,
            R::TopicFilterInvalid,
        ),
        case(
            "filter a+ [MQTT-4.7.1-3]",
            V4,
            subscribe(&[0x00, 0x01, 0x00, 0x02, b'a', b'+', 0x00]),
            E::InvalidTopicFilter,
            R::TopicFilterInvalid,
        ),
        case(
            "empty filter [MQTT-4.7.3-1]",
            V4,
            subscribe(&[0x00, 0x01, 0x00, 0x00, 0x00]),
            E::InvalidTopicFilter,
            R::TopicFilterInvalid,
        ),
        case(
            "3.1.1 option bit 2 [MQTT-3.8.3-4]",
            V4,
            subscribe(&[0x00, 0x01, 0x00, 0x01, b'a', 0x04]),
            E::InvalidSubscriptionOptions,
            R::MalformedPacket,
        ),
        case(
            "5.0 option bit 6 [MQTT-3.8.3-5]",
            V5,
            subscribe(&[0x00, 0x01, 0x00, 0x00, 0x01, b'a', 0x40]),
            E::InvalidSubscriptionOptions,
            R::MalformedPacket,
        ),
        case(
            "subscription QoS 3",
            V4,
            subscribe(&[0x00, 0x01, 0x00, 0x01, b'a', 0x03]),
            E::InvalidQoS,
            R::MalformedPacket,
        ),
        case(
            "retain handling 3",
            V5,
            subscribe(&[0x00, 0x01, 0x00, 0x00, 0x01, b'a', 0x30]),
            E::RetainHandlingThree,
            R::ProtocolError,
        ),
        case(
            "no local on shared subscription",
            V5,
            subscribe(&[
                0x00, 0x01, 0x00, 0x00, 0x0A, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/',
                b'a', 0x04,
            ]),
            E::NoLocalOnSharedSubscription,
            R::ProtocolError,
        ),
        case(
            "subscription options byte missing",
            V4,
            subscribe(&[0x00, 0x01, 0x00, 0x01, b'a']),
            E::UnexpectedEnd,
            R::MalformedPacket,
        ),
        case(
            "duplicate subscription identifier",
            V5,
            subscribe(&[
                0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, b'a', 0x00,
            ]),
            E::DuplicateProperty(0x0B),
            R::ProtocolError,
        ),
        case(
            "SUBACK 3.1.1 code 3",
            V4,
            vec![0x90, 0x03, 0x00, 0x01, 0x03],
            E::InvalidReasonCode {
                packet_type: PacketType::SubAck,
                code: 3,
            },
            R::MalformedPacket,
        ),
        case(
            "UNSUBSCRIBE without filters [MQTT-3.10.3-2]",
            V4,
            vec![0xA2, 0x02, 0x00, 0x01],
            E::NoTopicFilters,
            R::ProtocolError,
        ),
        case(
            "UNSUBSCRIBE invalid filter",
            V4,
            vec![0xA2, 0x06, 0x00, 0x01, 0x00, 0x02, b'a', b'#'],
            E::InvalidTopicFilter,
            R::TopicFilterInvalid,
        ),
        case(
            "UNSUBACK 3.1.1 with payload",
            V4,
            vec![0xB0, 0x03, 0x00, 0x01, 0x00],
            E::TrailingBytes,
            R::MalformedPacket,
        ),
        // ---- PING / DISCONNECT / AUTH ----
        case(
            "PINGREQ with a body",
            V4,
            vec![0xC0, 0x01, 0x00],
            E::TrailingBytes,
            R::MalformedPacket,
        ),
        case(
            "DISCONNECT 3.1.1 with a body",
            V4,
            vec![0xE0, 0x01, 0x00],
            E::TrailingBytes,
            R::MalformedPacket,
        ),
        case(
            "DISCONNECT 5.0 reason 0x84",
            V5,
            vec![0xE0, 0x01, 0x84],
            E::InvalidReasonCode {
                packet_type: PacketType::Disconnect,
                code: 0x84,
            },
            R::MalformedPacket,
        ),
        case(
            "DISCONNECT 5.0 topic alias property",
            V5,
            vec![0xE0, 0x05, 0x00, 0x03, 0x23, 0x00, 0x01],
            E::PropertyNotAllowed {
                packet_type: PacketType::Disconnect,
                id: 0x23,
            },
            R::MalformedPacket,
        ),
        case(
            "AUTH reason 0x80",
            V5,
            vec![0xF0, 0x01, 0x80],
            E::InvalidReasonCode {
                packet_type: PacketType::Auth,
                code: 0x80,
            },
            R::MalformedPacket,
        ),
    ]
}

/// Every row decodes to exactly its error, which maps to exactly its reason code.
#[test]
fn malformed_inputs_give_the_exact_error_and_reason_code() {
    let cases = cases();
    assert!(cases.len() >= 40, "the table has {} rows", cases.len());
    for c in &cases {
        let mut rx = BytesMut::from(&c.wire[..]);
        let got = Packet::decode(&mut rx, c.version, 1 << 20);
        assert_eq!(got, Err(DecodeError::Invalid(c.error)), "{}", c.name);
        assert_eq!(c.error.reason_code(), c.reason, "{}: reason code", c.name);
        // The same bytes through the one-shot API give the same answer.
        let exact = Packet::decode_exact(bytes::Bytes::from(c.wire.clone()), c.version, 1 << 20);
        assert_eq!(
            exact,
            Err(DecodeError::Invalid(c.error)),
            "{} (decode_exact)",
            c.name
        );
    }
}

/// A remaining length announcing 256 MB is refused from the fixed header with Packet too large,
/// before the body arrives (MQTT 5.0 §3.1.2.11.4).
#[test]
fn packet_too_large_is_refused_from_the_header() {
    let mut rx = BytesMut::from(&[0x30u8, 0xFF, 0xFF, 0xFF, 0x7F][..]);
    let err = Packet::decode(&mut rx, V5, 1 << 20).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Invalid(E::PacketTooLarge {
            size: 268_435_460,
            max: 1 << 20
        })
    );
    assert_eq!(
        err.packet_error().map(|e| e.reason_code()),
        Some(R::PacketTooLarge)
    );
}

/// Every reason code the decode errors map to is allowed in DISCONNECT (or CONNACK for version
/// errors), so a 5.0 receiver can always send it (MQTT 5.0 Table 2-6).
#[test]
fn mapped_reason_codes_are_sendable() {
    for c in cases() {
        let rc = c.error.reason_code();
        assert!(
            rc.is_valid_for(PacketType::Disconnect) || rc.is_valid_for(PacketType::ConnAck),
            "{}: {rc:?}",
            c.name
        );
    }
}
