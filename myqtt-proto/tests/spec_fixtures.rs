//! Byte fixtures per packet and protocol version, in both directions: each fixture must decode to
//! the expected packet, and the packet must encode to exactly the fixture bytes.
//!
//! Where the specifications give an example figure, the fixture is that figure (MQTT 3.1.1
//! Figures 3.6-3.31, MQTT 5.0 Figures 3-6 onwards); the surrounding fields are completed with
//! values of our own.

#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use bytes::{Bytes, BytesMut};
use core::num::{NonZeroU16, NonZeroU32};
use myqtt_proto::codec::*;
use myqtt_proto::topic::{TopicFilter, TopicName};

const MAX: usize = 1 << 20;

fn s(v: &str) -> MqttString {
    MqttString::try_from(v).unwrap()
}
fn topic(v: &str) -> TopicName {
    TopicName::try_from(v).unwrap()
}
fn filter(v: &str) -> TopicFilter {
    TopicFilter::try_from(v).unwrap()
}
fn pid(v: u16) -> PacketId {
    PacketId::new(v).unwrap()
}

/// Prepends the fixed header (first byte and remaining length) to `body`.
fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 16_384, "fixtures are small");
    let mut out = vec![first];
    if body.len() < 128 {
        out.push(body.len() as u8);
    } else {
        out.push((body.len() % 128) as u8 | 0x80);
        out.push((body.len() / 128) as u8);
    }
    out.extend_from_slice(body);
    out
}

/// Decodes `wire` and encodes `expected`, asserting both directions.
fn both_ways(version: ProtocolVersion, wire: &[u8], expected: Packet) {
    let mut rx = BytesMut::from(wire);
    let decoded = Packet::decode(&mut rx, version, MAX).expect("fixture decodes");
    assert_eq!(decoded, expected, "decoding {version}");
    assert!(rx.is_empty(), "decode consumes the whole fixture");
    assert_eq!(expected.encoded_len(version).unwrap(), wire.len());
    let mut out = vec![0u8; wire.len()];
    assert_eq!(expected.encode(version, &mut out).unwrap(), wire.len());
    assert_eq!(out, wire, "encoding {version}");
}

fn v3_connect_body(name: &[u8], level: u8) -> Vec<u8> {
    let mut b = vec![0x00, name.len() as u8];
    b.extend_from_slice(name);
    b.push(level);
    // MQTT 3.1.1 Figure 3.5 connect flags: user name, password, will QoS 1, will, clean session.
    b.extend_from_slice(&[0xCE, 0x00, 0x0A]);
    b.extend_from_slice(&[0x00, 0x05, b'm', b'y', b'q', b't', b't']);
    b.extend_from_slice(&[0x00, 0x06, b'w', b'i', b'l', b'l', b'/', b't']);
    b.extend_from_slice(&[0x00, 0x03, b'b', b'y', b'e']);
    b.extend_from_slice(&[0x00, 0x04, b'a', b's', b'p', b'l']);
    b.extend_from_slice(&[0x00, 0x04, b't', b'e', b's', b't']);
    b
}

fn v3_connect(version: ProtocolVersion) -> Packet {
    let mut c = Connect::new(version, s("myqtt"));
    c.keep_alive = 10;
    c.clean_start = true;
    c.will = Some(Will {
        topic: topic("will/t"),
        payload: Bytes::from_static(b"bye"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: WillProperties::default(),
    });
    c.username = Some(s("aspl"));
    c.password = Some(Bytes::from_static(b"test"));
    c.into()
}

/// MQTT 3.1.1 §3.1.2 Figures 3.2-3.5 (protocol name, level 4, flags 0xCE, keep alive 10).
/// [MQTT-3.1.2-1] [MQTT-3.1.2-2] [MQTT-3.1.2-9] [MQTT-3.1.2-14] [MQTT-3.1.2-19] [MQTT-3.1.2-21] [MQTT-3.1.3-1]
#[test]
fn connect_v311_figure_3_5() {
    let wire = frame(0x10, &v3_connect_body(b"MQTT", 4));
    both_ways(
        ProtocolVersion::V3_1_1,
        &wire,
        v3_connect(ProtocolVersion::V3_1_1),
    );
}

/// MQTT 3.1 CONNECT: protocol name `MQIsdp`, level 3.
#[test]
fn connect_v31_mqisdp_level_3() {
    let wire = frame(0x10, &v3_connect_body(b"MQIsdp", 3));
    both_ways(
        ProtocolVersion::V3_1,
        &wire,
        v3_connect(ProtocolVersion::V3_1),
    );
    // A CONNECT carries its own version: decoding it on a "5.0" connection still gives 3.1.
    let mut rx = BytesMut::from(&wire[..]);
    let p = Packet::decode(&mut rx, ProtocolVersion::V5, MAX).unwrap();
    assert!(matches!(p, Packet::Connect(c) if c.protocol_version == ProtocolVersion::V3_1));
}

/// MQTT 5.0 §3.1.2.11 Figure 3-6 variable header (flags 0xCE, keep alive 10, properties length 5,
/// Session Expiry Interval 10) plus a will with a delay and user properties.
/// [MQTT-3.1.2-1] [MQTT-3.1.2-2] [MQTT-3.1.2-9] [MQTT-3.1.2-14] [MQTT-3.1.2-17] [MQTT-3.1.2-19] [MQTT-3.1.2-21]
#[test]
fn connect_v5_figure_3_6_with_will_properties() {
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0xCE, 0x00, 0x0A];
    body.extend_from_slice(&[0x05, 0x11, 0x00, 0x00, 0x00, 0x0A]);
    body.extend_from_slice(&[0x00, 0x05, b'm', b'y', b'q', b't', b't']);
    // Will properties: Will Delay Interval 5, one user property ("k", "v").
    body.extend_from_slice(&[
        0x0C, 0x18, 0x00, 0x00, 0x00, 0x05, 0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v',
    ]);
    body.extend_from_slice(&[0x00, 0x06, b'w', b'i', b'l', b'l', b'/', b't']);
    body.extend_from_slice(&[0x00, 0x03, b'b', b'y', b'e']);
    body.extend_from_slice(&[0x00, 0x04, b'a', b's', b'p', b'l']);
    body.extend_from_slice(&[0x00, 0x04, b't', b'e', b's', b't']);
    let wire = frame(0x10, &body);

    let mut c = Connect::new(ProtocolVersion::V5, s("myqtt"));
    c.keep_alive = 10;
    c.properties.session_expiry_interval = Some(10);
    let mut will_props = WillProperties::default();
    will_props.will_delay_interval = Some(5);
    will_props
        .user_properties
        .push(UserProperty::new(s("k"), s("v")));
    c.will = Some(Will {
        topic: topic("will/t"),
        payload: Bytes::from_static(b"bye"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: will_props,
    });
    c.username = Some(s("aspl"));
    c.password = Some(Bytes::from_static(b"test"));
    both_ways(ProtocolVersion::V5, &wire, c.into());
}

/// MQTT 5.0 allows a password without a user name (§3.1.2.9), unlike 3.1.1 [MQTT-3.1.2-22].
#[test]
fn connect_v5_password_without_username() {
    let body = [
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
        b'p', b'w',
    ];
    let mut c = Connect::new(ProtocolVersion::V5, MqttString::empty());
    c.keep_alive = 0;
    c.password = Some(Bytes::from_static(b"pw"));
    both_ways(ProtocolVersion::V5, &frame(0x10, &body), c.into());
}

/// MQTT 3.1.1 §3.2 Figure 3.8-3.9: session present, return code 0.
/// [MQTT-3.2.2-2] [MQTT-3.2.2-3]
#[test]
fn connack_v311_session_present() {
    let ack = ConnAck {
        session_present: true,
        ..Default::default()
    };
    both_ways(
        ProtocolVersion::V3_1_1,
        &[0x20, 0x02, 0x01, 0x00],
        ack.into(),
    );
    let refused = ConnAck {
        reason_code: ReasonCode::NotAuthorized,
        ..Default::default()
    };
    both_ways(
        ProtocolVersion::V3_1_1,
        &[0x20, 0x02, 0x00, 0x05],
        refused.into(),
    );
}

/// MQTT 3.1 CONNACK: the first byte is unused, so session present is never set.
#[test]
fn connack_v31_has_no_session_present() {
    let ack = ConnAck {
        reason_code: ReasonCode::ClientIdentifierNotValid,
        ..Default::default()
    };
    both_ways(ProtocolVersion::V3_1, &[0x20, 0x02, 0x00, 0x02], ack.into());
}

/// MQTT 5.0 §3.2.2.3 CONNACK with properties.
/// [MQTT-3.2.2-6]
#[test]
fn connack_v5_with_properties() {
    let mut ack = ConnAck::default();
    ack.properties.receive_maximum = NonZeroU16::new(20);
    ack.properties.maximum_qos = Some(QoS::AtLeastOnce);
    ack.properties.assigned_client_identifier = Some(s("auto-1"));
    ack.properties.server_keep_alive = Some(30);
    let body = [
        0x00, 0x00, 0x11, 0x21, 0x00, 0x14, 0x24, 0x01, 0x12, 0x00, 0x06, b'a', b'u', b't', b'o',
        b'-', b'1', 0x13, 0x00, 0x1E,
    ];
    both_ways(ProtocolVersion::V5, &frame(0x20, &body), ack.into());
}

/// MQTT 3.1.1 §3.3.2 Figure 3.11: topic "a/b", packet identifier 10.
/// [MQTT-2.3.1-1] [MQTT-3.3.2-1] [MQTT-3.3.1-3]
#[test]
fn publish_v311_figure_3_11() {
    let mut p = Publish::new(topic("a/b"), Bytes::from_static(b"hi"));
    p.qos = QoS::AtLeastOnce;
    p.retain = true;
    p.packet_id = Some(pid(10));
    let body = [0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'h', b'i'];
    both_ways(
        ProtocolVersion::V3_1_1,
        &frame(0x33, &body),
        p.clone().into(),
    );
    both_ways(ProtocolVersion::V3_1, &frame(0x33, &body), p.into());
}

/// QoS 0 PUBLISH has no packet identifier; QoS 2 with DUP.
/// [MQTT-2.3.1-5] [MQTT-3.3.1-2]
#[test]
fn publish_v311_qos0_and_qos2_dup() {
    let p = Publish::new(topic("t"), Bytes::new());
    both_ways(
        ProtocolVersion::V3_1_1,
        &[0x30, 0x03, 0x00, 0x01, b't'],
        p.into(),
    );
    let mut p = Publish::new(topic("t"), Bytes::from_static(b"x"));
    p.qos = QoS::ExactlyOnce;
    p.dup = true;
    p.packet_id = Some(pid(0xFFFF));
    both_ways(
        ProtocolVersion::V3_1_1,
        &[0x3C, 0x06, 0x00, 0x01, b't', 0xFF, 0xFF, b'x'],
        p.into(),
    );
}

/// MQTT 5.0 §3.3.2 Figure 3-? : topic "a/b", packet id 10, no properties; then with a Topic
/// Alias and an empty topic (§3.3.2.3.4).
/// [MQTT-3.3.2-1] [MQTT-3.3.2-8]
#[test]
fn publish_v5_properties_and_topic_alias() {
    let mut p = Publish::new(topic("a/b"), Bytes::from_static(b"hi"));
    p.qos = QoS::AtLeastOnce;
    p.packet_id = Some(pid(10));
    let body = [0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, 0x00, b'h', b'i'];
    both_ways(ProtocolVersion::V5, &frame(0x32, &body), p.into());

    let mut p = Publish::new(TopicName::empty(), Bytes::from_static(b"hi"));
    p.properties.topic_alias = NonZeroU16::new(3);
    p.properties.message_expiry_interval = Some(60);
    p.properties.payload_format_indicator = Some(PayloadFormat::Utf8);
    p.properties.content_type = Some(s("text/plain"));
    p.properties.response_topic = Some(topic("r/1"));
    p.properties.correlation_data = Some(Bytes::from_static(&[1, 2]));
    p.properties.subscription_identifiers =
        vec![NonZeroU32::new(1).unwrap(), NonZeroU32::new(200).unwrap()];
    let mut body = vec![0x00, 0x00];
    let props: &[u8] = &[
        0x01, 0x01, // payload format indicator: UTF-8
        0x02, 0x00, 0x00, 0x00, 0x3C, // message expiry 60
        0x23, 0x00, 0x03, // topic alias 3
        0x08, 0x00, 0x03, b'r', b'/', b'1', // response topic
        0x09, 0x00, 0x02, 0x01, 0x02, // correlation data
        0x0B, 0x01, 0x0B, 0xC8, 0x01, // subscription identifiers 1 and 200
        0x03, 0x00, 0x0A, b't', b'e', b'x', b't', b'/', b'p', b'l', b'a', b'i', b'n',
    ];
    body.push(props.len() as u8);
    body.extend_from_slice(props);
    body.extend_from_slice(b"hi");
    both_ways(ProtocolVersion::V5, &frame(0x30, &body), p.into());
}

/// MQTT 3.1.1 §3.4-3.7: the four acknowledgments, remaining length 2.
/// [MQTT-3.6.1-1]
#[test]
fn publish_acks_v311() {
    let ack = PublishAck::new(pid(10));
    both_ways(
        ProtocolVersion::V3_1_1,
        &[0x40, 0x02, 0x00, 0x0A],
        Packet::PubAck(ack.clone()),
    );
    both_ways(
        ProtocolVersion::V3_1_1,
        &[0x50, 0x02, 0x00, 0x0A],
        Packet::PubRec(ack.clone()),
    );
    both_ways(
        ProtocolVersion::V3_1_1,
        &[0x62, 0x02, 0x00, 0x0A],
        Packet::PubRel(ack.clone()),
    );
    both_ways(
        ProtocolVersion::V3_1_1,
        &[0x70, 0x02, 0x00, 0x0A],
        Packet::PubComp(ack),
    );
}

/// MQTT 5.0 §3.4.2.1: Success without properties is sent with remaining length 2; a reason code
/// without properties with length 3; otherwise properties follow.
#[test]
fn publish_acks_v5_short_forms() {
    let ack = PublishAck::new(pid(10));
    both_ways(
        ProtocolVersion::V5,
        &[0x40, 0x02, 0x00, 0x0A],
        Packet::PubAck(ack.clone()),
    );
    let mut no_match = ack.clone();
    no_match.reason_code = ReasonCode::NoMatchingSubscribers;
    both_ways(
        ProtocolVersion::V5,
        &[0x50, 0x03, 0x00, 0x0A, 0x10],
        Packet::PubRec(no_match),
    );
    let mut not_found = ack;
    not_found.reason_code = ReasonCode::PacketIdentifierNotFound;
    not_found.properties.reason_string = Some(s("gone"));
    let wire = [
        0x62, 0x0B, 0x00, 0x0A, 0x92, 0x07, 0x1F, 0x00, 0x04, b'g', b'o', b'n', b'e',
    ];
    both_ways(ProtocolVersion::V5, &wire, Packet::PubRel(not_found));
    // A 5.0 receiver also accepts a reason code followed by an empty property block.
    let mut rx = BytesMut::from(&[0x40u8, 0x04, 0x00, 0x0A, 0x00, 0x00][..]);
    let p = Packet::decode(&mut rx, ProtocolVersion::V5, MAX).unwrap();
    assert_eq!(p, Packet::PubAck(PublishAck::new(pid(10))));
}

/// MQTT 3.1.1 §3.8.3 Figure 3.21 / §3.9.3 Figure 3.26: SUBSCRIBE "a/b" QoS 1 and "c/d" QoS 2,
/// SUBACK with granted QoS 0, QoS 2 and a failure.
/// [MQTT-3.8.1-1] [MQTT-3.8.3-1] [MQTT-3.9.3-1]
#[test]
fn subscribe_and_suback_v311_figures() {
    let sub = Subscribe {
        packet_id: pid(10),
        subscriptions: vec![
            Subscription::new(filter("a/b"), QoS::AtLeastOnce),
            Subscription::new(filter("c/d"), QoS::ExactlyOnce),
        ],
        properties: SubscribeProperties::default(),
    };
    let body = [
        0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x01, 0x00, 0x03, b'c', b'/', b'd', 0x02,
    ];
    both_ways(ProtocolVersion::V3_1_1, &frame(0x82, &body), sub.into());

    let ack = SubAck {
        packet_id: pid(10),
        reason_codes: vec![
            ReasonCode::GRANTED_QOS_0,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ],
        properties: AckProperties::default(),
    };
    both_ways(
        ProtocolVersion::V3_1_1,
        &[0x90, 0x05, 0x00, 0x0A, 0x00, 0x02, 0x80],
        ack.into(),
    );
}

/// MQTT 5.0 §3.8.3.1 subscription options and a Subscription Identifier.
/// [MQTT-3.8.3-1]
#[test]
fn subscribe_v5_options_and_identifier() {
    let mut sub = Subscribe {
        packet_id: pid(1),
        subscriptions: vec![Subscription {
            filter: filter("a/+"),
            options: SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            },
        }],
        properties: SubscribeProperties::default(),
    };
    sub.properties.subscription_identifier = NonZeroU32::new(16_384);
    let body = [
        0x00, 0x01, 0x04, 0x0B, 0x80, 0x80, 0x01, 0x00, 0x03, b'a', b'/', b'+', 0x2D,
    ];
    both_ways(ProtocolVersion::V5, &frame(0x82, &body), sub.into());
}

/// MQTT 3.1.1 §3.10.3 Figure 3.30 and §3.11: UNSUBSCRIBE "a/b", "c/d"; UNSUBACK with no payload.
/// [MQTT-3.10.1-1] [MQTT-3.10.3-2]
#[test]
fn unsubscribe_and_unsuback_v311() {
    let unsub = Unsubscribe {
        packet_id: pid(10),
        filters: vec![filter("a/b"), filter("c/d")],
        properties: UnsubscribeProperties::default(),
    };
    let body = [
        0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x03, b'c', b'/', b'd',
    ];
    both_ways(ProtocolVersion::V3_1_1, &frame(0xA2, &body), unsub.into());
    let ack = UnsubAck {
        packet_id: pid(10),
        reason_codes: vec![],
        properties: AckProperties::default(),
    };
    both_ways(
        ProtocolVersion::V3_1_1,
        &[0xB0, 0x02, 0x00, 0x0A],
        ack.into(),
    );
}

/// MQTT 5.0 §3.11.3: UNSUBACK carries one reason code per filter.
#[test]
fn unsuback_v5_reason_codes() {
    let ack = UnsubAck {
        packet_id: pid(7),
        reason_codes: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
        properties: AckProperties::default(),
    };
    both_ways(
        ProtocolVersion::V5,
        &[0xB0, 0x05, 0x00, 0x07, 0x00, 0x00, 0x11],
        ack.into(),
    );
}

/// MQTT 3.1.1 §3.12-3.14: PINGREQ, PINGRESP and DISCONNECT have no variable header.
/// [MQTT-3.12.4-1] [MQTT-3.14.1-1]
#[test]
fn ping_and_disconnect_v311() {
    both_ways(ProtocolVersion::V3_1_1, &[0xC0, 0x00], Packet::PingReq);
    both_ways(ProtocolVersion::V3_1_1, &[0xD0, 0x00], Packet::PingResp);
    both_ways(
        ProtocolVersion::V3_1_1,
        &[0xE0, 0x00],
        Disconnect::default().into(),
    );
}

/// MQTT 5.0 §3.14.2.1: normal disconnection may be sent with remaining length 0; other reasons
/// with their code and properties.
#[test]
fn disconnect_v5_reasons() {
    both_ways(
        ProtocolVersion::V5,
        &[0xE0, 0x00],
        Disconnect::default().into(),
    );
    both_ways(
        ProtocolVersion::V5,
        &[0xE0, 0x01, 0x8E],
        Disconnect::new(ReasonCode::SessionTakenOver).into(),
    );
    let mut d = Disconnect::new(ReasonCode::UseAnotherServer);
    d.properties.server_reference = Some(s("b:1883"));
    let wire = [
        0xE0, 0x0B, 0x9C, 0x09, 0x1C, 0x00, 0x06, b'b', b':', b'1', b'8', b'8', b'3',
    ];
    both_ways(ProtocolVersion::V5, &wire, d.into());
}

/// MQTT 5.0 §3.15: AUTH continuing an enhanced authentication exchange.
#[test]
fn auth_v5() {
    let mut a = Auth {
        reason_code: ReasonCode::ContinueAuthentication,
        ..Default::default()
    };
    a.properties.authentication_method = Some(s("SCRAM"));
    a.properties.authentication_data = Some(Bytes::from_static(&[0xAB]));
    let wire = [
        0xF0, 0x0E, 0x18, 0x0C, 0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M', 0x16, 0x00, 0x01,
        0xAB,
    ];
    both_ways(ProtocolVersion::V5, &wire, a.into());
    both_ways(ProtocolVersion::V5, &[0xF0, 0x00], Auth::default().into());
    assert_eq!(
        Packet::from(Auth::default()).encoded_len(ProtocolVersion::V3_1_1),
        Err(EncodeError::NotInVersion)
    );
}

/// MQTT 5.0 §3.15: the same packets decode when several arrive in one read, and a partial one
/// is reported as incomplete without consuming anything.
#[test]
fn stream_of_packets_and_partial_tail() {
    let mut rx = BytesMut::from(&[0xC0u8, 0x00, 0xD0, 0x00, 0x30, 0x05, 0x00][..]);
    assert_eq!(
        Packet::decode(&mut rx, ProtocolVersion::V3_1_1, MAX).unwrap(),
        Packet::PingReq
    );
    assert_eq!(
        Packet::decode(&mut rx, ProtocolVersion::V3_1_1, MAX).unwrap(),
        Packet::PingResp
    );
    assert_eq!(
        Packet::decode(&mut rx, ProtocolVersion::V3_1_1, MAX),
        Err(DecodeError::Incomplete { needed: 4 })
    );
    assert_eq!(rx.len(), 3, "incomplete decode leaves the buffer untouched");
}

/// Encoding refuses packets that break the rules instead of writing them.
/// [MQTT-2.3.1-1] [MQTT-2.3.1-5] [MQTT-3.3.1-2] [MQTT-3.8.3-3] [MQTT-3.10.3-2] [MQTT-3.1.2-22]
#[test]
fn encoding_refuses_invalid_packets() {
    let v = ProtocolVersion::V3_1_1;
    let mut p = Publish::new(topic("a"), Bytes::new());
    p.qos = QoS::AtLeastOnce;
    assert_eq!(
        Packet::from(p.clone()).encoded_len(v),
        Err(EncodeError::MissingPacketId)
    );
    p.qos = QoS::AtMostOnce;
    p.packet_id = Some(pid(1));
    assert_eq!(
        Packet::from(p.clone()).encoded_len(v),
        Err(EncodeError::UnexpectedPacketId)
    );
    p.packet_id = None;
    p.dup = true;
    assert_eq!(
        Packet::from(p).encoded_len(v),
        Err(EncodeError::DupWithQoS0)
    );
    let empty = Publish::new(TopicName::empty(), Bytes::new());
    assert_eq!(
        Packet::from(empty).encoded_len(ProtocolVersion::V5),
        Err(EncodeError::EmptyTopic)
    );
    let sub = Subscribe {
        packet_id: pid(1),
        subscriptions: vec![],
        properties: Default::default(),
    };
    assert_eq!(
        Packet::from(sub).encoded_len(v),
        Err(EncodeError::NoTopicFilters)
    );
    let unsub = Unsubscribe {
        packet_id: pid(1),
        filters: vec![],
        properties: Default::default(),
    };
    assert_eq!(
        Packet::from(unsub).encoded_len(v),
        Err(EncodeError::NoTopicFilters)
    );
    let mut c = Connect::new(v, s("id"));
    c.password = Some(Bytes::from_static(b"pw"));
    assert_eq!(
        Packet::from(c).encoded_len(v),
        Err(EncodeError::PasswordWithoutUsername)
    );
    let mut buf = [0u8; 3];
    assert_eq!(
        Packet::PingReq.encode(v, &mut buf[..1]),
        Err(EncodeError::BufferTooSmall { required: 2 })
    );
}

/// MQTT 3.1 defines DUP only for QoS > 0: a 3.1 receiver ignores it on QoS 0 instead of
/// keeping a packet that cannot be re-encoded (found by the `decode_v31` fuzz target).
/// 3.1.1 and 5.0 refuse it ([MQTT-3.3.1-2]).
#[test]
fn dup_on_qos0_is_ignored_in_v31_and_refused_later() {
    let wire = [0x38, 0x03, 0x00, 0x01, b't'];
    let mut rx = BytesMut::from(&wire[..]);
    let p = Packet::decode(&mut rx, ProtocolVersion::V3_1, MAX).unwrap();
    assert_eq!(p, Packet::Publish(Publish::new(topic("t"), Bytes::new())));
    let mut rx = BytesMut::from(&wire[..]);
    assert_eq!(
        Packet::decode(&mut rx, ProtocolVersion::V3_1_1, MAX),
        Err(DecodeError::Invalid(PacketError::DupWithQoS0))
    );
}
