//! Broker scenarios: storage as data and restore after a restart (MyQtt test_10, test_14a,
//! test_16 storage checks, adapted: one store of operations instead of files).

use alloc::vec::Vec;

use super::sim::*;
use crate::broker::{Broker, BrokerConfig};
use crate::client::ClientEvent;
use crate::codec::{ProtocolVersion, QoS};
use crate::store::{SessionStore, StoreOp};

use ProtocolVersion::{V3_1_1, V5};

fn persisting() -> BrokerConfig {
    let mut c = BrokerConfig::default();
    c.persistence = true;
    c
}

/// Subscriptions, offline queues, in-flight messages and retained messages survive a broker
/// restart: the restored broker delivers what was queued, resends what was in flight with
/// DUP, and keeps the retained message (MyQtt test_14a "restores offline subscriptions at
/// startup", test_16 retained storage).
/// [MQTT-4.1.0-1] [MQTT-4.4.0-1] [MQTT-3.3.1-5]
#[test]
fn state_survives_a_restart() {
    for version in [V3_1_1, V5] {
        let mut sim = Sim::new(persisting());
        let mut cfg = persistent(version, "sub");
        cfg.manual_acks = true;
        let s = sim.join(cfg);
        let p = sim.join(persistent(version, "pub"));
        sim.subscribe(s, &[sub("t/+", QoS::ExactlyOnce)]);
        sim.publish(p, msg("t/inflight", b"in flight", QoS::AtLeastOnce, false));
        assert_eq!(sim.received(s).len(), 1, "sent, not acknowledged");
        sim.cut(s);
        sim.publish(p, msg("t/queued", b"queued", QoS::ExactlyOnce, false));
        sim.publish(p, msg("t/retained", b"kept", QoS::AtMostOnce, true));
        let stored = sim.store.snapshot().clone();
        assert!(stored.sessions.contains_key("sub"));
        assert_eq!(stored.sessions["sub"].queue.len(), 1, "{version}");
        assert_eq!(stored.sessions["sub"].inflight.len(), 1);
        assert_eq!(stored.retained.len(), 1);

        sim.restart(Broker::new(persisting()));
        assert_eq!(sim.broker.session_count(), 2);
        assert!(sim.reconnect(s), "{version}: session present after restart");
        let got: Vec<(bool, Vec<u8>)> = sim
            .received(s)
            .iter()
            .map(|m| (m.dup, m.payload.to_vec()))
            .collect();
        assert_eq!(
            got,
            [(true, b"in flight".to_vec()), (false, b"queued".to_vec())],
            "{version}"
        );
        let late = sim.join(client_config(version, "late"));
        sim.subscribe(late, &[sub("t/retained", QoS::AtMostOnce)]);
        assert_eq!(sim.received(late).len(), 1);
    }
}

/// A QoS 2 message received but not released before a crash is not routed twice when the
/// publisher resends it after the restart.
/// [MQTT-4.3.3-2] [MQTT-4.4.0-1]
#[test]
fn inbound_qos2_state_survives_a_restart() {
    let mut sim = Sim::new(persisting());
    let s = sim.join(persistent(V3_1_1, "sub"));
    let p = sim.join(persistent(V3_1_1, "pub"));
    sim.subscribe(s, &[sub("t", QoS::ExactlyOnce)]);
    // Let PUBLISH reach the broker but cut the publisher before PUBREL goes out: publish, then
    // feed only the publisher's bytes to the broker and drop the broker's answer.
    let _ = sim.clients[p]
        .client
        .publish(sim.now, msg("t", b"once", QoS::ExactlyOnce, false))
        .unwrap();
    let mut wire = Vec::new();
    let _ = sim.clients[p].client.poll_transmit(&mut wire);
    let conn = sim.clients[p].connection.unwrap();
    sim.broker
        .handle_input(sim.now, conn, &mut bytes::BytesMut::from(&wire[..]));
    // The store makes the batch durable (which releases the PUBREC), then the crash loses the
    // PUBREC on its way.
    let mut ops = Vec::new();
    let mark = sim.broker.poll_store_ops(&mut ops);
    sim.store.apply(&ops).unwrap();
    sim.broker.handle_store_durable(sim.now, mark);
    let mut lost_pubrec = Vec::new();
    let _ = sim.broker.poll_transmit(conn, &mut lost_pubrec);
    assert_eq!(
        lost_pubrec,
        [0x50, 0x02, 0x00, 0x01],
        "the PUBREC that the crash loses"
    );
    sim.run();
    assert_eq!(sim.received(s).len(), 1);
    assert!(sim.store.snapshot().sessions["pub"].inbound_qos2.len() == 1);
    sim.restart(Broker::new(persisting()));
    sim.connect(s);
    sim.connect(p); // resends the PUBLISH with DUP (no PUBREC was seen)
    assert!(sim.received(s).is_empty(), "not delivered twice");
    assert!(
        sim.events(p)
            .iter()
            .any(|e| matches!(e, ClientEvent::Published { .. }))
    );
    assert!(sim.store.snapshot().sessions["pub"].inbound_qos2.is_empty());
}

/// Without persistence no operation is emitted; clean sessions are never stored.
#[test]
fn only_persistent_state_is_stored() {
    let mut sim = Sim::new(BrokerConfig::default());
    let p = sim.join(persistent(V3_1_1, "p"));
    sim.publish(p, msg("r", b"x", QoS::AtMostOnce, true));
    assert!(sim.store.snapshot().sessions.is_empty() && sim.store.snapshot().retained.is_empty());

    let mut sim = Sim::new(persisting());
    let c = sim.join(client_config(V3_1_1, "clean"));
    sim.subscribe(c, &[sub("a", QoS::AtLeastOnce)]);
    assert!(sim.store.snapshot().sessions.is_empty());
    let mut ops = Vec::new();
    let _ = sim.broker.poll_store_ops(&mut ops);
    assert!(
        ops.iter()
            .all(|op| !matches!(op, StoreOp::Subscribe { .. }))
    );
    // Ending a persistent session removes it from the store.
    let s = sim.join(persistent(V3_1_1, "gone"));
    sim.subscribe(s, &[sub("a", QoS::AtLeastOnce)]);
    assert!(sim.store.snapshot().sessions.contains_key("gone"));
    sim.cut(s);
    sim.clients[s].client = crate::client::Client::new(client_config(V3_1_1, "gone"));
    sim.connect(s);
    sim.cut(s);
    assert!(!sim.store.snapshot().sessions.contains_key("gone"));
    assert!(sim.store.load().is_ok());
}

/// Durability::Strict: the publisher's PUBACK waits until the message is durable in the store;
/// a crash before that loses only messages nobody was told were delivered.
/// [MQTT-4.3.2-2] [MQTT-4.4.0-1]
#[test]
fn acknowledgments_wait_for_a_durable_store() {
    let mut sim = Sim::new(persisting());
    sim.store_durable = false;
    let s = sim.join(persistent(V3_1_1, "sub"));
    let p = sim.join(persistent(V3_1_1, "pub"));
    sim.subscribe(s, &[sub("t", QoS::AtLeastOnce)]);
    sim.flush_store();
    sim.cut(s);
    sim.flush_store();
    let _ = sim.events(p);
    sim.publish(p, msg("t", b"lost", QoS::AtLeastOnce, false));
    assert!(
        !sim.events(p)
            .iter()
            .any(|e| matches!(e, ClientEvent::Published { .. })),
        "no PUBACK before durability"
    );
    sim.restart_lossy(Broker::new(persisting()));
    sim.connect(p); // resends "lost" with DUP: the broker queues it again
    sim.flush_store();
    assert!(
        sim.events(p)
            .iter()
            .any(|e| matches!(e, ClientEvent::Published { .. })),
        "PUBACK once durable"
    );
    sim.publish(p, msg("t", b"second", QoS::AtLeastOnce, false));
    sim.flush_store();
    sim.restart(Broker::new(persisting()));
    sim.connect(s);
    let got: Vec<Vec<u8>> = sim.received(s).iter().map(|m| m.payload.to_vec()).collect();
    assert_eq!(
        got,
        [b"lost".to_vec(), b"second".to_vec()],
        "every acknowledged message survives"
    );
}

/// Acknowledgments held for a slow store count against the Receive Maximum: a client that
/// keeps publishing beyond it is disconnected (0x93) instead of growing the broker's memory.
/// [MQTT-3.3.4-9]
#[test]
fn held_acknowledgments_are_bounded_by_receive_maximum() {
    use crate::broker::TransportInfo;
    use crate::codec::{Packet, PacketId, Publish};
    use crate::time::Instant;
    use bytes::BytesMut;
    let mut config = persisting();
    config.receive_maximum = 2;
    let mut broker = Broker::new(config);
    let now = Instant::ZERO;
    let id = broker
        .handle_connection_opened(now, TransportInfo::default())
        .unwrap();
    let connect = Packet::Connect(alloc::boxed::Box::new(
        client_config(V5, "flood").connect_packet(),
    ));
    broker.handle_input(
        now,
        id,
        &mut BytesMut::from(&connect.to_bytes(V5).unwrap()[..]),
    );
    let mut out = Vec::new();
    let _ = broker.poll_transmit(id, &mut out);
    // Retained messages always produce store operations, so every PUBACK waits for the disk,
    // which never reports back here.
    for n in 1..=3u16 {
        let mut p = Publish::new(crate::topic::TopicName::try_from("r").unwrap(), &b"x"[..]);
        p.qos = QoS::AtLeastOnce;
        p.retain = true;
        p.packet_id = PacketId::new(n);
        broker.handle_input(
            now,
            id,
            &mut BytesMut::from(&Packet::Publish(p).to_bytes(V5).unwrap()[..]),
        );
    }
    out.clear();
    let _ = broker.poll_transmit(id, &mut out);
    assert_eq!(
        out,
        [0xE0, 0x01, 0x93],
        "no PUBACK yet, then DISCONNECT Receive Maximum exceeded"
    );
    assert_eq!(broker.poll_close(), Some(id));
}

/// Durability::Strict towards subscribers: a QoS 2 PUBLISH goes out only once its in-flight
/// record is durable, and PUBREL only once its release is. Otherwise a crash between the two
/// makes the restarted broker resend a message the subscriber has already completed and
/// forgotten, and it is delivered twice (found by killing myqttd with SIGKILL).
/// [MQTT-4.3.3-12] [MQTT-4.3.3-13] [MQTT-4.4.0-1]
#[test]
fn qos2_towards_a_live_subscriber_is_exactly_once_across_a_crash() {
    for version in [V3_1_1, V5] {
        let mut sim = Sim::new(persisting());
        sim.store_durable = false;
        let s = sim.join(persistent(version, "sub"));
        let p = sim.join(persistent(version, "pub"));
        sim.subscribe(s, &[sub("t", QoS::ExactlyOnce)]);
        sim.flush_store();
        sim.publish(p, msg("t", b"once", QoS::ExactlyOnce, false));
        assert!(
            sim.received(s).is_empty(),
            "{version}: the PUBLISH waits for its in-flight record"
        );
        // The batch commits: the PUBLISH goes out, the subscriber answers PUBREC, and the
        // broker stores the release; PUBREL waits for it.
        sim.flush_store();
        assert_eq!(sim.received(s).len(), 1, "{version}");
        sim.restart_lossy(Broker::new(persisting()));
        assert!(sim.reconnect(s), "{version}: session present");
        assert!(sim.reconnect(p), "{version}: session present");
        sim.flush_store();
        sim.advance(1_000);
        assert!(
            sim.received(s).is_empty(),
            "{version}: the resent PUBLISH is the same packet id, not a new delivery"
        );
        // The flow completes: nothing stays in flight (PUBREL waits for one batch, the
        // completion is stored by the next).
        sim.flush_store();
        sim.flush_store();
        assert_eq!(sim.broker.inflight_len("sub"), Some(0), "{version}");
        assert!(sim.store.snapshot().sessions["sub"].inflight.is_empty());
    }
}

/// Durability::Strict for subscriptions: SUBACK goes out once the subscription is durable, so
/// a crash cannot leave a client that was told "subscribed" with a resumed session that lost
/// the subscription (found by killing myqttd right after a SUBACK).
/// [MQTT-3.8.4-1] [MQTT-4.1.0-1]
#[test]
fn subscriptions_are_durable_before_suback() {
    for version in [V3_1_1, V5] {
        let mut sim = Sim::new(persisting());
        sim.store_durable = false;
        let s = sim.join(persistent(version, "sub"));
        sim.flush_store();
        let _ = sim.events(s);
        sim.subscribe(s, &[sub("t", QoS::AtLeastOnce)]);
        let subscribed = |events: &[ClientEvent]| {
            events
                .iter()
                .any(|e| matches!(e, ClientEvent::Subscribed { .. }))
        };
        assert!(!subscribed(&sim.events(s)), "{version}: no SUBACK yet");
        sim.flush_store();
        assert!(subscribed(&sim.events(s)), "{version}: SUBACK once durable");
        sim.restart_lossy(Broker::new(persisting()));
        assert!(sim.reconnect(s), "{version}");
        let p = sim.join(client_config(version, "pub"));
        sim.publish(p, msg("t", b"still subscribed", QoS::AtLeastOnce, false));
        sim.flush_store();
        assert_eq!(sim.received(s).len(), 1, "{version}");
    }
}
