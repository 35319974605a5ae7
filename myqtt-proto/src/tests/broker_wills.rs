//! Broker scenarios: wills and keepalive (MyQtt checklist test_08, test_09; MQTT 5.0 Will
//! Delay Interval).

use super::sim::*;
use crate::broker::{BrokerConfig, BrokerEvent};
use crate::client::ClientConfig;
use crate::codec::{ProtocolVersion, QoS, ReasonCode, Will, WillProperties};
use crate::topic::TopicName;

use ProtocolVersion::{V3_1_1, V5};

fn with_will(version: ProtocolVersion, id: &str, retain: bool, delay: Option<u32>) -> ClientConfig {
    let mut c = client_config(version, id);
    let mut properties = WillProperties::default();
    properties.will_delay_interval = delay;
    c.will = Some(Will {
        topic: TopicName::try_from("wills/gone").unwrap(),
        payload: bytes::Bytes::from_static(b"bye"),
        qos: QoS::AtLeastOnce,
        retain,
        properties,
    });
    c
}

/// Three connections; the one with a will is shut down without DISCONNECT: the others get the
/// will (MyQtt test_08). After a clean DISCONNECT they do not (test_09).
/// [MQTT-3.1.2-8] [MQTT-3.1.2-10] [MQTT-3.14.4-3]
#[test]
fn will_on_abrupt_close_not_on_disconnect() {
    for version in [V3_1_1, V5] {
        let mut sim = Sim::new(BrokerConfig::default());
        let a = sim.join(client_config(version, "a"));
        let b = sim.join(client_config(version, "b"));
        let w = sim.join(with_will(version, "w", false, None));
        sim.subscribe(a, &[sub("wills/#", QoS::AtLeastOnce)]);
        sim.subscribe(b, &[sub("wills/gone", QoS::AtMostOnce)]);
        sim.cut(w);
        for i in [a, b] {
            let got = sim.received(i);
            assert_eq!(got.len(), 1, "{version}");
            assert_eq!(got[0].payload.as_ref(), b"bye");
        }
        let w2 = sim.join(with_will(version, "w2", false, None));
        sim.clients[w2]
            .client
            .disconnect(sim.now, ReasonCode::Success);
        sim.run();
        assert!(
            sim.received(a).is_empty(),
            "{version}: no will after DISCONNECT"
        );
    }
}

/// Will Retain is honoured; 5.0 DISCONNECT with "Disconnect with Will Message" publishes it.
/// [MQTT-3.1.2-17] [MQTT-3.14.4-3]
#[test]
fn will_retain_and_disconnect_with_will_message() {
    let mut sim = Sim::new(BrokerConfig::default());
    let w = sim.join(with_will(V5, "w", true, None));
    sim.clients[w]
        .client
        .disconnect(sim.now, ReasonCode::DisconnectWithWillMessage);
    sim.run();
    assert_eq!(sim.broker.retained_topics("wills/#").len(), 1);
    let late = sim.join(client_config(V5, "late"));
    sim.subscribe(late, &[sub("wills/gone", QoS::AtLeastOnce)]);
    let got = sim.received(late);
    assert!(got.len() == 1 && got[0].retain);
}

/// MQTT 5.0 Will Delay Interval: reconnecting in time cancels the will; otherwise it is
/// published when the delay ends (or when the session ends, if sooner).
/// [MQTT-3.1.3-9]
#[test]
fn will_delay_is_cancelled_by_a_timely_reconnect() {
    let mut sim = Sim::new(BrokerConfig::default());
    let watcher = sim.join(client_config(V5, "watcher"));
    sim.subscribe(watcher, &[sub("wills/#", QoS::AtLeastOnce)]);
    let mut cfg = with_will(V5, "w", false, Some(30));
    cfg.clean_start = false;
    cfg.properties.session_expiry_interval = Some(3600);
    let w = sim.join(cfg);
    sim.cut(w);
    sim.advance(20_000);
    assert!(sim.received(watcher).is_empty());
    sim.connect(w);
    sim.advance(60_000);
    assert!(
        sim.received(watcher).is_empty(),
        "reconnected before the delay"
    );
    sim.cut(w);
    sim.advance(29_000);
    assert!(sim.received(watcher).is_empty());
    sim.advance(1_000);
    assert_eq!(sim.received(watcher).len(), 1);
    assert!(
        sim.broker_events
            .iter()
            .any(|e| matches!(e, BrokerEvent::WillPublished { client_id } if client_id == "w"))
    );

    // Session ending first publishes the will at once.
    let mut cfg = with_will(V5, "short", false, Some(300));
    cfg.properties.session_expiry_interval = Some(5);
    cfg.clean_start = false;
    let s = sim.join(cfg);
    sim.cut(s);
    sim.advance(5_000);
    assert_eq!(sim.received(watcher).len(), 1);
}

/// A client silent for one and a half keep-alive periods is disconnected and its will fires.
/// [MQTT-3.1.2-24]
#[test]
fn keepalive_expiry_closes_and_publishes_the_will() {
    let mut sim = Sim::new(BrokerConfig::default());
    let watcher = sim.join(client_config(V3_1_1, "watcher"));
    sim.subscribe(watcher, &[sub("wills/#", QoS::AtLeastOnce)]);
    let mut cfg = with_will(V3_1_1, "silent", false, None);
    cfg.keep_alive = 10;
    let s = sim.join(cfg);
    // The client stops talking: take it off the sim's timer loop by replacing its clock use.
    let conn = sim.clients[s].connection.take().unwrap();
    sim.advance(14_999);
    assert!(sim.received(watcher).is_empty());
    sim.advance(1);
    assert_eq!(sim.received(watcher).len(), 1);
    assert!(sim.broker_events.iter().any(|e| matches!(e, BrokerEvent::ConnectionClosed { connection, cause: crate::server::CloseCause::KeepAliveTimeout, .. } if *connection == conn)));
}
