//! Broker scenarios: persistent sessions, offline queues, takeover, expiry, flow control
//! (MyQtt checklist test_06, test_11, test_14-15, test_24; MyQttD test_03a, test_10-10b).

use alloc::vec::Vec;
use core::num::NonZeroU16;

use super::sim::*;
use crate::broker::{BrokerConfig, BrokerEvent, DropReason, QueueFullPolicy, TakeoverPolicy};
use crate::client::{ClientEvent, CloseReason};
use crate::codec::{ProtocolVersion, QoS, ReasonCode};

use ProtocolVersion::{V3_1_1, V5};

/// A Clean Session 0 subscriber keeps its subscriptions across reconnects without subscribing
/// again; QoS 1/2 messages published while it is offline are queued, delivered once on
/// reconnect, and not again on the next one. QoS 0 is not queued by default.
/// (MyQtt test_11, test_15/15a/15b; MyQttD test_10a.)
/// [MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.2.2-2] [MQTT-4.4.0-1]
#[test]
fn persistent_session_queues_offline_messages_once() {
    for version in [V3_1_1, V5] {
        let mut sim = Sim::new(BrokerConfig::default());
        let s = sim.join(persistent(version, "sub"));
        let p = sim.join(client_config(version, "pub"));
        sim.subscribe(s, &[sub("q/+", QoS::ExactlyOnce)]);
        sim.cut(s);
        for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
            .into_iter()
            .enumerate()
        {
            sim.publish(p, msg("q/x", &[i as u8], qos, false));
        }
        assert_eq!(
            sim.broker.queued_len("sub"),
            Some(2),
            "{version}: QoS 0 not queued"
        );
        assert!(sim.reconnect(s), "{version}: session present");
        let events = sim.events(s);
        let got: Vec<u8> = events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Message { publish, .. } => Some(publish.payload[0]),
                _ => None,
            })
            .collect();
        assert_eq!(got, [1, 2]);
        sim.cut(s);
        sim.connect(s);
        assert!(sim.received(s).is_empty(), "{version}: delivered once");
        // Still subscribed without subscribing again.
        sim.publish(p, msg("q/y", b"live", QoS::AtLeastOnce, false));
        assert_eq!(sim.received(s).len(), 1);
    }
}

/// Optionally, QoS 0 is queued for offline sessions too (MQTT 3.1.1 §3.1.2.4 allows it).
#[test]
fn qos0_offline_queueing_is_configurable() {
    let mut config = BrokerConfig::default();
    config.queue_qos0_offline = true;
    let mut sim = Sim::new(config);
    let s = sim.join(persistent(V3_1_1, "sub"));
    let p = sim.join(client_config(V3_1_1, "pub"));
    sim.subscribe(s, &[sub("t", QoS::AtMostOnce)]);
    sim.cut(s);
    sim.publish(p, msg("t", b"zero", QoS::AtMostOnce, false));
    sim.connect(s);
    assert_eq!(sim.received(s).len(), 1);
}

/// A message in flight when the subscriber drops is resent with DUP on resume.
/// [MQTT-4.4.0-1] [MQTT-3.3.1-1]
#[test]
fn inflight_messages_are_resent_with_dup() {
    let mut sim = Sim::new(BrokerConfig::default());
    let mut cfg = persistent(V3_1_1, "sub");
    cfg.manual_acks = true;
    let s = sim.join(cfg);
    let p = sim.join(client_config(V3_1_1, "pub"));
    sim.subscribe(s, &[sub("t", QoS::AtLeastOnce)]);
    sim.publish(p, msg("t", b"once", QoS::AtLeastOnce, false));
    assert!(!sim.received(s)[0].dup);
    sim.cut(s);
    assert_eq!(sim.broker.inflight_len("sub"), Some(1));
    sim.connect(s);
    let again = sim.received(s);
    assert_eq!(again.len(), 1);
    assert!(again[0].dup);
}

/// Clean Session 1 wipes the stored session: subscriptions are gone afterwards
/// (MyQtt test_24, MyQttD test_10b).
/// [MQTT-3.1.2-6] [MQTT-3.2.2-1]
#[test]
fn clean_session_wipes_subscriptions() {
    let mut sim = Sim::new(BrokerConfig::default());
    let s = sim.join(persistent(V3_1_1, "c"));
    sim.subscribe(
        s,
        &[
            sub("a", QoS::AtMostOnce),
            sub("b", QoS::AtMostOnce),
            sub("b/+", QoS::AtMostOnce),
            sub("b/#", QoS::AtMostOnce),
        ],
    );
    sim.cut(s);
    assert_eq!(sim.broker.subscriptions_of("c").map(|i| i.count()), Some(4));
    sim.clients[s].client = crate::client::Client::new(client_config(V3_1_1, "c"));
    assert!(!sim.reconnect(s));
    sim.cut(s);
    assert!(
        sim.broker.subscriptions_of("c").is_none(),
        "clean session ends with the connection"
    );
    sim.clients[s].client = crate::client::Client::new(persistent(V3_1_1, "c"));
    assert!(!sim.reconnect(s));
    assert_eq!(sim.broker.subscriptions_of("c").map(|i| i.count()), Some(0));
}

/// A second connection with the same client id takes the session over; the first is closed
/// (5.0: DISCONNECT Session taken over). MyQtt's rejection is an opt-in policy.
/// (MyQtt test_06 adapted, MyQttD test_03a, test_10.)
/// [MQTT-3.1.4-2] [MQTT-3.1.4-3]
#[test]
fn session_takeover_and_the_reject_policy() {
    let mut sim = Sim::new(BrokerConfig::default());
    let first = sim.join(persistent(V5, "same"));
    sim.subscribe(first, &[sub("t", QoS::AtLeastOnce)]);
    let second = sim.add(persistent(V5, "same"));
    sim.connect(second);
    let first_events = sim.events(first);
    assert!(first_events.iter().any(|e| matches!(e, ClientEvent::Closed(CloseReason::ServerDisconnect(d)) if d.reason_code == ReasonCode::SessionTakenOver)), "{first_events:?}");
    assert!(matches!(
        sim.events(second).first(),
        Some(ClientEvent::Connected {
            session_present: true,
            ..
        })
    ));
    let p = sim.join(client_config(V5, "p"));
    sim.publish(p, msg("t", b"to the new one", QoS::AtLeastOnce, false));
    assert_eq!(sim.received(second).len(), 1);
    assert!(sim.received(first).is_empty());

    let mut config = BrokerConfig::default();
    config.takeover_policy = TakeoverPolicy::RejectNew;
    let mut sim = Sim::new(config);
    let first = sim.join(client_config(V3_1_1, "same"));
    let second = sim.add(client_config(V3_1_1, "same"));
    sim.connect(second);
    assert!(
        matches!(&sim.events(second)[..], [ClientEvent::Closed(CloseReason::Refused(a))] if a.reason_code == ReasonCode::ClientIdentifierNotValid)
    );
    assert!(sim.clients[first].client.is_connected());
    // After the first leaves without DISCONNECT the id is free again (MyQttD test_03a).
    sim.cut(first);
    sim.connect(second);
    assert!(sim.clients[second].client.is_connected());
}

/// MQTT 5.0 Session Expiry Interval: the session outlives the connection that long, then ends.
/// [MQTT-3.1.2-23] [MQTT-4.1.0-2]
#[test]
fn session_expiry_interval() {
    let mut sim = Sim::new(BrokerConfig::default());
    let mut cfg = persistent(V5, "exp");
    cfg.properties.session_expiry_interval = Some(10);
    let s = sim.join(cfg);
    sim.subscribe(s, &[sub("t", QoS::AtLeastOnce)]);
    sim.cut(s);
    sim.advance(9_000);
    assert!(sim.reconnect(s));
    sim.cut(s);
    sim.advance(10_000);
    assert_eq!(sim.broker.session_count(), 0);
    assert!(
        sim.broker_events
            .iter()
            .any(|e| matches!(e, BrokerEvent::SessionEnded { client_id } if client_id == "exp"))
    );
}

/// MQTT 5.0 Message Expiry Interval: expired queued messages are dropped; others carry the time
/// left.
/// [MQTT-3.3.2-5] [MQTT-3.3.2-6]
#[test]
fn message_expiry_in_offline_queues() {
    let mut sim = Sim::new(BrokerConfig::default());
    let s = sim.join(persistent(V5, "sub"));
    let p = sim.join(client_config(V5, "pub"));
    sim.subscribe(s, &[sub("t", QoS::AtLeastOnce)]);
    sim.cut(s);
    let mut short = msg("t", b"short", QoS::AtLeastOnce, false);
    short.properties.message_expiry_interval = Some(5);
    let mut long = msg("t", b"long", QoS::AtLeastOnce, false);
    long.properties.message_expiry_interval = Some(60);
    sim.publish(p, short);
    sim.publish(p, long);
    sim.advance(10_000);
    sim.connect(s);
    let got = sim.received(s);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload.as_ref(), b"long");
    assert_eq!(got[0].properties.message_expiry_interval, Some(50));
    assert!(sim.broker_events.iter().any(|e| matches!(
        e,
        BrokerEvent::MessageDropped {
            reason: DropReason::Expired,
            ..
        }
    )));
}

/// The offline queue is bounded; drops are reported.
#[test]
fn offline_queue_is_bounded_with_a_reported_drop_policy() {
    for policy in [QueueFullPolicy::DropNewest, QueueFullPolicy::DropOldest] {
        let mut config = BrokerConfig::default();
        config.max_queued_messages = 3;
        config.queue_full_policy = policy;
        let mut sim = Sim::new(config);
        let s = sim.join(persistent(V3_1_1, "sub"));
        let p = sim.join(client_config(V3_1_1, "pub"));
        sim.subscribe(s, &[sub("t", QoS::AtLeastOnce)]);
        sim.cut(s);
        for i in 0..5u8 {
            sim.publish(p, msg("t", &[i], QoS::AtLeastOnce, false));
        }
        assert_eq!(sim.broker.queued_len("sub"), Some(3));
        let drops = sim
            .broker_events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    BrokerEvent::MessageDropped {
                        reason: DropReason::QueueFull,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(drops, 2);
        sim.connect(s);
        let got: Vec<u8> = sim.received(s).iter().map(|m| m.payload[0]).collect();
        assert_eq!(
            got,
            if policy == QueueFullPolicy::DropNewest {
                [0, 1, 2]
            } else {
                [2, 3, 4]
            }
        );
    }
}

/// The broker respects the subscriber's Receive Maximum: no more QoS 1/2 in flight than it
/// allows, the rest waits in order.
/// [MQTT-3.3.4-7] [MQTT-3.3.4-8]
#[test]
fn receive_maximum_flow_control_towards_subscribers() {
    let mut sim = Sim::new(BrokerConfig::default());
    let mut cfg = client_config(V5, "slow");
    cfg.manual_acks = true;
    cfg.properties.receive_maximum = NonZeroU16::new(2);
    let s = sim.join(cfg);
    let p = sim.join(client_config(V5, "pub"));
    sim.subscribe(s, &[sub("t", QoS::AtLeastOnce)]);
    for i in 0..5u8 {
        sim.publish(p, msg("t", &[i], QoS::AtLeastOnce, false));
    }
    let first: Vec<_> = sim
        .events(s)
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Message { publish, ack } => Some((publish.payload[0], ack)),
            _ => None,
        })
        .collect();
    assert_eq!(first.iter().map(|m| m.0).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(sim.broker.queued_len("slow"), Some(3));
    let handle = first[0].1.unwrap();
    sim.clients[s].client.ack(sim.now, handle).unwrap();
    sim.run();
    let next: Vec<u8> = sim.received(s).iter().map(|m| m.payload[0]).collect();
    assert_eq!(next, [2]);
}
