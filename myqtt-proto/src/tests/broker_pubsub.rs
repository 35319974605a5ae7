//! Broker scenarios: publish/subscribe, QoS, retained messages, fan-out (MyQtt checklist
//! test_02-04, test_12-13, test_17, test_17c, test_17d, adapted to the specifications).

use alloc::vec;
use alloc::vec::Vec;

use super::sim::*;
use crate::broker::BrokerConfig;
use crate::client::ClientEvent;
use crate::codec::{ProtocolVersion, QoS, ReasonCode};

use ProtocolVersion::{V3_1, V3_1_1, V5};

fn payloads(ps: &[crate::codec::Publish]) -> Vec<&[u8]> {
    ps.iter().map(|p| p.payload.as_ref()).collect()
}

/// Subscribe (exact, `+`, `#`) then publish: the message arrives with its topic and payload,
/// in every protocol version. (MyQtt test_03/03a/03b, test_12, test_13.)
/// [MQTT-3.3.4-1] [MQTT-3.8.4-6] [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.1-3]
#[test]
fn publish_reaches_exact_plus_and_hash_subscribers_at_every_qos() {
    for version in [V3_1, V3_1_1, V5] {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let mut sim = Sim::new(BrokerConfig::default());
            let exact = sim.join(client_config(version, "exact"));
            let plus = sim.join(client_config(version, "plus"));
            let hash = sim.join(client_config(version, "hash"));
            let other = sim.join(client_config(version, "other"));
            let publisher = sim.join(client_config(version, "pub"));
            sim.subscribe(exact, &[sub("myqtt/test", QoS::ExactlyOnce)]);
            sim.subscribe(plus, &[sub("myqtt/+", QoS::ExactlyOnce)]);
            sim.subscribe(hash, &[sub("myqtt/#", QoS::ExactlyOnce)]);
            sim.subscribe(other, &[sub("other/#", QoS::ExactlyOnce)]);
            sim.publish(publisher, msg("myqtt/test", b"hello", qos, false));
            for i in [exact, plus, hash] {
                let got = sim.received(i);
                assert_eq!(got.len(), 1, "{version} {qos:?} client {i}");
                assert_eq!(
                    (got[0].topic.as_str(), got[0].payload.as_ref(), got[0].qos),
                    ("myqtt/test", &b"hello"[..], qos)
                );
            }
            assert!(sim.received(other).is_empty());
            // The publisher's token completed, and every packet id was released.
            assert!(
                sim.events(publisher)
                    .iter()
                    .any(|e| matches!(e, ClientEvent::Published { .. }))
            );
            assert_eq!(sim.broker.inflight_len("exact"), Some(0));
            assert_eq!(sim.clients[publisher].client.packet_ids_in_use(), 0);
        }
    }
}

/// After UNSUBSCRIBE nothing arrives (MyQtt test_04/04a/04b).
/// [MQTT-3.10.4-1] [MQTT-3.10.4-4] [MQTT-3.10.4-5]
#[test]
fn unsubscribed_filters_receive_nothing() {
    let mut sim = Sim::new(BrokerConfig::default());
    let s = sim.join(client_config(V3_1_1, "s"));
    let p = sim.join(client_config(V3_1_1, "p"));
    let filters = ["a/b", "a/+", "a/#"];
    for f in filters {
        sim.subscribe(s, &[sub(f, QoS::AtLeastOnce)]);
    }
    let filters: Vec<_> = filters
        .iter()
        .map(|f| crate::topic::TopicFilter::try_from(*f).unwrap())
        .collect();
    let _ = sim.clients[s]
        .client
        .unsubscribe(sim.now, &filters)
        .unwrap();
    sim.run();
    assert!(
        sim.events(s)
            .iter()
            .any(|e| matches!(e, ClientEvent::Unsubscribed { .. }))
    );
    sim.publish(p, msg("a/b", b"x", QoS::AtLeastOnce, false));
    assert!(sim.received(s).is_empty());
    assert_eq!(sim.broker.subscriptions_of("s").map(|i| i.count()), Some(0));
}

/// QoS is downgraded to the granted one, never raised; overlapping subscriptions give one copy
/// with the highest QoS and, in 5.0, every subscription identifier.
/// [MQTT-3.8.4-6] [MQTT-3.3.5-1] [MQTT-3.3.4-3]
#[test]
fn qos_downgrade_and_overlapping_subscriptions() {
    let mut sim = Sim::new(BrokerConfig::default());
    let s = sim.join(client_config(V5, "s"));
    let p = sim.join(client_config(V5, "p"));
    let mut props = crate::codec::SubscribeProperties::default();
    props.subscription_identifier = core::num::NonZeroU32::new(7);
    let _ = sim.clients[s]
        .client
        .subscribe_with_properties(sim.now, &[sub("a/+", QoS::AtMostOnce)], props.clone())
        .unwrap();
    props.subscription_identifier = core::num::NonZeroU32::new(9);
    let _ = sim.clients[s]
        .client
        .subscribe_with_properties(sim.now, &[sub("a/#", QoS::AtLeastOnce)], props.clone())
        .unwrap();
    sim.run();
    sim.publish(p, msg("a/b", b"x", QoS::ExactlyOnce, false));
    let got = sim.received(s);
    assert_eq!(got.len(), 1, "one copy per session");
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
    let ids: Vec<u32> = got[0]
        .properties
        .subscription_identifiers
        .iter()
        .map(|n| n.get())
        .collect();
    assert_eq!(ids, vec![7, 9]);
    sim.publish(p, msg("a/c", b"y", QoS::AtMostOnce, false));
    assert_eq!(sim.received(s)[0].qos, QoS::AtMostOnce, "never raised");
}

/// A retained message reaches later subscribers (exact, `+`, `#`) after SUBACK with RETAIN set
/// and its QoS downgraded; live deliveries carry RETAIN 0; QoS 0 retained messages are kept
/// (MyQtt dropped them); an empty payload clears. (MyQtt test_17/17a/17b.)
/// [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8] [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11]
#[test]
fn retained_messages_for_later_subscribers() {
    let mut sim = Sim::new(BrokerConfig::default());
    let p = sim.join(client_config(V3_1_1, "p"));
    let live = sim.join(client_config(V3_1_1, "live"));
    sim.subscribe(live, &[sub("r/#", QoS::ExactlyOnce)]);
    sim.publish(p, msg("r/two", b"qos2", QoS::ExactlyOnce, true));
    sim.publish(p, msg("r/zero", b"qos0", QoS::AtMostOnce, true));
    let got = sim.received(live);
    assert_eq!(got.len(), 2);
    assert!(
        got.iter().all(|m| !m.retain),
        "live deliveries carry RETAIN 0"
    );
    for filter in ["r/two", "r/+", "r/#"] {
        let s = sim.join(client_config(V3_1_1, "late"));
        sim.subscribe(s, &[sub(filter, QoS::AtLeastOnce)]);
        let events = sim.events(s);
        let suback = events
            .iter()
            .position(|e| matches!(e, ClientEvent::Subscribed { .. }))
            .unwrap();
        let first_msg = events
            .iter()
            .position(|e| matches!(e, ClientEvent::Message { .. }))
            .unwrap();
        assert!(suback < first_msg, "retained messages follow the SUBACK");
        let msgs: Vec<_> = events
            .into_iter()
            .filter_map(|e| match e {
                ClientEvent::Message { publish, .. } => Some(publish),
                _ => None,
            })
            .collect();
        assert!(msgs.iter().all(|m| m.retain));
        let two = msgs.iter().find(|m| m.topic == "r/two").unwrap();
        assert_eq!(two.qos, QoS::AtLeastOnce, "downgraded to the granted QoS");
        if filter != "r/two" {
            assert!(
                msgs.iter()
                    .any(|m| m.topic == "r/zero" && m.payload.as_ref() == b"qos0"),
                "QoS 0 retained kept"
            );
        }
        sim.cut(s);
    }
    // Unrelated topic: nothing. Empty payload: cleared.
    let s = sim.join(client_config(V3_1_1, "unrelated"));
    sim.subscribe(s, &[sub("x/#", QoS::AtLeastOnce)]);
    assert!(sim.received(s).is_empty());
    sim.publish(p, msg("r/two", b"", QoS::AtLeastOnce, true));
    assert_eq!(sim.broker.retained_topics("r/#").len(), 1);
}

/// MQTT 5.0 Retain Handling 1/2 and Retain As Published.
/// [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-12] [MQTT-3.3.1-13]
#[test]
fn retain_handling_and_retain_as_published() {
    use crate::codec::{RetainHandling, SubscriptionOptions};
    let mut sim = Sim::new(BrokerConfig::default());
    let p = sim.join(client_config(V5, "p"));
    sim.publish(p, msg("t", b"kept", QoS::AtLeastOnce, true));
    let s = sim.join(client_config(V5, "s"));
    let mut opt = sub("t", QoS::AtLeastOnce);
    opt.options = SubscriptionOptions {
        retain_handling: RetainHandling::SendAtSubscribeIfNew,
        retain_as_published: true,
        ..opt.options
    };
    sim.subscribe(s, &[opt.clone()]);
    assert_eq!(sim.received(s).len(), 1);
    sim.subscribe(s, &[opt.clone()]);
    assert!(sim.received(s).is_empty(), "not new: no retained message");
    opt.options.retain_handling = RetainHandling::DoNotSend;
    let s2 = sim.join(client_config(V5, "s2"));
    sim.subscribe(s2, &[opt]);
    assert!(sim.received(s2).is_empty());
    sim.publish(p, msg("t", b"live", QoS::AtLeastOnce, true));
    assert!(
        sim.received(s).iter().all(|m| m.retain),
        "retain as published"
    );
}

/// Large payloads (64 KiB and 1 MiB - headers) with long topics at every QoS
/// (MyQtt test_17c).
#[test]
fn large_payloads_with_long_topics() {
    let mut config = BrokerConfig::default();
    config.max_packet_size = 2 * 1024 * 1024;
    config.max_topic_levels = 256;
    let mut sim = Sim::new(config);
    let mut cfg = client_config(V5, "s");
    cfg.max_incoming_packet_size = 2 * 1024 * 1024;
    let s = sim.join(cfg);
    let p = sim.join(client_config(V5, "p"));
    let topic: alloc::string::String = (0..200)
        .map(|i| alloc::format!("level{i}/"))
        .collect::<alloc::string::String>()
        + "end";
    sim.subscribe(s, &[sub(&topic, QoS::ExactlyOnce)]);
    for (size, qos) in [
        (16 * 1024 + 7, QoS::AtMostOnce),
        (64 * 1024, QoS::AtLeastOnce),
        (1_000_000, QoS::ExactlyOnce),
    ] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        sim.publish(p, msg(&topic, &payload, qos, false));
        let got = sim.received(s);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].payload.as_ref(), &payload[..]);
    }
}

/// Request/reply across three clients with QoS 2 and a ~21 KB reply (MyQtt test_17d).
/// [MQTT-3.3.2-15] [MQTT-3.3.2-16]
#[test]
fn request_reply_across_three_clients() {
    let mut sim = Sim::new(BrokerConfig::default());
    let requester = sim.join(client_config(V5, "requester"));
    let responder = sim.join(client_config(V5, "responder"));
    let observer = sim.join(client_config(V5, "observer"));
    sim.subscribe(requester, &[sub("reply/requester", QoS::ExactlyOnce)]);
    sim.subscribe(responder, &[sub("service/echo", QoS::ExactlyOnce)]);
    sim.subscribe(observer, &[sub("#", QoS::ExactlyOnce)]);
    let mut req = msg("service/echo", b"question", QoS::ExactlyOnce, false);
    req.properties.response_topic =
        Some(crate::topic::TopicName::try_from("reply/requester").unwrap());
    req.properties.correlation_data = Some(bytes::Bytes::from_static(b"c-17"));
    sim.publish(requester, req);
    let got = sim.received(responder);
    assert_eq!(got.len(), 1);
    let response_topic = got[0].properties.response_topic.clone().unwrap();
    let reply_payload = vec![b'r'; 21 * 1024];
    let mut reply = msg(
        response_topic.as_str(),
        &reply_payload,
        QoS::ExactlyOnce,
        false,
    );
    reply.properties.correlation_data = got[0].properties.correlation_data.clone();
    sim.publish(responder, reply);
    let answer = sim.received(requester);
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].payload.len(), 21 * 1024);
    assert_eq!(
        answer[0].properties.correlation_data.as_deref(),
        Some(&b"c-17"[..])
    );
    assert_eq!(payloads(&sim.received(observer)).len(), 2);
}

/// PUBACK says No matching subscribers in 5.0 when nobody got the message.
#[test]
fn puback_reports_no_matching_subscribers() {
    let mut sim = Sim::new(BrokerConfig::default());
    let p = sim.join(client_config(V5, "p"));
    sim.publish(p, msg("nobody/home", b"", QoS::AtLeastOnce, false));
    let events = sim.events(p);
    assert!(
        events.iter().any(|e| matches!(
            e,
            ClientEvent::Published {
                outcome: crate::client::PublishOutcome::Acknowledged(
                    ReasonCode::NoMatchingSubscribers
                ),
                ..
            }
        )),
        "{events:?}"
    );
}

/// A congested subscriber (its transport backed up) loses QoS 0 messages, reported as drops,
/// while QoS 1 still flows; once it catches up QoS 0 flows again. QoS 0 is "at most once"
/// (MQTT 3.1.1 §4.3.1, MQTT 5.0 §4.3.1): delivered zero or one time.
#[test]
fn a_congested_subscriber_loses_qos0_only() {
    use crate::broker::{BrokerEvent, DropReason};
    let mut sim = Sim::new(BrokerConfig::default());
    let s = sim.join(client_config(V3_1_1, "sub"));
    let p = sim.join(client_config(V3_1_1, "pub"));
    sim.subscribe(s, &[sub("t", QoS::AtLeastOnce)]);
    let conn = sim.clients[s].connection.unwrap();
    sim.broker.set_congested(conn, true);
    sim.publish(p, msg("t", b"q0-dropped", QoS::AtMostOnce, false));
    sim.publish(p, msg("t", b"q1-kept", QoS::AtLeastOnce, false));
    assert_eq!(payloads(&sim.received(s)), vec![&b"q1-kept"[..]]);
    let congested = |e: &BrokerEvent| {
        matches!(
            e,
            BrokerEvent::MessageDropped {
                reason: DropReason::Congested,
                ..
            }
        )
    };
    assert_eq!(sim.broker_events.iter().filter(|e| congested(e)).count(), 1);
    sim.broker.set_congested(conn, false);
    sim.publish(p, msg("t", b"q0-again", QoS::AtMostOnce, false));
    assert_eq!(payloads(&sim.received(s)), vec![&b"q0-again"[..]]);
}
