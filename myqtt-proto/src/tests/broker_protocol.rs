//! Broker scenarios: protocol rules at the connection level, shared subscriptions and topic
//! aliases.

use alloc::vec::Vec;
use bytes::BytesMut;

use super::sim::*;
use crate::broker::{Broker, BrokerConfig, BrokerEvent, TransportInfo};
use crate::client::ClientEvent;
use crate::codec::{MqttString, Packet, ProtocolVersion, QoS, ReasonCode};
use crate::server::CloseCause;
use crate::time::{Duration, Instant};

use ProtocolVersion::{V3_1, V3_1_1, V5};

/// Feeds raw bytes on a fresh connection; returns what the broker answered and whether it
/// closed the connection.
fn raw(bytes: &[u8]) -> (Vec<u8>, bool, Vec<BrokerEvent>) {
    let mut broker = Broker::new(BrokerConfig::default());
    let now = Instant::ZERO;
    let id = broker
        .handle_connection_opened(now, TransportInfo::default())
        .unwrap();
    broker.handle_input(now, id, &mut BytesMut::from(bytes));
    let mut out = Vec::new();
    let _ = broker.poll_transmit(id, &mut out);
    let closed = broker.poll_close() == Some(id);
    let events = core::iter::from_fn(|| broker.poll_event()).collect();
    (out, closed, events)
}

/// [MQTT-3.1.0-1]: the first packet must be CONNECT; anything else closes the connection.
#[test]
fn first_packet_must_be_connect() {
    let (out, closed, _) = raw(&[0xC0, 0x00]);
    assert!(out.is_empty() && closed);
}

/// [MQTT-3.1.2-2]: an unsupported protocol level gets CONNACK 0x01 and the connection closes.
#[test]
fn unsupported_protocol_level_gets_connack_1() {
    let (out, closed, _) = raw(&[
        0x10, 0x0C, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x07, 0x02, 0x00, 0x3C, 0x00, 0x00,
    ]);
    assert_eq!(out, [0x20, 0x02, 0x00, 0x01]);
    assert!(closed);
}

/// [MQTT-3.1.3-8]: an empty client id with Clean Session 0 is refused in 3.1.1 (return code 2);
/// 5.0 assigns one and returns it ([MQTT-3.1.3-6] [MQTT-3.1.3-7]); 3.1 needs 1-23 characters.
#[test]
fn empty_and_long_client_identifiers() {
    let (out, closed, _) = raw(&[
        0x10, 0x0C, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x00, 0x00, 0x3C, 0x00, 0x00,
    ]);
    assert_eq!(out, [0x20, 0x02, 0x00, 0x02]);
    assert!(closed);

    let mut sim = Sim::new(BrokerConfig::default());
    let mut cfg = client_config(V5, "");
    cfg.client_id = MqttString::empty();
    let i = sim.join(cfg);
    let assigned = sim.clients[i].client.client_id().clone();
    assert!(assigned.starts_with("myqtt-"), "{assigned}");
    assert!(sim.broker.is_connected(&assigned));

    let long = sim.add(client_config(V3_1, "this-id-is-longer-than-23"));
    sim.connect(long);
    assert!(
        matches!(&sim.events(long)[..], [ClientEvent::Closed(crate::client::CloseReason::Refused(a))] if a.reason_code == ReasonCode::ClientIdentifierNotValid)
    );
}

/// [MQTT-3.1.0-2]: a second CONNECT is a protocol violation.
#[test]
fn second_connect_closes() {
    let connect = {
        let c = client_config(V3_1_1, "twice").connect_packet();
        Packet::Connect(alloc::boxed::Box::new(c))
            .to_bytes(V3_1_1)
            .unwrap()
    };
    let mut both = connect.to_vec();
    both.extend_from_slice(&connect);
    let (out, closed, events) = raw(&both);
    assert_eq!(
        &out[..4],
        [0x20, 0x02, 0x00, 0x00],
        "first CONNECT accepted"
    );
    assert!(closed);
    assert!(events.iter().any(|e| matches!(
        e,
        BrokerEvent::ConnectionClosed {
            cause: CloseCause::ProtocolViolation { .. },
            ..
        }
    )));
}

/// No CONNECT within the connect timeout: the connection is closed (slowloris).
#[test]
fn connect_timeout_closes_silent_connections() {
    let mut broker = Broker::new(BrokerConfig::default());
    let id = broker
        .handle_connection_opened(Instant::ZERO, TransportInfo::default())
        .unwrap();
    broker.handle_input(Instant::ZERO, id, &mut BytesMut::from(&[0x10u8, 0x20][..]));
    assert_eq!(
        broker.poll_timeout(),
        Some(Instant::ZERO + Duration::from_secs(10))
    );
    broker.handle_timeout(Instant::ZERO + Duration::from_secs(10));
    assert_eq!(broker.poll_close(), Some(id));
    broker.handle_closed(Instant::ZERO + Duration::from_secs(10), id);
    assert_eq!(broker.connection_count(), 0);
}

/// The connection limit refuses new transports.
#[test]
fn connection_limit() {
    let mut config = BrokerConfig::default();
    config.max_connections = 2;
    let mut broker = Broker::new(config);
    for _ in 0..2 {
        broker
            .handle_connection_opened(Instant::ZERO, TransportInfo::default())
            .unwrap();
    }
    assert!(
        broker
            .handle_connection_opened(Instant::ZERO, TransportInfo::default())
            .is_err()
    );
}

/// MQTT 5.0 §4.8.2: each message goes to one member of a share group, round robin among
/// connected members; non-shared subscribers get their own copy.
/// [MQTT-4.8.2-1] [MQTT-4.8.2-2]
#[test]
fn shared_subscriptions_round_robin_over_connected_members() {
    let mut sim = Sim::new(BrokerConfig::default());
    let a = sim.join(client_config(V5, "a"));
    let b = sim.join(client_config(V5, "b"));
    let solo = sim.join(client_config(V5, "solo"));
    let p = sim.join(client_config(V5, "p"));
    sim.subscribe(a, &[sub("$share/g/jobs/#", QoS::AtLeastOnce)]);
    sim.subscribe(b, &[sub("$share/g/jobs/#", QoS::AtLeastOnce)]);
    sim.subscribe(solo, &[sub("jobs/#", QoS::AtLeastOnce)]);
    for i in 0..4u8 {
        sim.publish(p, msg("jobs/x", &[i], QoS::AtLeastOnce, false));
    }
    let got_a: Vec<u8> = sim.received(a).iter().map(|m| m.payload[0]).collect();
    let got_b: Vec<u8> = sim.received(b).iter().map(|m| m.payload[0]).collect();
    assert_eq!(got_a.len() + got_b.len(), 4);
    assert_eq!(got_a.len(), 2);
    assert_eq!(sim.received(solo).len(), 4);
    // A disconnected member is skipped.
    sim.cut(b);
    for i in 4..6u8 {
        sim.publish(p, msg("jobs/x", &[i], QoS::AtLeastOnce, false));
    }
    assert_eq!(sim.received(a).len(), 2);
}

/// Topic aliases from a 5.0 client are resolved before routing; the broker's own aliases
/// towards a subscriber are bounded by the subscriber's maximum.
/// [MQTT-3.3.2-10] [MQTT-3.3.2-11]
#[test]
fn topic_aliases_both_ways() {
    let mut sim = Sim::new(BrokerConfig::default());
    let mut scfg = client_config(V5, "s");
    scfg.properties.topic_alias_maximum = Some(4);
    let s = sim.join(scfg);
    let mut pcfg = client_config(V5, "p");
    pcfg.auto_topic_alias = true;
    let p = sim.join(pcfg);
    sim.subscribe(s, &[sub("sensors/#", QoS::AtMostOnce)]);
    for _ in 0..3 {
        sim.publish(
            p,
            msg("sensors/kitchen/temperature", b"21", QoS::AtMostOnce, false),
        );
    }
    let got = sim.received(s);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|m| m.topic == "sensors/kitchen/temperature"));
}

/// A message above the subscriber's Maximum Packet Size is dropped for that subscriber only.
/// [MQTT-3.1.2-25]
#[test]
fn too_large_for_one_subscriber_is_dropped_for_it_only() {
    let mut sim = Sim::new(BrokerConfig::default());
    let mut small = client_config(V5, "small");
    small.properties.maximum_packet_size = core::num::NonZeroU32::new(64);
    let small = sim.join(small);
    let big = sim.join(client_config(V5, "big"));
    let p = sim.join(client_config(V5, "p"));
    sim.subscribe(small, &[sub("t", QoS::AtLeastOnce)]);
    sim.subscribe(big, &[sub("t", QoS::AtLeastOnce)]);
    sim.publish(p, msg("t", &[0u8; 200], QoS::AtLeastOnce, false));
    assert!(sim.received(small).is_empty());
    assert_eq!(sim.received(big).len(), 1);
    assert!(sim.broker_events.iter().any(|e| matches!(
        e,
        BrokerEvent::MessageDropped {
            reason: crate::broker::DropReason::TooLarge,
            ..
        }
    )));
    assert!(sim.clients[small].client.is_connected());
}

/// Clients may send packets right after CONNECT without waiting for CONNACK; the broker
/// processes them once the connection is accepted ([MQTT-3.1.4-5] 3.1.1 / [MQTT-3.1.4-6]).
#[test]
fn packets_pipelined_after_connect_are_processed_after_connack() {
    use crate::codec::{Subscribe, SubscribeProperties};
    let connect = Packet::Connect(alloc::boxed::Box::new(
        client_config(V3_1_1, "eager").connect_packet(),
    ));
    let subscribe = Packet::Subscribe(Subscribe {
        packet_id: crate::codec::PacketId::new(1).unwrap(),
        subscriptions: alloc::vec![sub("a", QoS::AtLeastOnce)],
        properties: SubscribeProperties::default(),
    });
    let mut wire = connect.to_bytes(V3_1_1).unwrap().to_vec();
    wire.extend_from_slice(&subscribe.to_bytes(V3_1_1).unwrap());
    wire.extend_from_slice(&[0xC0]); // half of a PINGREQ
    let mut broker = Broker::new(BrokerConfig::default());
    let id = broker
        .handle_connection_opened(Instant::ZERO, TransportInfo::default())
        .unwrap();
    broker.handle_input(Instant::ZERO, id, &mut BytesMut::from(&wire[..]));
    broker.handle_input(Instant::ZERO, id, &mut BytesMut::from(&[0x00u8][..]));
    let mut out = Vec::new();
    let _ = broker.poll_transmit(id, &mut out);
    assert_eq!(
        out,
        [
            0x20, 0x02, 0x00, 0x00, 0x90, 0x03, 0x00, 0x01, 0x01, 0xD0, 0x00
        ]
    );
}

/// The session limit refuses new client identifiers (Quota exceeded) but lets known ones
/// resume.
#[test]
fn session_limit_refuses_new_client_ids() {
    let mut config = BrokerConfig::default();
    config.max_sessions = 1;
    let mut sim = Sim::new(config);
    let mut persistent = client_config(V3_1_1, "kept");
    persistent.clean_start = false;
    let a = sim.join(persistent);
    let b = sim.add(client_config(V5, "new"));
    sim.connect(b);
    assert!(
        matches!(&sim.events(b)[..], [ClientEvent::Closed(crate::client::CloseReason::Refused(ack))] if ack.reason_code == ReasonCode::QuotaExceeded)
    );
    sim.cut(a);
    assert!(sim.reconnect(a), "a known session resumes");
}

/// Answers keep the order of requests: SUBSCRIBE then PINGREQ in one read get SUBACK then
/// PINGRESP.
/// [MQTT-3.12.4-1]
#[test]
fn answers_keep_the_order_of_requests() {
    use crate::codec::{Subscribe, SubscribeProperties};
    let mut broker = Broker::new(BrokerConfig::default());
    let id = broker
        .handle_connection_opened(Instant::ZERO, TransportInfo::default())
        .unwrap();
    let connect = Packet::Connect(alloc::boxed::Box::new(
        client_config(V3_1_1, "order").connect_packet(),
    ));
    broker.handle_input(
        Instant::ZERO,
        id,
        &mut BytesMut::from(&connect.to_bytes(V3_1_1).unwrap()[..]),
    );
    let mut out = Vec::new();
    let _ = broker.poll_transmit(id, &mut out);
    let subscribe = Packet::Subscribe(Subscribe {
        packet_id: crate::codec::PacketId::new(1).unwrap(),
        subscriptions: alloc::vec![sub("a", QoS::AtMostOnce)],
        properties: SubscribeProperties::default(),
    });
    let mut wire = subscribe.to_bytes(V3_1_1).unwrap().to_vec();
    wire.extend_from_slice(&[0xC0, 0x00]);
    broker.handle_input(Instant::ZERO, id, &mut BytesMut::from(&wire[..]));
    out.clear();
    let _ = broker.poll_transmit(id, &mut out);
    assert_eq!(out, [0x90, 0x03, 0x00, 0x01, 0x00, 0xD0, 0x00]);
}
