//! Client transcripts: MQTT 5.0 topic aliases and properties passed through.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use bytes::Bytes;
use core::num::NonZeroU16;

use super::scripted_server::*;
use crate::client::{ClientEvent, CloseReason};
use crate::codec::*;
use crate::topic::TopicName;

/// Inbound aliases: a topic with an alias sets the mapping, an empty topic uses it; the
/// application always sees the full topic. Unknown and out-of-range aliases close the
/// connection with the spec's code.
/// [MQTT-3.3.2-10] [MQTT-3.3.2-11] [MQTT-3.3.2-12] [MQTT-3.2.2-17]
#[test]
fn inbound_topic_aliases() {
    let mut cfg = config(ProtocolVersion::V5);
    cfg.properties.topic_alias_maximum = Some(2);
    let mut s = Script::new(cfg);
    s.connect(false);
    let mut first = message("sensors/1", b"a", QoS::AtMostOnce);
    first.properties.topic_alias = NonZeroU16::new(1);
    s.feed(first.into());
    let mut second = Publish::new(TopicName::empty(), Bytes::from_static(b"b"));
    second.properties.topic_alias = NonZeroU16::new(1);
    s.feed(second.into());
    let topics: Vec<_> = s
        .events()
        .into_iter()
        .map(|e| match e {
            ClientEvent::Message { publish, .. } => (
                publish.topic.as_str().into(),
                publish.properties.topic_alias,
            ),
            other => panic!("{other:?}"),
        })
        .collect::<Vec<(String, _)>>();
    assert_eq!(
        topics,
        vec![("sensors/1".into(), None), ("sensors/1".into(), None)]
    );

    let mut unknown = Publish::new(TopicName::empty(), Bytes::new());
    unknown.properties.topic_alias = NonZeroU16::new(2);
    s.feed(unknown.into());
    assert_eq!(
        s.sent(),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::ProtocolError
        ))]
    );

    let mut s = Script::new(config(ProtocolVersion::V5));
    s.connect(false);
    let mut too_high = message("x", b"", QoS::AtMostOnce);
    too_high.properties.topic_alias = NonZeroU16::new(1);
    s.feed(too_high.into());
    assert_eq!(
        s.sent(),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::TopicAliasInvalid
        ))]
    );
    assert!(matches!(
        s.events()[..],
        [ClientEvent::Closed(CloseReason::ProtocolViolation {
            reason: ReasonCode::TopicAliasInvalid,
            ..
        })]
    ));
}

/// Outbound aliases are assigned up to the server's Topic Alias Maximum and reset per
/// connection; resends after reconnect carry the full topic.
/// [MQTT-3.3.2-7] [MQTT-3.3.2-9]
#[test]
fn outbound_topic_aliases_are_bounded_and_per_connection() {
    let mut cfg = config(ProtocolVersion::V5);
    cfg.auto_topic_alias = true;
    cfg.clean_start = false;
    let mut s = Script::new(cfg);
    let mut connack = ConnAck::default();
    connack.properties.topic_alias_maximum = Some(1);
    s.connect_with(connack.clone());
    let _ = s.events();
    for t in ["a/long/topic", "a/long/topic", "other"] {
        let _ = s
            .client
            .publish(s.now, message(t, b"", QoS::AtLeastOnce))
            .unwrap();
    }
    let wire: Vec<_> = s
        .sent()
        .into_iter()
        .map(|p| match p {
            Packet::Publish(p) => (
                String::from(p.topic.as_str()),
                p.properties.topic_alias.map(NonZeroU16::get),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        wire,
        vec![
            ("a/long/topic".into(), Some(1)),
            ("".into(), Some(1)),
            ("other".into(), None)
        ]
    );
    s.drop_transport();
    let _ = s.events();
    connack.session_present = true;
    s.connect_with(connack);
    // The new connection starts with no aliases: the first resend carries the full topic again
    // and sets the alias, the next uses it.
    let resent = s.sent();
    assert!(
        matches!(&resent[0], Packet::Publish(p) if p.topic == "a/long/topic" && p.dup
        && p.properties.topic_alias == NonZeroU16::new(1)),
        "{resent:?}"
    );
    assert!(
        matches!(&resent[1], Packet::Publish(p) if p.topic.is_empty() && p.dup),
        "{resent:?}"
    );
}

/// Message expiry, user properties, content type and request/response properties pass through
/// both ways untouched.
/// [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20]
#[test]
fn publish_properties_pass_through() {
    let mut s = Script::new(config(ProtocolVersion::V5));
    s.connect(false);
    let mut m = message("req", b"ping", QoS::AtLeastOnce);
    m.properties.message_expiry_interval = Some(30);
    m.properties.response_topic = Some(topic("resp/1"));
    m.properties.correlation_data = Some(Bytes::from_static(b"c-1"));
    m.properties.content_type = Some(MqttString::try_from("text/plain").unwrap());
    m.properties.payload_format_indicator = Some(PayloadFormat::Utf8);
    m.properties.user_properties.push(UserProperty::new(
        MqttString::try_from("a").unwrap(),
        MqttString::try_from("1").unwrap(),
    ));
    let _ = s.client.publish(s.now, m.clone()).unwrap();
    let mut expected = m.clone();
    expected.packet_id = Some(pid(1));
    assert_eq!(s.sent(), vec![Packet::Publish(expected.clone())]);
    expected.packet_id = Some(pid(77));
    s.feed(expected.clone().into());
    assert_eq!(
        s.events(),
        vec![ClientEvent::Message {
            publish: expected,
            ack: None
        }]
    );
}
