//! Client transcripts: QoS 0/1/2 in both directions, flow control, limits, (un)subscribe.

use alloc::vec;
use alloc::vec::Vec;
use core::num::{NonZeroU16, NonZeroU32};

use super::scripted_server::*;
use crate::client::{ClientEvent, CloseReason, CommandError, PublishOutcome};
use crate::codec::*;
use crate::topic::TopicFilter;

fn published(token: crate::client::PublishToken, rc: ReasonCode) -> ClientEvent {
    ClientEvent::Published {
        token,
        outcome: PublishOutcome::Acknowledged(rc),
    }
}

/// QoS 0 completes when handed to the transport and carries no packet id.
/// [MQTT-2.3.1-5] [MQTT-4.3.1-1]
#[test]
fn qos0_publish_completes_at_once() {
    let mut s = Script::new(config(ProtocolVersion::V3_1_1));
    s.connect(false);
    let token = s
        .client
        .publish(s.now, message("a/b", b"hi", QoS::AtMostOnce))
        .unwrap();
    assert_eq!(
        s.sent(),
        vec![Packet::Publish(message("a/b", b"hi", QoS::AtMostOnce))]
    );
    assert_eq!(s.events(), vec![published(token, ReasonCode::Success)]);
}

/// QoS 1 outbound: PUBLISH with a fresh id, completed by PUBACK with its reason code.
/// [MQTT-4.3.2-1] [MQTT-2.3.1-2]
#[test]
fn qos1_publish_completes_on_puback() {
    let mut s = Script::new(config(ProtocolVersion::V5));
    s.connect(false);
    let token = s
        .client
        .publish(s.now, message("a", b"1", QoS::AtLeastOnce))
        .unwrap();
    let mut expected = message("a", b"1", QoS::AtLeastOnce);
    expected.packet_id = Some(pid(1));
    assert_eq!(s.sent(), vec![Packet::Publish(expected)]);
    assert!(s.events().is_empty());
    s.feed(Packet::PubAck(ack_with(
        1,
        ReasonCode::NoMatchingSubscribers,
    )));
    assert_eq!(
        s.events(),
        vec![published(token, ReasonCode::NoMatchingSubscribers)]
    );
    assert_eq!(s.client.packet_ids_in_use(), 0);
}

/// QoS 2 outbound: PUBLISH, PUBREC, PUBREL, PUBCOMP.
/// [MQTT-4.3.3-1] [MQTT-4.3.3-3] [MQTT-3.6.1-1]
#[test]
fn qos2_publish_handshake() {
    let mut s = Script::new(config(ProtocolVersion::V3_1_1));
    s.connect(false);
    let token = s
        .client
        .publish(s.now, message("a", b"2", QoS::ExactlyOnce))
        .unwrap();
    assert_eq!(s.sent().len(), 1);
    s.feed(Packet::PubRec(ack(1)));
    assert_eq!(s.sent(), vec![Packet::PubRel(ack(1))]);
    assert!(s.events().is_empty());
    s.feed(Packet::PubComp(ack(1)));
    assert_eq!(s.events(), vec![published(token, ReasonCode::Success)]);
}

/// A 5.0 PUBREC with an error code ends the exchange without PUBREL (MQTT 5.0 §4.3.3).
#[test]
fn qos2_refused_by_pubrec() {
    let mut s = Script::new(config(ProtocolVersion::V5));
    s.connect(false);
    let token = s
        .client
        .publish(s.now, message("a", b"2", QoS::ExactlyOnce))
        .unwrap();
    let _ = s.sent();
    s.feed(Packet::PubRec(ack_with(1, ReasonCode::QuotaExceeded)));
    assert!(s.sent().is_empty());
    assert_eq!(
        s.events(),
        vec![published(token, ReasonCode::QuotaExceeded)]
    );
}

/// QoS 1 and 2 inbound with automatic acks; a repeated QoS 2 PUBLISH before PUBREL is
/// acknowledged again but not delivered twice.
/// [MQTT-4.3.2-2] [MQTT-4.3.3-2] [MQTT-4.3.3-4]
#[test]
fn inbound_qos1_and_exactly_once_qos2() {
    let mut s = Script::new(config(ProtocolVersion::V3_1_1));
    s.connect(false);
    let mut m1 = message("in", b"one", QoS::AtLeastOnce);
    m1.packet_id = Some(pid(7));
    s.feed(m1.clone().into());
    assert_eq!(s.sent(), vec![Packet::PubAck(ack(7))]);
    assert_eq!(
        s.events(),
        vec![ClientEvent::Message {
            publish: m1,
            ack: None
        }]
    );

    let mut m2 = message("in", b"two", QoS::ExactlyOnce);
    m2.packet_id = Some(pid(8));
    s.feed(m2.clone().into());
    assert_eq!(s.sent(), vec![Packet::PubRec(ack(8))]);
    assert_eq!(s.events().len(), 1);
    let mut dup = m2.clone();
    dup.dup = true;
    s.feed(dup.into());
    assert_eq!(s.sent(), vec![Packet::PubRec(ack(8))]);
    assert!(s.events().is_empty(), "not delivered twice");
    s.feed(Packet::PubRel(ack(8)));
    assert_eq!(s.sent(), vec![Packet::PubComp(ack(8))]);
    // An unknown PUBREL is still completed (5.0 says 0x92).
    s.feed(Packet::PubRel(ack(9)));
    assert_eq!(s.sent(), vec![Packet::PubComp(ack(9))]);
}

/// Manual acks leave in the order the messages arrived, whatever order the application uses.
/// [MQTT-4.6.0-2] [MQTT-4.6.0-3]
#[test]
fn manual_acks_keep_arrival_order() {
    let mut cfg = config(ProtocolVersion::V3_1_1);
    cfg.manual_acks = true;
    let mut s = Script::new(cfg);
    s.connect(false);
    let mut handles = Vec::new();
    for (id, qos) in [
        (1, QoS::AtLeastOnce),
        (2, QoS::ExactlyOnce),
        (3, QoS::AtLeastOnce),
    ] {
        let mut m = message("m", b"x", qos);
        m.packet_id = Some(pid(id));
        s.feed(m.into());
        match &s.events()[..] {
            [ClientEvent::Message { ack: Some(h), .. }] => handles.push(*h),
            other => panic!("{other:?}"),
        }
    }
    assert!(s.sent().is_empty(), "nothing acknowledged yet");
    s.client.ack(s.now, handles[2]).unwrap();
    s.client.ack(s.now, handles[1]).unwrap();
    assert!(s.sent().is_empty(), "waiting for the first");
    s.client.ack(s.now, handles[0]).unwrap();
    assert_eq!(
        s.sent(),
        vec![
            Packet::PubAck(ack(1)),
            Packet::PubRec(ack(2)),
            Packet::PubAck(ack(3))
        ]
    );
    assert_eq!(
        s.client.ack(s.now, handles[0]),
        Err(CommandError::UnknownAck)
    );
}

/// The server's Receive Maximum bounds messages in flight; the rest wait in order.
/// [MQTT-3.3.4-7] [MQTT-3.3.4-8]
#[test]
fn receive_maximum_blocks_and_releases_in_order() {
    let mut s = Script::new(config(ProtocolVersion::V5));
    let mut connack = ConnAck::default();
    connack.properties.receive_maximum = NonZeroU16::new(2);
    s.connect_with(connack);
    let _ = s.events();
    let tokens: Vec<_> = (0..4)
        .map(|_| {
            s.client
                .publish(s.now, message("a", b"x", QoS::AtLeastOnce))
                .unwrap()
        })
        .collect();
    let ids = |packets: Vec<Packet>| -> Vec<u16> {
        packets
            .into_iter()
            .map(|p| match p {
                Packet::Publish(p) => p.packet_id.unwrap().get(),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(ids(s.sent()), vec![1, 2]);
    assert_eq!((s.client.inflight_len(), s.client.queued_len()), (2, 2));
    s.feed(Packet::PubAck(ack(1)));
    assert_eq!(ids(s.sent()), vec![3]);
    s.feed(Packet::PubAck(ack(2)));
    s.feed(Packet::PubAck(ack(3)));
    assert_eq!(ids(s.sent()), vec![4]);
    s.feed(Packet::PubAck(ack(4)));
    let done: Vec<_> = s
        .events()
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Published { token, .. } => Some(token),
            _ => None,
        })
        .collect();
    assert_eq!(done, tokens);
}

/// Limits the server announced are enforced on commands: Maximum Packet Size, Maximum QoS,
/// Retain Available, wildcard support; and the publish queue is bounded.
/// [MQTT-3.1.2-24] [MQTT-3.2.2-11] [MQTT-3.2.2-14]
#[test]
fn server_limits_refuse_commands() {
    let mut cfg = config(ProtocolVersion::V5);
    cfg.max_queued = 1;
    let mut s = Script::new(cfg);
    let mut connack = ConnAck::default();
    connack.properties.maximum_packet_size = NonZeroU32::new(32);
    connack.properties.maximum_qos = Some(QoS::AtLeastOnce);
    connack.properties.retain_available = Some(false);
    connack.properties.wildcard_subscription_available = Some(false);
    connack.properties.receive_maximum = NonZeroU16::new(1);
    s.connect_with(connack);
    let big = message("a", &[0u8; 40], QoS::AtMostOnce);
    assert_eq!(
        s.client.publish(s.now, big),
        Err(CommandError::PacketTooLarge)
    );
    assert_eq!(
        s.client.publish(s.now, message("a", b"", QoS::ExactlyOnce)),
        Err(CommandError::QoSNotSupported)
    );
    let mut retained = message("a", b"", QoS::AtMostOnce);
    retained.retain = true;
    assert_eq!(
        s.client.publish(s.now, retained),
        Err(CommandError::RetainNotSupported)
    );
    let sub = Subscription::new(TopicFilter::try_from("a/#").unwrap(), QoS::AtMostOnce);
    assert_eq!(
        s.client.subscribe(s.now, &[sub]),
        Err(CommandError::FeatureNotSupported)
    );
    let _ = s
        .client
        .publish(s.now, message("a", b"", QoS::AtLeastOnce))
        .unwrap();
    let _ = s
        .client
        .publish(s.now, message("a", b"", QoS::AtLeastOnce))
        .unwrap();
    assert_eq!(
        s.client.publish(s.now, message("a", b"", QoS::AtLeastOnce)),
        Err(CommandError::QueueFull)
    );
}

/// SUBSCRIBE with several filters and 5.0 options; SUBACK results per filter; UNSUBSCRIBE.
/// [MQTT-3.8.4-1] [MQTT-3.9.3-1] [MQTT-3.10.4-4] [MQTT-3.8.3-1]
#[test]
fn subscribe_and_unsubscribe_report_per_filter_results() {
    let mut s = Script::new(config(ProtocolVersion::V5));
    s.connect(false);
    let subs = vec![
        Subscription::new(TopicFilter::try_from("a/+").unwrap(), QoS::AtLeastOnce),
        Subscription {
            filter: TopicFilter::try_from("b/#").unwrap(),
            options: SubscriptionOptions {
                qos: QoS::ExactlyOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            },
        },
    ];
    let mut props = SubscribeProperties::default();
    props.subscription_identifier = NonZeroU32::new(42);
    let token = s
        .client
        .subscribe_with_properties(s.now, &subs, props.clone())
        .unwrap();
    assert_eq!(
        s.sent(),
        vec![Packet::Subscribe(Subscribe {
            packet_id: pid(1),
            subscriptions: subs,
            properties: props
        })]
    );
    let results = vec![ReasonCode::GrantedQoS1, ReasonCode::NotAuthorized];
    s.feed(
        SubAck {
            packet_id: pid(1),
            reason_codes: results.clone(),
            properties: Default::default(),
        }
        .into(),
    );
    assert_eq!(s.events(), vec![ClientEvent::Subscribed { token, results }]);

    let filters = [TopicFilter::try_from("a/+").unwrap()];
    let token = s.client.unsubscribe(s.now, &filters).unwrap();
    assert_eq!(s.sent().len(), 1);
    let results = vec![ReasonCode::Success];
    s.feed(
        UnsubAck {
            packet_id: pid(2),
            reason_codes: results.clone(),
            properties: Default::default(),
        }
        .into(),
    );
    assert_eq!(
        s.events(),
        vec![ClientEvent::Unsubscribed { token, results }]
    );
    // A SUBACK with the wrong number of codes is a violation.
    let _ = s
        .client
        .subscribe(
            s.now,
            &[Subscription::new(
                TopicFilter::try_from("x").unwrap(),
                QoS::AtMostOnce,
            )],
        )
        .unwrap();
    let _ = s.sent();
    s.feed(
        SubAck {
            packet_id: pid(3),
            reason_codes: vec![],
            properties: Default::default(),
        }
        .into(),
    );
    assert!(matches!(
        s.events().last(),
        Some(ClientEvent::Closed(CloseReason::ProtocolViolation { .. }))
    ));
}

/// The server must respect the client's Receive Maximum (5.0).
/// [MQTT-3.3.4-9]
#[test]
fn inbound_receive_maximum_exceeded() {
    let mut cfg = config(ProtocolVersion::V5);
    cfg.properties.receive_maximum = NonZeroU16::new(1);
    let mut s = Script::new(cfg);
    s.connect(false);
    for id in [1, 2] {
        let mut m = message("q", b"x", QoS::ExactlyOnce);
        m.packet_id = Some(pid(id));
        s.feed(m.into());
    }
    let sent = s.sent();
    assert_eq!(
        sent.last(),
        Some(&Packet::Disconnect(Disconnect::new(
            ReasonCode::ReceiveMaximumExceeded
        )))
    );
}

/// Packet ids are never reused while in flight, across publishes and subscribes.
/// [MQTT-2.3.1-2] [MQTT-2.2.1-3]
#[test]
fn packet_ids_are_unique_while_in_flight() {
    let mut s = Script::new(config(ProtocolVersion::V3_1_1));
    s.connect(false);
    let _ = s
        .client
        .publish(s.now, message("a", b"", QoS::AtLeastOnce))
        .unwrap();
    let _ = s
        .client
        .subscribe(
            s.now,
            &[Subscription::new(
                TopicFilter::try_from("a").unwrap(),
                QoS::AtMostOnce,
            )],
        )
        .unwrap();
    let _ = s
        .client
        .publish(s.now, message("a", b"", QoS::ExactlyOnce))
        .unwrap();
    let ids: Vec<u16> = s
        .sent()
        .iter()
        .map(|p| match p {
            Packet::Publish(p) => p.packet_id.unwrap().get(),
            Packet::Subscribe(sub) => sub.packet_id.get(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
    s.feed(Packet::PubAck(ack(1)));
    let _ = s
        .client
        .publish(s.now, message("a", b"", QoS::AtLeastOnce))
        .unwrap();
    match &s.sent()[..] {
        [Packet::Publish(p)] => assert_eq!(p.packet_id, Some(pid(4))),
        other => panic!("{other:?}"),
    }
}
