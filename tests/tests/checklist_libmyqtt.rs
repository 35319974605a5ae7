//! MyQtt's libMyQtt regression items (`test/myqtt-regression-client.c`, MYQTT.md §3.1) over
//! loopback sockets against the library server (`myqtt_tokio::server::Server`), with raw
//! packets where our client would hide the behaviour. See `tests/CHECKLIST.md`.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use myqtt_proto::codec::{Packet, PacketId, ProtocolVersion, PublishAck, QoS, ReasonCode};
use myqtt_tests::checklist::{
    Peer, connect, connect_packet, next, none_within, options, publish, start, within,
};
use myqtt_tokio::client::{ClientError, ReconnectPolicy};
use myqtt_tokio::server::{BrokerConfig, ConnectDecision, PublishDecision, Server};

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn ack(id: u16) -> PublishAck {
    PublishAck::new(PacketId::new(id).unwrap())
}

/// Completes the receiver side of `p`'s QoS handshake.
async fn acknowledge(peer: &mut Peer, p: &myqtt_proto::codec::Publish) {
    match p.qos {
        QoS::AtMostOnce => {}
        QoS::AtLeastOnce => {
            peer.send(Packet::PubAck(ack(p.packet_id.unwrap().get())))
                .await
        }
        QoS::ExactlyOnce => {
            let id = p.packet_id.unwrap().get();
            peer.send(Packet::PubRec(ack(id))).await;
            assert_eq!(peer.recv().await, Some(Packet::PubRel(ack(id))));
            peer.send(Packet::PubComp(ack(id))).await;
        }
    }
}

/// Publishes from a raw peer and completes the sender side of the handshake.
async fn publish_and_complete(peer: &mut Peer, topic: &str, payload: &[u8], qos: QoS, id: u16) {
    peer.send(publish(topic, payload, qos, id, false)).await;
    match qos {
        QoS::AtMostOnce => {}
        QoS::AtLeastOnce => assert_eq!(peer.recv().await, Some(Packet::PubAck(ack(id)))),
        QoS::ExactlyOnce => {
            assert_eq!(peer.recv().await, Some(Packet::PubRec(ack(id))));
            peer.send(Packet::PubRel(ack(id))).await;
            assert_eq!(peer.recv().await, Some(Packet::PubComp(ack(id))));
        }
    }
}

// MyQtt test_02a, test_03 / 03a / 03b, test_12 / 12a / 12b, test_13 / 13a / 13b
// [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-3.8.4-1] [MQTT-3.8.4-5] [MQTT-4.3.2-1] [MQTT-4.3.2-2]
// [MQTT-4.3.3-1] [MQTT-4.3.3-2] [MQTT-2.3.1-1] [MQTT-2.3.1-6]
/// Exact, `+` and `#` subscriptions each receive every QoS end to end, with the right topic
/// and payload; packet ids are released after each handshake, so reusing id 1 for the next
/// message is a new message, not a duplicate.
#[tokio::test]
async fn exact_plus_and_hash_subscriptions_receive_every_qos_and_release_packet_ids() {
    within(15, async {
        let (server, addr) = start(Server::builder()).await;
        let mut subs = Vec::new();
        for (i, filter) in ["myqtt/test", "myqtt/+", "myqtt/#"].into_iter().enumerate() {
            let mut sub = Peer::open(addr, V3).await;
            sub.connect(&format!("sub-{i}"), true).await;
            assert_eq!(
                sub.subscribe(1, &[(filter, QoS::ExactlyOnce)]).await,
                [ReasonCode::GrantedQoS2]
            );
            subs.push(sub);
        }
        let mut publisher = Peer::open(addr, V5).await;
        publisher.connect("publisher", true).await;
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for round in 0..2u8 {
                let payload = [b'0' + qos.as_u8(), round];
                // Same packet id every time: released after PUBACK / PUBCOMP.
                publish_and_complete(&mut publisher, "myqtt/test", &payload, qos, 1).await;
                for sub in &mut subs {
                    let p = sub.expect_publish().await;
                    assert_eq!(p.topic.as_str(), "myqtt/test");
                    assert_eq!(p.payload.as_ref(), payload);
                    assert_eq!(p.qos, qos);
                    assert!(!p.dup);
                    acknowledge(sub, &p).await;
                }
            }
        }
        for sub in &mut subs {
            sub.quiet(100).await;
        }
        server.shutdown().await;
    })
    .await;
}

// MyQtt test_04 / 04a / 04b
// [MQTT-3.10.4-1] [MQTT-3.10.4-2] [MQTT-3.10.4-4] [MQTT-3.10.4-5]
/// After UNSUBSCRIBE (exact / `+` / `#`), publishes reach nothing.
#[tokio::test]
async fn unsubscribed_filters_receive_nothing() {
    within(10, async {
        let (server, addr) = start(Server::builder()).await;
        let mut publisher = Peer::open(addr, V3).await;
        publisher.connect("publisher", true).await;
        for (i, filter) in ["myqtt/test", "myqtt/+", "myqtt/#"].into_iter().enumerate() {
            let mut sub = Peer::open(addr, V3).await;
            sub.connect(&format!("sub-{i}"), true).await;
            sub.subscribe(1, &[(filter, QoS::AtLeastOnce)]).await;
            publish_and_complete(&mut publisher, "myqtt/test", b"before", QoS::AtLeastOnce, 1)
                .await;
            let p = sub.expect_publish().await;
            assert_eq!(p.payload.as_ref(), b"before");
            acknowledge(&mut sub, &p).await;
            sub.unsubscribe(2, &[filter]).await;
            // UNSUBACK even for a filter that is not subscribed any more.
            sub.unsubscribe(3, &[filter]).await;
            publish_and_complete(&mut publisher, "myqtt/test", b"after", QoS::AtLeastOnce, 2).await;
            sub.quiet(300).await;
        }
        server.shutdown().await;
    })
    .await;
}

// MyQtt test_06 (adapted: a duplicate id takes the session over instead of being refused)
// [MQTT-3.1.4-2] [MQTT-3.1.3-6] [MQTT-3.1.3-8] [MQTT-3.2.2-2]
/// The server sees the client id; a second connection with the same id takes over (the first
/// is closed, 5.0: DISCONNECT "Session taken over"); an empty id gets an assigned one (5.0:
/// Assigned Client Identifier), and in 3.1.1 an empty id needs a clean session.
#[tokio::test]
async fn client_id_is_seen_duplicates_take_over_and_empty_ids_are_assigned() {
    within(10, async {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let (server, addr) = start(Server::builder().on_connect(move |info| {
            record.lock().unwrap().push(info.client_id.clone());
            async { ConnectDecision::Accept }
        }))
        .await;
        let mut first = Peer::open(addr, V5).await;
        assert_eq!(
            first.connect("test_06", true).await.reason_code,
            ReasonCode::Success
        );
        assert_eq!(seen.lock().unwrap().as_slice(), ["test_06"]);
        let mut second = Peer::open(addr, V5).await;
        assert_eq!(
            second.connect("test_06", true).await.reason_code,
            ReasonCode::Success
        );
        match first.recv().await {
            Some(Packet::Disconnect(d)) => {
                assert_eq!(d.reason_code, ReasonCode::SessionTakenOver);
            }
            other => panic!("expected DISCONNECT, got {other:?}"),
        }
        assert_eq!(first.recv().await, None);
        second.send(Packet::PingReq).await;
        assert_eq!(second.recv().await, Some(Packet::PingResp));

        // 5.0: an empty id is assigned and announced.
        let mut anonymous = Peer::open(addr, V5).await;
        let ack = anonymous.connect("", true).await;
        assert_eq!(ack.reason_code, ReasonCode::Success);
        let assigned = ack.properties.assigned_client_identifier.unwrap();
        assert!(!assigned.as_str().is_empty());
        assert_eq!(seen.lock().unwrap().last().unwrap(), assigned.as_str());
        // 3.1.1: accepted with a clean session, refused (0x02) without.
        let mut v3 = Peer::open(addr, V3).await;
        assert_eq!(v3.connect("", true).await.reason_code, ReasonCode::Success);
        let mut v3_persistent = Peer::open(addr, V3).await;
        assert_eq!(
            v3_persistent.connect("", false).await.reason_code,
            ReasonCode::ClientIdentifierNotValid
        );
        // Our client: an empty id also works.
        let client = connect(addr, options("", V5)).await.unwrap();
        client.ping().await.unwrap();
        client.close().await.unwrap();
        server.shutdown().await;
    })
    .await;
}

// MyQtt test_00_c (mkdir) mapped onto the store, and test_10 (100 subscriptions recovered)
// [MQTT-3.1.2-4] [MQTT-3.2.2-2]
/// Client ids that look like paths never become files: the store stays inside its directory;
/// a persistent session with 100 subscriptions is recovered after a server restart and every
/// subscription still receives.
#[tokio::test]
async fn client_ids_never_become_paths_and_100_subscriptions_survive_a_restart() {
    within(20, async {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("store");
        let ids = ["../escape/x", "/abs/path", "a\\b", "..", "test_10"];
        let (server, addr) = start(Server::builder().storage(&dir)).await;
        for (n, id) in ids.into_iter().enumerate() {
            let mut peer = Peer::open(addr, V3).await;
            assert!(!peer.connect(id, false).await.session_present);
            let filters: Vec<String> = (0..100).map(|i| format!("t10/{n}/{i}")).collect();
            let subs: Vec<(&str, QoS)> = filters
                .iter()
                .map(|f| (f.as_str(), QoS::AtLeastOnce))
                .collect();
            let codes = peer.subscribe(1, &subs).await;
            assert_eq!(codes, vec![ReasonCode::GrantedQoS1; 100]);
            peer.send(Packet::Disconnect(myqtt_proto::codec::Disconnect::new(
                ReasonCode::Success,
            )))
            .await;
        }
        server.shutdown().await;
        let entries: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, ["store"], "nothing outside the store directory");
        assert!(!std::path::Path::new("/abs/path").exists());

        let (server, addr) = start(Server::builder().storage(&dir)).await;
        let mut publisher = Peer::open(addr, V3).await;
        publisher.connect("publisher", true).await;
        for (n, id) in ids.into_iter().enumerate() {
            let mut peer = Peer::open(addr, V3).await;
            assert!(peer.connect(id, false).await.session_present, "{id}");
            for i in [0, 57, 99] {
                let topic = format!("t10/{n}/{i}");
                publish_and_complete(&mut publisher, &topic, id.as_bytes(), QoS::AtLeastOnce, 1)
                    .await;
                let p = peer.expect_publish().await;
                assert_eq!(
                    (p.topic.as_str(), p.payload.as_ref()),
                    (topic.as_str(), id.as_bytes())
                );
                acknowledge(&mut peer, &p).await;
            }
        }
        server.shutdown().await;
    })
    .await;
}

// MyQtt test_11 and test_24
// [MQTT-3.1.2-4] [MQTT-3.1.2-6] [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3]
/// A cs=0 session keeps `a`, `b`, `b/+`, `b/#` across reconnects without subscribing again
/// (session present = 1) and publishes reach them; reconnecting with cs=1 wipes them
/// (session present = 0), and a later cs=0 connection finds none.
#[tokio::test]
async fn persistent_session_keeps_subscriptions_until_a_clean_session_wipes_them() {
    within(10, async {
        let (server, addr) = start(Server::builder()).await;
        let mut publisher = Peer::open(addr, V3).await;
        publisher.connect("publisher", true).await;
        let mut peer = Peer::open(addr, V3).await;
        assert!(!peer.connect("test_24", false).await.session_present);
        let filters = ["a", "b", "b/+", "b/#"];
        let subs: Vec<(&str, QoS)> = filters.iter().map(|f| (*f, QoS::AtMostOnce)).collect();
        peer.subscribe(1, &subs).await;
        drop(peer);

        let mut peer = Peer::open(addr, V3).await;
        assert!(peer.connect("test_24", false).await.session_present);
        publish_and_complete(&mut publisher, "a", b"1", QoS::AtMostOnce, 0).await;
        assert_eq!(peer.expect_publish().await.topic.as_str(), "a");
        publish_and_complete(&mut publisher, "b/c", b"2", QoS::AtMostOnce, 0).await;
        // b/+ and b/# overlap: one or two copies [MQTT-3.3.5-1] allows either in 3.1.1.
        assert_eq!(peer.expect_publish().await.topic.as_str(), "b/c");
        let _ = peer.recv_within(200).await;
        drop(peer);

        let mut peer = Peer::open(addr, V3).await;
        assert!(!peer.connect("test_24", true).await.session_present);
        drop(peer);
        let mut peer = Peer::open(addr, V3).await;
        assert!(!peer.connect("test_24", false).await.session_present);
        publish_and_complete(&mut publisher, "a", b"3", QoS::AtMostOnce, 0).await;
        publish_and_complete(&mut publisher, "b/c", b"4", QoS::AtMostOnce, 0).await;
        peer.quiet(300).await;
        server.shutdown().await;
    })
    .await;
}

// MyQtt test_14 / 14a / 14b / 14c
// [MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-4.4.0-1]
/// Messages published by a client while the server is down wait in the client and are sent
/// when it reconnects to the restarted server; the subscribers' persistent sessions (`+` and
/// `#` filters) were loaded from storage at startup and receive them.
#[tokio::test]
async fn client_publishes_made_offline_reach_subscribers_restored_from_storage() {
    within(20, async {
        let dir = tempfile::tempdir().unwrap();
        let (server, addr) = start(Server::builder().storage(dir.path())).await;
        for (id, filter) in [("sub-plus", "q/+"), ("sub-hash", "q/#")] {
            let mut peer = Peer::open(addr, V3).await;
            peer.connect(id, false).await;
            peer.subscribe(1, &[(filter, QoS::AtLeastOnce)]).await;
        }
        let publisher = connect(
            addr,
            options("test_14", V3).reconnect(ReconnectPolicy::backoff(
                Duration::from_millis(50),
                Duration::from_millis(200),
            )),
        )
        .await
        .unwrap();
        server.shutdown().await;

        let mut pending = Vec::new();
        for i in 0..3 {
            let p = publisher.clone();
            pending.push(tokio::spawn(async move {
                p.publish(format!("q/{i}").as_str(), vec![i], QoS::AtLeastOnce, false)
                    .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            pending.iter().all(|t| !t.is_finished()),
            "queued while offline"
        );

        let server = Server::builder()
            .storage(dir.path())
            .listen(addr.to_string())
            .start()
            .await
            .unwrap();
        let mut subs = Vec::new();
        for id in ["sub-plus", "sub-hash"] {
            let mut peer = Peer::open(addr, V3).await;
            assert!(
                peer.connect(id, false).await.session_present,
                "{id} restored"
            );
            subs.push(peer);
        }
        for task in pending {
            assert!(!task.await.unwrap().unwrap().is_error());
        }
        for sub in &mut subs {
            let mut got = Vec::new();
            for _ in 0..3 {
                let p = sub.expect_publish().await;
                got.push(p.payload[0]);
                acknowledge(sub, &p).await;
            }
            got.sort_unstable();
            assert_eq!(got, [0, 1, 2]);
        }
        publisher.close().await.unwrap();
        server.shutdown().await;
    })
    .await;
}

// MyQtt test_15 / 15a / 15b
// [MQTT-3.1.2-5] [MQTT-4.3.2-1] [MQTT-4.3.3-1] [MQTT-4.4.0-1]
/// A persistent subscriber (exact / `+` / `#`) that is offline gets its QoS 1 and 2 messages
/// on reconnect, once: the next reconnect brings nothing. QoS 0 is queued only when the broker
/// is configured to (MyQtt always queued it; the spec leaves it to the server).
#[tokio::test]
async fn offline_messages_are_queued_and_delivered_once() {
    within(15, async {
        for queue_qos0 in [false, true] {
            let config = BrokerConfig {
                queue_qos0_offline: queue_qos0,
                ..BrokerConfig::default()
            };
            let (server, addr) = start(Server::builder().config(config)).await;
            let mut publisher = Peer::open(addr, V3).await;
            publisher.connect("publisher", true).await;
            for filter in ["off/line", "off/+", "off/#"] {
                let mut sub = Peer::open(addr, V3).await;
                sub.connect("test_15", true).await;
                drop(sub);
                let mut sub = Peer::open(addr, V3).await;
                sub.connect("test_15", false).await;
                sub.subscribe(1, &[(filter, QoS::ExactlyOnce)]).await;
                drop(sub);
                for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                    publish_and_complete(&mut publisher, "off/line", &[qos.as_u8()], qos, 1).await;
                }
                let mut sub = Peer::open(addr, V3).await;
                assert!(sub.connect("test_15", false).await.session_present);
                let mut got = Vec::new();
                let expected: &[u8] = if queue_qos0 { &[0, 1, 2] } else { &[1, 2] };
                for _ in expected {
                    let p = sub.expect_publish().await;
                    assert_eq!(p.qos.as_u8(), p.payload[0], "{filter}");
                    got.push(p.payload[0]);
                    acknowledge(&mut sub, &p).await;
                }
                assert_eq!(got, expected, "{filter}");
                sub.quiet(150).await;
                drop(sub);
                let mut sub = Peer::open(addr, V3).await;
                assert!(sub.connect("test_15", false).await.session_present);
                sub.quiet(200).await;
            }
            server.shutdown().await;
        }
    })
    .await;
}

// MyQtt test_16 (the retained store: set, replace, list with #, recover, release)
// [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8] [MQTT-3.3.1-10] [MQTT-3.3.1-11]
/// Retained messages are set and replaced per topic, listed by a `#` subscription, recovered
/// after a restart from storage, and released by an empty retained payload.
#[tokio::test]
async fn retained_messages_are_replaced_listed_recovered_and_released() {
    within(15, async {
        let dir = tempfile::tempdir().unwrap();
        let retained_under = |addr, id: &'static str| async move {
            let mut sub = Peer::open(addr, V3).await;
            sub.connect(id, true).await;
            sub.subscribe(1, &[("r/#", QoS::AtMostOnce)]).await;
            let mut got = Vec::new();
            while let Ok(Some(Packet::Publish(p))) = sub.recv_within(300).await {
                assert!(p.retain, "sent because of the new subscription");
                got.push((p.topic.as_str().to_owned(), p.payload.clone()));
            }
            got.sort();
            got
        };
        let (server, addr) = start(Server::builder().storage(dir.path())).await;
        let mut publisher = Peer::open(addr, V3).await;
        publisher.connect("publisher", true).await;
        for (topic, payload) in [("r/1", "one"), ("r/2", "two"), ("r/1", "uno")] {
            publisher
                .send(publish(
                    topic,
                    payload.as_bytes(),
                    QoS::AtLeastOnce,
                    1,
                    true,
                ))
                .await;
            assert_eq!(publisher.recv().await, Some(Packet::PubAck(ack(1))));
        }
        let expected = vec![
            ("r/1".to_owned(), Bytes::from_static(b"uno")),
            ("r/2".to_owned(), Bytes::from_static(b"two")),
        ];
        assert_eq!(retained_under(addr, "s1").await, expected);
        server.shutdown().await;

        let (server, addr) = start(Server::builder().storage(dir.path())).await;
        assert_eq!(retained_under(addr, "s2").await, expected, "recovered");
        let mut publisher = Peer::open(addr, V3).await;
        publisher.connect("publisher", true).await;
        publisher
            .send(publish("r/1", b"", QoS::AtLeastOnce, 1, true))
            .await;
        assert_eq!(publisher.recv().await, Some(Packet::PubAck(ack(1))));
        assert_eq!(retained_under(addr, "s3").await, expected[1..], "released");
        server.shutdown().await;
    })
    .await;
}

// MyQtt test_17 / 17a / 17b (adapted: QoS 0 retained messages are kept too)
// [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-7] [MQTT-3.3.1-8] [MQTT-3.3.1-9] [MQTT-3.8.4-3]
/// A retained message published at QoS 2 reaches later subscribers (exact / `+` / `#`) after
/// their SUBACK with RETAIN set, downgraded to the subscription's QoS, and not an unrelated
/// filter; live deliveries to existing subscriptions have RETAIN clear; a QoS 0 retained
/// message replaces and is kept.
#[tokio::test]
async fn retained_message_reaches_later_matching_subscribers() {
    within(15, async {
        let (server, addr) = start(Server::builder()).await;
        let mut publisher = Peer::open(addr, V3).await;
        publisher.connect("publisher", true).await;
        let mut live = Peer::open(addr, V3).await;
        live.connect("live", true).await;
        live.subscribe(1, &[("myqtt/retained/#", QoS::ExactlyOnce)])
            .await;
        publisher
            .send(publish(
                "myqtt/retained/x",
                b"kept",
                QoS::ExactlyOnce,
                1,
                true,
            ))
            .await;
        assert_eq!(publisher.recv().await, Some(Packet::PubRec(ack(1))));
        publisher.send(Packet::PubRel(ack(1))).await;
        assert_eq!(publisher.recv().await, Some(Packet::PubComp(ack(1))));
        let p = live.expect_publish().await;
        assert!(!p.retain, "live delivery has RETAIN clear");
        acknowledge(&mut live, &p).await;

        for (i, filter) in ["myqtt/retained/x", "myqtt/retained/+", "myqtt/#"]
            .into_iter()
            .enumerate()
        {
            let mut sub = Peer::open(addr, V3).await;
            sub.connect(&format!("later-{i}"), true).await;
            // SUBACK first, then the retained message [MQTT-3.8.4-1].
            sub.subscribe(1, &[(filter, QoS::AtLeastOnce)]).await;
            let p = sub.expect_publish().await;
            assert_eq!(
                (p.topic.as_str(), p.payload.as_ref(), p.retain, p.qos),
                ("myqtt/retained/x", &b"kept"[..], true, QoS::AtLeastOnce)
            );
            acknowledge(&mut sub, &p).await;
            // Subscribing again re-sends it [MQTT-3.8.4-3].
            sub.subscribe(2, &[(filter, QoS::AtMostOnce)]).await;
            assert!(sub.expect_publish().await.retain);
        }
        let mut unrelated = Peer::open(addr, V3).await;
        unrelated.connect("unrelated", true).await;
        unrelated
            .subscribe(1, &[("myqtt/other/+", QoS::AtLeastOnce)])
            .await;
        unrelated.quiet(200).await;

        // QoS 0 retained: replaces the QoS 2 one and is kept. The PINGRESP tells that the
        // server has handled the PUBLISH before it.
        publisher
            .send(publish(
                "myqtt/retained/x",
                b"zero",
                QoS::AtMostOnce,
                0,
                true,
            ))
            .await;
        publisher.send(Packet::PingReq).await;
        assert_eq!(publisher.recv().await, Some(Packet::PingResp));
        let mut sub = Peer::open(addr, V3).await;
        sub.connect("after-qos0", true).await;
        sub.subscribe(1, &[("myqtt/retained/x", QoS::ExactlyOnce)])
            .await;
        let p = sub.expect_publish().await;
        assert_eq!(
            (p.payload.as_ref(), p.retain, p.qos),
            (&b"zero"[..], true, QoS::AtMostOnce)
        );
        server.shutdown().await;
    })
    .await;
}

// MyQtt test_17c (large payloads, long topics)
// [MQTT-4.3.2-1] [MQTT-4.3.3-1] [MQTT-3.3.1-6]
/// Payloads of 16 KiB to 512 KiB on a topic of 1000+ bytes arrive intact at every QoS, live
/// and retained.
#[tokio::test]
async fn large_payloads_with_long_topics_arrive_intact() {
    within(20, async {
        let (server, addr) = start(Server::builder()).await;
        let long_topic = format!(
            "large/{}",
            ["segment-of-a-long-topic-name-for-myqtt"; 28].join("/")
        );
        assert!(long_topic.len() > 1000);
        let sub = connect(addr, options("large-sub", V5)).await.unwrap();
        let mut messages = sub.messages();
        sub.subscribe("large/#", QoS::ExactlyOnce).await.unwrap();
        let publisher = connect(addr, options("large-pub", V3)).await.unwrap();
        for (i, size) in [16 * 1024, 100_000, 512 * 1024].into_iter().enumerate() {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                for retain in [false, true] {
                    let payload: Vec<u8> = (0..size).map(|b| (b * 7 + i) as u8).collect();
                    publisher
                        .publish(long_topic.as_str(), payload.clone(), qos, retain)
                        .await
                        .unwrap();
                    let m = next(&mut messages).await;
                    assert_eq!(m.topic.as_str(), long_topic);
                    assert_eq!(m.qos, qos);
                    assert!(m.payload == payload, "payload of {size} bytes intact");
                }
            }
        }
        // The last one was retained (512 KiB, QoS 2): a later subscriber gets it whole.
        let late = connect(addr, options("late", V3)).await.unwrap();
        let mut late_messages = late.messages();
        late.subscribe(long_topic.as_str(), QoS::ExactlyOnce)
            .await
            .unwrap();
        let m = next(&mut late_messages).await;
        assert_eq!(m.payload.len(), 512 * 1024);
        assert!(m.retain);
        server.shutdown().await;
    })
    .await;
}

// MyQtt test_17d (request/reply across 3 connections, QoS 2, ~21 KB reply)
// [MQTT-4.3.3-1] [MQTT-4.3.3-2] [MQTT-4.6.0-6]
/// A requester, a responder and an observer: the request and a 21 KB reply travel at QoS 2
/// and each party sees exactly what it subscribed to, in order.
#[tokio::test]
async fn request_reply_across_three_connections_at_qos2() {
    within(15, async {
        let (server, addr) = start(Server::builder()).await;
        let requester = connect(addr, options("requester", V5)).await.unwrap();
        let responder = connect(addr, options("responder", V3)).await.unwrap();
        let observer = connect(addr, options("observer", V3)).await.unwrap();
        let mut replies = requester.messages();
        let mut requests = responder.messages();
        let mut observed = observer.messages();
        requester
            .subscribe("rr/reply/requester", QoS::ExactlyOnce)
            .await
            .unwrap();
        responder
            .subscribe("rr/request", QoS::ExactlyOnce)
            .await
            .unwrap();
        observer.subscribe("rr/#", QoS::ExactlyOnce).await.unwrap();
        let reply: Vec<u8> = (0..21_000u32).map(|i| (i % 251) as u8).collect();
        for round in 0..3u8 {
            requester
                .publish("rr/request", vec![round], QoS::ExactlyOnce, false)
                .await
                .unwrap();
            let req = next(&mut requests).await;
            assert_eq!(
                (req.payload.as_ref(), req.qos),
                (&[round][..], QoS::ExactlyOnce)
            );
            let mut answer = reply.clone();
            answer[0] = round;
            responder
                .publish(
                    "rr/reply/requester",
                    answer.clone(),
                    QoS::ExactlyOnce,
                    false,
                )
                .await
                .unwrap();
            let got = next(&mut replies).await;
            assert!(got.payload == answer);
            assert_eq!(got.qos, QoS::ExactlyOnce);
            let seen_req = next(&mut observed).await;
            let seen_reply = next(&mut observed).await;
            assert_eq!(seen_req.topic.as_str(), "rr/request");
            assert_eq!(seen_reply.topic.as_str(), "rr/reply/requester");
            assert_eq!(seen_reply.payload.len(), 21_000);
        }
        none_within(&mut replies, 100).await;
        none_within(&mut requests, 10).await;
        server.shutdown().await;
    })
    .await;
}

// MyQtt test_17e (reception when sockets return EWOULDBLOCK, i.e. partial reads)
// [MQTT-4.3.2-1]
/// Packets written one byte at a time (every read on the server side is partial), and several
/// packets in one write, are reassembled and answered in order.
#[tokio::test]
async fn packets_split_into_single_bytes_or_coalesced_are_processed_in_order() {
    within(15, async {
        let (server, addr) = start(Server::builder()).await;
        let mut sub = Peer::open(addr, V3).await;
        sub.connect("sub", true).await;
        sub.subscribe(1, &[("split/#", QoS::AtLeastOnce)]).await;

        let mut trickle = Peer::open(addr, V5).await;
        let mut bytes = trickle.encode(Packet::Connect(Box::new(connect_packet(
            V5, "trickle", true,
        ))));
        bytes.extend(trickle.encode(publish("split/a", &[7; 300], QoS::AtLeastOnce, 5, false)));
        bytes.extend(trickle.encode(Packet::PingReq));
        for b in &bytes {
            trickle.send_bytes(&[*b]).await;
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        assert!(matches!(trickle.recv().await, Some(Packet::ConnAck(a)) if a.reason_code == ReasonCode::Success));
        assert_eq!(trickle.recv().await, Some(Packet::PubAck(ack(5))));
        assert_eq!(trickle.recv().await, Some(Packet::PingResp));
        let p = sub.expect_publish().await;
        assert_eq!((p.topic.as_str(), p.payload.len()), ("split/a", 300));
        acknowledge(&mut sub, &p).await;

        // Three publishes and a ping in one write.
        let mut burst = Vec::new();
        for id in 1..=3u16 {
            burst.extend(trickle.encode(publish(
                "split/b",
                &id.to_be_bytes(),
                QoS::AtLeastOnce,
                id,
                false,
            )));
        }
        burst.extend(trickle.encode(Packet::PingReq));
        trickle.send_bytes(&burst).await;
        for id in 1..=3u16 {
            assert_eq!(trickle.recv().await, Some(Packet::PubAck(ack(id))));
        }
        assert_eq!(trickle.recv().await, Some(Packet::PingResp));
        for id in 1..=3u16 {
            let p = sub.expect_publish().await;
            assert_eq!(p.payload.as_ref(), id.to_be_bytes());
            acknowledge(&mut sub, &p).await;
        }
        server.shutdown().await;
    })
    .await;
}

// MyQtt test_17f (connection closed in the middle of onward delivery)
// [MQTT-3.1.2-4] [MQTT-4.4.0-1]
/// A subscriber that vanishes while a burst is being delivered to it harms nobody: the server
/// keeps serving, another subscriber gets every message, and the vanished persistent session
/// gets the undelivered QoS 1 messages when it comes back.
#[tokio::test]
async fn connection_closed_mid_delivery_harms_no_one() {
    within(20, async {
        let (server, addr) = start(Server::builder()).await;
        let steady = connect(addr, options("steady", V3)).await.unwrap();
        let mut steady_messages = steady.messages();
        steady.subscribe("burst", QoS::AtLeastOnce).await.unwrap();
        let mut victim = Peer::open(addr, V3).await;
        victim.connect("victim", false).await;
        victim.subscribe(1, &[("burst", QoS::AtLeastOnce)]).await;

        let publisher = connect(addr, options("burst-pub", V3)).await.unwrap();
        let payload = vec![0x5a; 10_000];
        let sender = tokio::spawn({
            let publisher = publisher.clone();
            async move {
                for i in 0..200u32 {
                    let mut p = payload.clone();
                    p[..4].copy_from_slice(&i.to_be_bytes());
                    publisher
                        .publish("burst", p, QoS::AtLeastOnce, false)
                        .await
                        .unwrap();
                }
            }
        });
        // Read a few, never acknowledge, then vanish mid-stream.
        for _ in 0..5 {
            victim.expect_publish().await;
        }
        victim.drop_socket();
        for i in 0..200u32 {
            let m = next(&mut steady_messages).await;
            assert_eq!(m.payload[..4], i.to_be_bytes(), "in order, none lost");
        }
        sender.await.unwrap();
        // The victim's session kept what it had not acknowledged.
        let mut back = Peer::open(addr, V3).await;
        assert!(back.connect("victim", false).await.session_present);
        let first = back.expect_publish().await;
        assert!(first.dup, "unacknowledged messages are resent with DUP");
        server.shutdown().await;
    })
    .await;
}

// MyQtt test_20 (adapted: binary WebSocket frames, the "mqtt" subprotocol)
// [MQTT-6.0.0-1] [MQTT-6.0.0-2] [MQTT-6.0.0-4]
/// MQTT over ws:// with a raw RFC 6455 client: the server selects `mqtt`, answers in binary
/// frames only, and pub/sub works between a ws and a tcp client; the `Host` header is the
/// server name the hooks see.
#[tokio::test]
async fn websocket_pub_sub_uses_binary_frames() {
    within(10, async {
        let names = Arc::new(Mutex::new(Vec::new()));
        let record = names.clone();
        let server = Server::builder()
            .on_connect(move |info| {
                record
                    .lock()
                    .unwrap()
                    .push((info.client_id.clone(), info.server_name.clone()));
                async { ConnectDecision::Accept }
            })
            .listen("127.0.0.1:0")
            .listen_ws("127.0.0.1:0")
            .start()
            .await
            .unwrap();
        let (tcp, ws) = (server.local_addrs()[0], server.local_addrs()[1]);
        let (mut sub, head) = Peer::open_ws(ws, "broker.test:1918", V3).await;
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-protocol: mqtt"),
            "{head}"
        );
        assert_eq!(
            sub.connect("ws-sub", true).await.reason_code,
            ReasonCode::Success
        );
        sub.subscribe(1, &[("ws/+", QoS::AtLeastOnce)]).await;
        let publisher = connect(tcp, options("tcp-pub", V5)).await.unwrap();
        publisher
            .publish("ws/x", vec![1u8; 70_000], QoS::AtLeastOnce, false)
            .await
            .unwrap();
        let p = sub.expect_publish().await;
        assert_eq!(p.payload.len(), 70_000);
        acknowledge(&mut sub, &p).await;
        sub.send(Packet::PingReq).await;
        assert_eq!(sub.recv().await, Some(Packet::PingResp));
        assert!(
            sub.frames.0 >= 4,
            "CONNACK, SUBACK, PUBLISH, PINGRESP in binary frames"
        );
        assert_eq!(sub.frames.1, 0, "no text frames");
        assert!(
            names
                .lock()
                .unwrap()
                .contains(&("ws-sub".to_owned(), Some("broker.test".to_owned())))
        );
        server.shutdown().await;
    })
    .await;
}

// MyQtt test_21 (the server closes right after a PUBLISH: publishes fail fast)
// [MQTT-4.8.0-1]
/// on_publish answers `close/conn` with Close: the connection ends without an acknowledgment,
/// and QoS 2, 1 and 0 publishes made afterwards fail within 2 s instead of hanging.
#[tokio::test]
async fn publishes_fail_fast_after_the_server_closes_the_connection() {
    within(15, async {
        let (server, addr) = start(Server::builder().on_publish(|_, p| {
            if p.topic.as_str() == "close/conn" {
                PublishDecision::Close
            } else {
                PublishDecision::Allow
            }
        }))
        .await;
        // Raw: no PUBACK, the socket closes.
        let mut raw = Peer::open(addr, V3).await;
        raw.connect("raw", true).await;
        raw.send(publish("close/conn", b"", QoS::AtLeastOnce, 1, false))
            .await;
        assert_eq!(raw.recv().await, None);

        for qos in [QoS::ExactlyOnce, QoS::AtLeastOnce, QoS::AtMostOnce] {
            let client = connect(addr, options("test_21", V3)).await.unwrap();
            let closing = client
                .publish("close/conn", Bytes::new(), QoS::AtLeastOnce, false)
                .await;
            assert!(
                closing.is_err(),
                "no PUBACK for the closing publish: {closing:?}"
            );
            let started = Instant::now();
            let result = client
                .with_timeout(Duration::from_secs(10))
                .publish("after/close", Bytes::new(), qos, false)
                .await;
            assert!(
                matches!(
                    result,
                    Err(ClientError::Closed
                        | ClientError::ConnectionLost
                        | ClientError::NotConnected)
                ),
                "{qos:?}: {result:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(2));
        }
        server.shutdown().await;
    })
    .await;
}
